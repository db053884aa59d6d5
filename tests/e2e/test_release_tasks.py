"""Coordination tasks: starting a release asks each owner (a mention with the requirements and
buttons, or a task.requested webhook); the owners mark them; a phase's tasks gate promotion."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.e2e.conftest import Stack
from tests.e2e.executors import SECRET, Deployer, report
from tests.e2e.test_executors import deployer  # noqa: F401 - fixture
from tests.e2e.test_releases import REL, REQ, release, start, told

RELMGR = "U0APPROVE2"  # the release manager in this test


def test_tasks_are_requested_marked_and_gate_promotion(make_stack: Callable[..., Stack],
                                                       deployer: Deployer, tmp_path, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET)
    import yaml

    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({
        "executors": {"deployer": {"kind": "webhook", "url": deployer.url, "secret_env": "DEPLOYER_WEBHOOK_SECRET"}},
        "tasks": {
            "preparation": [{"name": "prepare", "title": "Prepare the release", "owner": RELMGR,
                             "requirements": ["version bumped", "changelog generated", "tag created"]}],
            "pre_release": [{"name": "scan", "title": "Security scan", "owner": "deployer",
                             "requirements": ["no critical findings"]}],
        },
        "stages": [{"name": "dev", "label": "Development"},
                   {"name": "staging", "label": "Staging", "requires_tasks": ["preparation", "pre_release"]},
                   {"name": "canary", "label": "Canary", "production": True},
                   {"name": "production", "label": "Production", "production": True}],
    }))
    stack = make_stack(WARROOM_CONFIG=str(policy), WARROOM_PUBLIC_URL="http://bot.invalid")
    msg = start(stack, "v14.0.0 risk=low")
    ask = stack.ws.wait_for(lambda: next((m for m in stack.ws.thread(REL, msg["ts"]) if "Task:" in m["text"]), None),
                            what="the task request in the thread")
    assert ask["text"].startswith(f":clipboard: To: <@{RELMGR}>. Task: Prepare the release (Preparation")
    assert "☐ version bumped" in ask["text"] and "☐ tag created" in ask["text"]
    scan = stack.ws.wait_for(deployer.accepted, what="the task.requested webhook")[0]
    assert scan["id"].startswith("msg_warroom_task_") and scan["verified"]
    body = scan["body"]
    assert (body["type"], body["phase"], body["name"], body["requirements"]) == (
        "task.requested", "pre_release", "scan", ["no critical findings"])
    assert body["callback_url"].endswith(f"/hooks/tasks/{body['task_id']}")

    resp = stack.ws.command(REQ, REL, "/release", "promote v14.0.0")
    assert "Staging waits for its tasks: Security scan (requested), Prepare the release (requested)" in \
        resp.json()["text"]
    # Only the owner may mark the task.
    stack.ws.click(REQ, REL, ask["ts"], "task_done")
    told(stack, REQ, "Only <@U0APPROVE2> may mark this task")
    stack.ws.click(RELMGR, REL, ask["ts"], "task_done")
    assert report(body["callback_url"], "wrong", "done").status_code == 401
    assert report(body["callback_url"], body["callback_token"], "blocked", note="scanner down").status_code == 200
    stack.settle()
    shown = json.dumps(stack.store.message(REL, msg["ts"])["blocks"])
    assert "Prepare the release" in shown and "done" in shown and "scanner down" in shown
    resp = stack.ws.command(REQ, REL, "/release", "promote v14.0.0")
    assert "Security scan (blocked)" in resp.json()["text"]
    assert report(body["callback_url"], body["callback_token"], "done").status_code == 200
    stack.ws.command(REQ, REL, "/release", "promote v14.0.0")
    body = release(stack, "v14.0.0")
    assert body["stage"] == "staging"
    assert [(t["name"], t["state"]) for t in body["tasks"]] == [("scan", "done"), ("prepare", "done")]

    # A release started through the API answers with the tasks it just requested.
    assert stack.runtime and stack.bot
    writer = stack.runtime.services.tokens.create("ci", ["releases:write"])
    made = httpx.post(stack.bot.url + "/api/releases", json={"version": "v14.1.0", "channel": REL, "risk": "low"},
                      headers={"Authorization": f"Bearer {writer}"}, timeout=10)
    assert made.status_code == 201
    assert [(t["name"], t["state"]) for t in made.json()["tasks"]] == [("scan", "requested"),
                                                                       ("prepare", "requested")]
