"""A firing alert on a canary deployed by an executor asks that executor for the rollback itself
(issue 7's delegated rollback, issue 8's automatic one): recorded as automatic, and the release
is rolled back when the executor confirms."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.executors import SECRET, Deployer, report, write_policy
from tests.e2e.test_executors import pump
from tests.e2e.test_releases import REL, REQ, release, start
from tests.hooks.conftest import ALERTMANAGER_TOKEN, alertmanager, payload, processed


@pytest.fixture
def deployer() -> Iterator[Deployer]:
    """A running loopback deployer."""
    d = Deployer().start()
    yield d
    d.stop()


@pytest.fixture
def canary_by_executor(make_stack: Callable[..., Stack], deployer: Deployer, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The bot with the deployer on the canary, which rolls back by itself on a firing alert."""
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET)
    executors = {"deployer": {"kind": "webhook", "url": deployer.url, "secret_env": "DEPLOYER_WEBHOOK_SECRET"}}
    policy = write_policy(tmp_path / "policy.yml", executors, {"canary": "deployer"},
                          canary_stage={"requires_approval": False, "auto_rollback": True})
    return make_stack(WARROOM_CONFIG=policy, WARROOM_PUBLIC_URL="http://bot.invalid",
                      ALERTMANAGER_TOKEN=ALERTMANAGER_TOKEN)


def test_an_alert_on_an_executor_canary_requests_the_rollback_from_it(canary_by_executor: Stack,
                                                                      deployer: Deployer) -> None:
    stack = canary_by_executor
    start(stack, "v9.0.0 risk=low ref=v9.0.0 service=checkout")
    stack.ws.command(REQ, REL, "/release", "promote v9.0.0")  # staging: manual
    assert "requested from deployer" in stack.ws.command(REQ, REL, "/release", "promote v9.0.0").json()["text"]
    pump(stack, deployer.accepted, what="the deploy request")
    deploy = deployer.accepted()[0]["body"]
    assert report(deploy["callback_url"], deploy["callback_token"], "succeeded").status_code == 200
    assert release(stack, "v9.0.0")["stage"] == "canary"

    assert alertmanager(stack, payload("alertmanager.firing")).status_code == 202
    processed(stack)
    rollback = pump(stack, lambda: [r["body"] for r in deployer.accepted()
                                    if r["body"]["type"] == "rollback.requested"], what="the rollback request")[0]
    assert rollback["stage"] == "canary"
    body = release(stack, "v9.0.0")
    assert body["status"] == "active"  # rolled back only when the executor confirms
    requested = next(d for d in body["deployments"] if d["kind"] == "rollback")
    assert requested["automatic"] is True and requested["requested_by"] == "warroom"
    audit = stack.api("/api/releases/v9.0.0/audit").json()["audit"]
    asked = next(e for e in audit if e["action"] == "rollback_requested")
    assert asked["detail"]["automatic"] is True and "HighErrorRate" in asked["reason"]

    assert report(rollback["callback_url"], rollback["callback_token"], "succeeded").status_code == 200
    stack.ws.wait_for(lambda: release(stack, "v9.0.0")["status"] == "rolled_back", what="the rollback")
