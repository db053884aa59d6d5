"""A hotfix that starts at a later stage (the policy's `hotfix_start_stage`) is deployed there as it
starts: recorded at once when the stage is manual, requested from the stage's executor otherwise,
and the delivery metrics count it when that stage is the last one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Stack
from tests.e2e.executors import SECRET, Deployer, report
from tests.e2e.test_executors import deployer, pump  # noqa: F401  (fixture)
from tests.e2e.test_releases import REL, REQ, block_text, release, start

# Three stages, the canary the last: a P1 hotfix starts right there.
STAGES = [{"name": "dev", "label": "Development"}, {"name": "staging", "label": "Staging"},
          {"name": "canary", "label": "Production canary 5%", "production": True}]


def policy(tmp_path: Path, canary: dict[str, Any], **extra: Any) -> str:
    """A policy file whose P1 hotfixes start at the canary, the last stage."""
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump({
        "stages": [*STAGES[:2], {**STAGES[2], **canary}],
        "severities": {"P1": {"label": "Major", "hotfix_start_stage": "canary"},
                       "P2": {"label": "Minor", "hotfix_start_stage": "staging"}}, **extra}), encoding="utf-8")
    return str(path)


def deployments(stack: Stack, version: str) -> list[tuple[str, str, str, str | None]]:
    """(stage, kind, state, executor) of each of the release's deployments."""
    return [(d["stage"], d["kind"], d["state"], d["executor"]) for d in release(stack, version)["deployments"]]


def test_a_manual_starting_stage_is_recorded_deployed_and_counted(make_stack: Callable[..., Stack],
                                                                  tmp_path: Path) -> None:
    stack = make_stack(WARROOM_CONFIG=policy(tmp_path, {}))
    msg = start(stack, "v40.0.1 type=hotfix severity=P1 risk=low")
    body = release(stack, "v40.0.1")
    assert (body["stage"], body["status"]) == ("canary", "completed")  # deployed to the last stage
    assert body["production_at"] is not None and body["finished_at"] is not None
    assert deployments(stack, "v40.0.1") == [("canary", "hotfix", "succeeded", None)]
    metrics = stack.api("/api/metrics").json()
    assert metrics["deployments"] == 1 and metrics["counts"]["changes"] == 1
    thread = " ".join(m["text"] for m in stack.ws.wait_for(lambda: stack.ws.thread(REL, msg["ts"])[2:],
                                                           what="the hotfix line"))
    assert "Hotfix: recorded as deployed to *Production canary 5%*, where it starts. The release is complete." \
        in thread

    # A hotfix starting at a stage before the last one is recorded there too, and still promotes.
    start(stack, "v40.0.2 type=hotfix severity=P2 risk=low")
    assert deployments(stack, "v40.0.2") == [("staging", "hotfix", "succeeded", None)]
    assert release(stack, "v40.0.2")["status"] == "active"
    assert "is now at" in stack.ws.command(REQ, REL, "/release", "promote v40.0.2").json()["text"]
    assert deployments(stack, "v40.0.2")[-1] == ("canary", "hotfix", "succeeded", None)
    assert stack.api("/api/metrics").json()["deployments"] == 2


def test_a_starting_stage_with_an_executor_is_requested_from_it(make_stack: Callable[..., Stack], tmp_path: Path,
                                                                deployer: Deployer,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET)
    executors = {"deployer": {"kind": "webhook", "url": deployer.url, "secret_env": "DEPLOYER_WEBHOOK_SECRET"}}
    stack = make_stack(WARROOM_CONFIG=policy(tmp_path, {"executor": "deployer"}, executors=executors),
                       WARROOM_PUBLIC_URL="http://bot.invalid")
    msg = start(stack, "v41.0.1 type=hotfix severity=P1 risk=low service=shop")
    body = release(stack, "v41.0.1")
    # Like a promotion: the release waits one stage before until the executor reports success.
    assert (body["stage"], body["status"]) == ("staging", "active")
    assert deployments(stack, "v41.0.1") == [("canary", "hotfix", "requested", "deployer")]
    request = pump(stack, deployer.accepted, what="the deploy request")[0]["body"]
    assert (request["type"], request["stage"], request["release"]["type"]) == ("deploy.requested", "canary", "hotfix")
    stack.settle()
    assert "deploying to Production canary 5%" in block_text(stack.store.message(REL, msg["ts"]))
    assert "Hotfix: deploying straight to *Production canary 5%*, requested from *deployer*" in " ".join(
        m["text"] for m in stack.ws.thread(REL, msg["ts"]))
    promote = stack.ws.command(REQ, REL, "/release", "promote v41.0.1").json()["text"]
    assert "waiting for *deployer*" in promote
    assert stack.api("/api/metrics").json()["deployments"] == 0  # not deployed yet

    assert report(request["callback_url"], request["callback_token"], "succeeded").status_code == 200
    body = release(stack, "v41.0.1")
    assert (body["stage"], body["status"]) == ("canary", "completed")
    assert deployments(stack, "v41.0.1") == [("canary", "hotfix", "succeeded", "deployer")]
    assert stack.api("/api/metrics").json()["deployments"] == 1
