"""Requirements of coordination tasks as ticks: the owner ticks them one by one in the task's thread
message, an executor reports them with its callback; the announcement shows each task's progress."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import Stack
from tests.e2e.executors import SECRET, Deployer
from tests.e2e.test_executors import deployer  # noqa: F401 - fixture
from tests.e2e.test_releases import REL, REQ, release, start, told

RELMGR = "U0APPROVE2"  # the owner of the preparation task
PREPARE = ["version bumped", "changelog generated", "tag created", "packages built"]
SCAN = ["no critical findings", "licences checked"]


@pytest.fixture
def tasks_stack(make_stack: Callable[..., Stack], deployer: Deployer, tmp_path: Path,  # noqa: F811
                monkeypatch: pytest.MonkeyPatch) -> Stack:
    """A bot whose policy asks the release manager to prepare and the deployer to scan."""
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET)
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({
        "executors": {"deployer": {"kind": "webhook", "url": deployer.url, "secret_env": "DEPLOYER_WEBHOOK_SECRET"}},
        "tasks": {"preparation": [{"name": "prepare", "title": "Prepare the release", "owner": RELMGR,
                                   "requirements": PREPARE}],
                  "pre_release": [{"name": "scan", "title": "Security scan", "owner": "deployer",
                                   "requirements": SCAN}]},
        "stages": [{"name": "dev", "label": "Development"},
                   {"name": "staging", "label": "Staging", "requires_tasks": ["preparation", "pre_release"]},
                   {"name": "canary", "label": "Canary", "production": True},
                   {"name": "production", "label": "Production", "production": True}],
    }))
    return make_stack(WARROOM_CONFIG=str(policy), WARROOM_PUBLIC_URL="http://bot.invalid")


def task_message(stack: Stack, announcement_ts: str) -> dict[str, Any]:
    """The task request in the release thread, as it stands now."""
    return stack.ws.wait_for(lambda: next((m for m in stack.ws.thread(REL, announcement_ts)
                                           if "Task: Prepare the release" in m["text"]), None),
                             what="the task request in the thread")


def boxes(message: dict[str, Any]) -> dict[str, bool]:
    """Each requirement checkbox of a message's blocks, and whether it shows ticked."""
    out = {}
    for block in message["blocks"]:
        for element in block.get("elements") or []:
            if element.get("type") == "checkboxes":
                ticked = {o["value"] for o in element.get("initial_options") or []}
                out.update({o["text"]["text"]: o["value"] in ticked for o in element["options"]})
    return out


def tick(stack: Stack, user: str, message: dict[str, Any], requirement: str, on: bool = True) -> None:
    """Click one checkbox as ``user``: Slack sends the element's whole selection after the click."""
    element = next(e for b in message["blocks"] for e in b.get("elements") or [] if e.get("type") == "checkboxes")
    shown = {o["value"] for o in element.get("initial_options") or []}
    value = next(o["value"] for o in element["options"] if o["text"]["text"] == requirement)
    selected = (shown | {value}) if on else (shown - {value})
    assert stack.ws.tick(user, REL, message["ts"], "task_tick", sorted(selected)).status_code == 200


def task_in_api(stack: Stack, version: str, name: str) -> dict[str, Any]:
    """A task of a release as the JSON API shows it."""
    return next(t for t in release(stack, version)["tasks"] if t["name"] == name)


def last_announcement_update(stack: Stack, ts: str) -> str:
    """The text of the blocks of the last chat.update of the announcement."""
    updates = [c for c in stack.ws.calls("chat.update") if c["ok"] and c["args"].get("ts") == ts]
    assert updates, "the announcement was never updated"
    return json.dumps(updates[-1]["args"]["blocks"], ensure_ascii=False)


def callback(url: str, token: str, body: Any) -> httpx.Response:
    """Call back as an executor does."""
    return httpx.post(url, headers={"Authorization": f"Bearer {token}"}, json=body, timeout=10)


def test_the_owner_ticks_requirements_one_by_one_and_the_announcement_shows_progress(tasks_stack: Stack) -> None:
    stack = tasks_stack
    announcement = start(stack, "v15.0.0 risk=low")
    ask = task_message(stack, announcement["ts"])
    assert boxes(ask) == dict.fromkeys(PREPARE, False)

    # Someone who is not the owner is told so, only them, and nothing is stored.
    tick(stack, REQ, ask, "version bumped")
    told(stack, REQ, "Only <@U0APPROVE2> may tick this task's requirements")
    stack.settle()
    assert task_in_api(stack, "v15.0.0", "prepare")["ticked"] == []
    assert boxes(task_message(stack, announcement["ts"])) == dict.fromkeys(PREPARE, False)

    tick(stack, RELMGR, ask, "version bumped")
    stack.settle()
    tick(stack, RELMGR, task_message(stack, announcement["ts"]), "tag created")
    stack.settle()
    assert task_in_api(stack, "v15.0.0", "prepare")["ticked"] == ["version bumped", "tag created"]
    shown = task_message(stack, announcement["ts"])
    assert boxes(shown) == {"version bumped": True, "changelog generated": False, "tag created": True,
                            "packages built": False}
    assert "☑ version bumped" in shown["text"] and "☐ changelog generated" in shown["text"]
    assert "Prepare the release (<@U0APPROVE2>) requested, 2/4 requirements" in \
        last_announcement_update(stack, announcement["ts"])
    assert task_in_api(stack, "v15.0.0", "prepare")["state"] == "requested"

    # Unticking works and is shown the same way.
    tick(stack, RELMGR, shown, "version bumped", on=False)
    stack.settle()
    assert task_in_api(stack, "v15.0.0", "prepare")["ticked"] == ["tag created"]
    assert "requested, 1/4 requirements" in last_announcement_update(stack, announcement["ts"])

    # Done with requirements unticked is allowed; the announcement says which.
    stack.ws.click(RELMGR, REL, ask["ts"], "task_done")
    stack.settle()
    assert task_in_api(stack, "v15.0.0", "prepare")["state"] == "done"
    assert ("done, 1/4 requirements (not ticked: version bumped, changelog generated, packages built)"
            in last_announcement_update(stack, announcement["ts"]))

    audit = stack.api("/api/releases/v15.0.0/audit").json()["audit"]
    ticks = [(e["actor"], e["action"], e["detail"]["requirement"]) for e in audit
             if e["action"] in ("task_ticked", "task_unticked")]
    assert ticks == [(RELMGR, "task_ticked", "version bumped"), (RELMGR, "task_ticked", "tag created"),
                     (RELMGR, "task_unticked", "version bumped")]


def test_ticking_the_last_requirement_leaves_done_to_the_owner(tasks_stack: Stack) -> None:
    stack = tasks_stack
    announcement = start(stack, "v15.1.0 risk=low")
    for requirement in PREPARE:
        tick(stack, RELMGR, task_message(stack, announcement["ts"]), requirement)
        stack.settle()
    assert task_in_api(stack, "v15.1.0", "prepare")["state"] == "requested"
    assert "requested, 4/4 requirements" in last_announcement_update(stack, announcement["ts"])
    assert "press *Done*" in json.dumps(task_message(stack, announcement["ts"])["blocks"])
    # The task still holds promotion until its owner says it is done.
    assert "Prepare the release (requested)" in stack.ws.command(REQ, REL, "/release", "promote v15.1.0").json()["text"]


def test_an_executor_reports_requirements_with_its_callback(tasks_stack: Stack, deployer: Deployer) -> None:  # noqa: F811
    stack = tasks_stack
    announcement = start(stack, "v15.2.0 risk=low")
    asked = stack.ws.wait_for(lambda: next((r["body"] for r in deployer.accepted()
                                            if r["body"]["type"] == "task.requested"), None), what="task.requested")
    url, token = asked["callback_url"], asked["callback_token"]

    answer = callback(url, token, {"requirements": {"no critical findings": True}})
    assert answer.status_code == 200 and answer.json()["state"] == "requested"
    stack.settle()
    assert task_in_api(stack, "v15.2.0", "scan")["ticked"] == ["no critical findings"]
    assert "Security scan (*deployer*) requested, 1/2 requirements" in \
        last_announcement_update(stack, announcement["ts"])

    # An unknown requirement is refused by name, and nothing of the report is applied.
    refused = callback(url, token, {"state": "done", "requirements": {"licences checked": True, "no criticals": True}})
    assert refused.status_code == 400 and "'no criticals'" in refused.json()["error"]
    scan = task_in_api(stack, "v15.2.0", "scan")
    assert (scan["state"], scan["ticked"]) == ("requested", ["no critical findings"])
    assert callback(url, token, {"requirements": {"no critical findings": "yes"}}).status_code == 400
    assert callback(url, "wrong", {"requirements": {"licences checked": True}}).status_code == 401

    done = callback(url, token, {"state": "done", "requirements": {"licences checked": True,
                                                                   "no critical findings": False}})
    assert done.status_code == 200 and done.json() == {"task_id": asked["task_id"], "state": "done"}
    stack.settle()
    scan = task_in_api(stack, "v15.2.0", "scan")
    assert (scan["state"], scan["ticked"]) == ("done", ["licences checked"])
    assert "Security scan (*deployer*) done, 1/2 requirements (not ticked: no critical findings)" in \
        last_announcement_update(stack, announcement["ts"])
    audit = stack.api("/api/releases/v15.2.0/audit").json()["audit"]
    reported = [(e["actor"], e["action"], e["detail"].get("requirement")) for e in audit
                if e["action"].startswith("task_")]
    assert reported == [("executor:deployer", "task_ticked", "no critical findings"),
            ("executor:deployer", "task_ticked", "licences checked"),
            ("executor:deployer", "task_unticked", "no critical findings"),
            ("executor:deployer", "task_done", None)]
