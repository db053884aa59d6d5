"""A release never reaches a stage its executor has not confirmed, even when callbacks and clicks
arrive at the same instant (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.e2e.conftest import Stack
from tests.e2e.executors import Deployer, report
from tests.e2e.test_concurrency import at_once
from tests.e2e.test_executors import delegated, deployer  # noqa: F401 - fixtures
from tests.e2e.test_releases import AP1, REL, REQ, release, start


def test_concurrent_callbacks_and_clicks(delegated: Stack, deployer: Deployer) -> None:  # noqa: F811
    stack = delegated
    msg = start(stack, "v11.0.0 risk=low")
    stack.ws.click(AP1, REL, msg["ts"], "release_approve")  # so a click may ask for canary too
    # Two clicks at once: one request, not two.
    results = at_once(lambda: stack.ws.click(REQ, REL, msg["ts"], "release_promote"),
                      lambda: stack.ws.click(REQ, REL, msg["ts"], "release_promote"))
    assert [r.status_code for r in results] == [200, 200]
    stack.ws.wait_for(lambda: deployer.accepted(), what="the request")
    assert len(release(stack, "v11.0.0")["deployments"]) == 1
    request = deployer.accepted()[0]["body"]
    url, token = request["callback_url"], request["callback_token"]

    # Promote clicks race the success report: nobody passes staging unconfirmed.
    def click() -> object:
        return stack.ws.command(REQ, REL, "/release", "promote v11.0.0")

    results = at_once(lambda: report(url, token, "succeeded"), lambda: report(url, token, "succeeded"),
                      click, click, click)
    assert [r.status_code for r in results[:2]] == [200, 200]
    body = release(stack, "v11.0.0")
    assert body["stage"] == "staging"
    states = [(d["stage"], d["state"]) for d in body["deployments"]]
    assert states[0] == ("staging", "succeeded")
    # A click after the report may ask for canary, once; the release stays at staging until
    # the deployer confirms that one too.
    canary = [s for stage, s in states if stage == "canary"]
    assert len(canary) <= 1 and all(s == "requested" for s in canary)
    assert len(states) == 1 + len(canary)
    audit = stack.api("/api/releases/v11.0.0/audit").json()["audit"]
    assert [e["action"] for e in audit].count("promote") == 1
