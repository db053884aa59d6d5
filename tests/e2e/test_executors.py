"""Delegated deploys end to end: the bot asks a loopback deployer over signed webhooks, waits for
its callback, and only then moves the release; failures offer the rollback; rollbacks are timed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.executors import SECRET, Deployer, report, write_policy
from tests.e2e.test_releases import AP1, REL, REQ, block_text, release, start

EXECUTORS = {"deployer": {"kind": "webhook", "url": "", "secret_env": "DEPLOYER_WEBHOOK_SECRET"}}
ALL = {"staging": "deployer", "canary": "deployer", "production": "deployer"}


@pytest.fixture
def deployer() -> Iterator[Deployer]:
    """A running loopback deployer."""
    d = Deployer().start()
    yield d
    d.stop()


@pytest.fixture
def delegated(make_stack: Callable[..., Stack], deployer: Deployer, tmp_path, monkeypatch) -> Stack:
    """The bot with the deployer on staging, canary and production (10-minute timeout on staging)."""
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET)
    policy = write_policy(tmp_path / "policy.yml", {"deployer": {**EXECUTORS["deployer"], "url": deployer.url}},
                          ALL, staging_stage={"timeout_seconds": 600}, default_service="shop",
                          default_repo="acme/shop")
    return make_stack(WARROOM_CONFIG=policy, WARROOM_PUBLIC_URL="http://bot.invalid")


def pump(stack: Stack, until: Callable[[], Any], *, step: float = 5.0, what: str = "it") -> Any:
    """Move the bot's clock on in steps (so back-off retries come due) until ``until()`` holds."""
    def tick() -> Any:
        found = until()
        if not found:
            stack.clock.advance(step)
            stack.runtime.services.outbox.kick()  # type: ignore[union-attr]
        return found
    return stack.ws.wait_for(tick, timeout=30, interval=0.3, what=what)


def thread_texts(stack: Stack, ts: str) -> str:
    """Every reply in the announcement's thread, text and blocks."""
    return " ".join(m["text"] + json.dumps(m.get("blocks") or []) for m in stack.ws.thread(REL, ts)[1:])


def test_one_logical_request_per_promotion_through_an_outage(delegated: Stack, deployer: Deployer) -> None:
    stack = delegated
    down_until = stack.clock.now() + timedelta(seconds=30)
    deployer.down = lambda: stack.clock.now() < down_until  # the deployer is down for 30 s
    msg = start(stack, "v5.0.0 risk=low ref=v5.0.0 service=checkout")
    resp = stack.ws.command(REQ, REL, "/release", "promote v5.0.0")
    assert "requested from deployer" in resp.json()["text"]
    body = release(stack, "v5.0.0")
    assert body["stage"] == "dev"  # nothing moves before the deployer says so
    assert [d["state"] for d in body["deployments"]] == ["requested"]
    # While it is down every attempt is refused; the sender backs off and tries again.
    pump(stack, deployer.accepted, what="the deployer to take the request")
    stack.settle()
    assert len([r for r in deployer.received if r["status"] == 503]) >= 2
    assert all(r["verified"] for r in deployer.received)
    assert len({r["id"] for r in deployer.received}) == 1  # one webhook-id across every retry
    assert len(deployer.accepted()) == 1
    request = deployer.accepted()[0]["body"]
    assert request["type"] == "deploy.requested" and request["stage"] == "staging"
    assert request["release"] == {"version": "v5.0.0", "risk": "low", "type": "minor", "ref": "v5.0.0", "sha": None,
                                  "repo": "acme/shop", "service": "checkout"}
    assert request["previous_version"] is None
    assert request["callback_url"].endswith(f"/hooks/deployments/{request['deployment_id']}")
    # The request's callback token is not kept once it is out.
    assert all("callback_token" not in json.dumps(m.payload) for m in stack.outbox() if m.sent_at)
    announced = block_text(stack.store.message(REL, msg["ts"]))
    assert "deploying to Staging" in announced and "release_promote" not in announced

    url, token = request["callback_url"], request["callback_token"]
    assert report(url, token, "in_progress", url="https://ci.example/run/7").status_code == 200
    stack.settle()
    assert "deploying to Staging (deployer) (<https://ci.example/run/7|details>)" in block_text(
        stack.store.message(REL, msg["ts"]))
    assert release(stack, "v5.0.0")["stage"] == "dev"
    assert report(url, token, "succeeded").json() == {"deployment_id": request["deployment_id"], "state": "succeeded"}
    body = release(stack, "v5.0.0")
    assert body["stage"] == "staging"
    (dep,) = body["deployments"]
    assert (dep["state"], dep["result"], dep["executor"], dep["kind"]) == (
        "succeeded", "success", "deployer", "planned")
    assert dep["url"] == "https://ci.example/run/7" and dep["started_at"] <= dep["finished_at"]
    # The same report again has no second effect; a different one is refused with the state.
    assert report(url, token, "succeeded").status_code == 200
    again = report(url, token, "failed")
    assert again.status_code == 409 and again.json()["state"] == "succeeded"
    stack.settle()
    assert thread_texts(stack, msg["ts"]).count("Deployed to *Staging*") == 1
    assert len(deployer.accepted()) == 1


def test_callback_tokens_are_checked(delegated: Stack, deployer: Deployer) -> None:
    stack = delegated
    start(stack, "v6.0.0 risk=low")
    start(stack, "v6.1.0 risk=low")
    stack.ws.command(REQ, REL, "/release", "promote v6.0.0")
    stack.ws.command(REQ, REL, "/release", "promote v6.1.0")
    stack.ws.wait_for(lambda: len(deployer.accepted()) == 2, what="both requests")
    first, second = (r["body"] for r in sorted(deployer.accepted(), key=lambda r: r["body"]["deployment_id"]))
    url = first["callback_url"]
    assert report(url, None, "succeeded").status_code == 401
    assert report(url, "not-the-token", "succeeded").status_code == 401
    assert report(url, second["callback_token"], "succeeded").status_code == 401  # another deployment's token
    assert report(url.rsplit("/", 1)[0] + "/999999", first["callback_token"],
                  "succeeded").status_code == 401
    assert report(url, first["callback_token"], "exploded").status_code == 400
    assert release(stack, "v6.0.0")["stage"] == "dev"
    assert report(url, first["callback_token"], "failed", description="image pull failed").status_code == 200
    stale = report(url, first["callback_token"], "succeeded")  # too late: it failed
    assert stale.status_code == 409 and stale.json()["state"] == "failed"
    assert release(stack, "v6.0.0")["stage"] == "dev"


def test_failed_deploy_offers_the_rollback_which_is_delegated_and_timed(delegated: Stack, deployer: Deployer) -> None:
    stack = delegated
    # v7.0.0 reaches staging first, so it is what a rollback of v7.1.0 there restores.
    start(stack, "v7.0.0 risk=low")
    stack.ws.command(REQ, REL, "/release", "promote v7.0.0")
    stack.ws.wait_for(lambda: len(deployer.accepted()) == 1, what="the first request")
    first = deployer.accepted()[0]["body"]
    report(first["callback_url"], first["callback_token"], "succeeded")
    msg = start(stack, "v7.1.0 risk=low")
    stack.ws.command(REQ, REL, "/release", "promote v7.1.0")
    stack.ws.wait_for(lambda: len(deployer.accepted()) == 2, what="the second request")
    second = deployer.accepted()[1]["body"]
    assert second["previous_version"] == "v7.0.0"
    report(second["callback_url"], second["callback_token"], "succeeded")
    # Canary needs an approval; then its deploy fails.
    stack.ws.click(AP1, REL, msg["ts"], "release_approve")
    stack.settle()
    stack.ws.click(REQ, REL, msg["ts"], "release_promote")
    stack.ws.wait_for(lambda: len(deployer.accepted()) == 3, what="the canary request")
    canary = deployer.accepted()[2]["body"]
    report(canary["callback_url"], canary["callback_token"], "failed", description="pods crash-loop <!here>")
    stack.settle()
    failure = stack.ws.wait_for(lambda: next((m for m in stack.ws.thread(REL, msg["ts"])
                                              if "failed" in m["text"] and m.get("blocks")), None),
                                what="the failure in the thread")
    assert "deploy of v7.1.0 to *Production canary 5%* failed, reported by *deployer*" in failure["text"]
    assert "&lt;!here&gt;" in failure["text"] and "stays at Staging" in failure["text"]
    assert release(stack, "v7.1.0")["stage"] == "staging"
    # Roll back from the failure message: the approver gives the reason, the deployer is asked.
    stack.ws.click(AP1, REL, failure["ts"], "release_rollback")
    view = stack.ws.wait_for(lambda: stack.ws.open_views(AP1), what="the reason modal")[-1]
    stack.ws.submit_view(AP1, view["id"], {"reason": "canary crash-loop"})
    stack.ws.wait_for(lambda: len(deployer.accepted()) == 4, what="the rollback request")
    rollback = deployer.accepted()[3]["body"]
    assert rollback["type"] == "rollback.requested" and rollback["stage"] == "staging"
    assert rollback["previous_version"] == "v7.0.0"
    assert release(stack, "v7.1.0")["status"] == "active"  # rolled back only when the deployer says so
    stack.clock.advance(190)
    report(rollback["callback_url"], rollback["callback_token"], "succeeded")
    body = release(stack, "v7.1.0")
    assert body["status"] == "rolled_back" and body["rollback_reason"] == "canary crash-loop"
    done = body["deployments"][-1]
    assert (done["kind"], done["rolls_back"], done["version"], done["state"]) == (
        "rollback", "v7.1.0", "v7.0.0", "succeeded")
    assert 190 <= done["seconds"] < 220  # from the decision to the deployer's report
    stack.settle()
    assert "3m after <@U0APPROVE1> decided" in " ".join(m["text"] for m in stack.bot_messages(REL))
    assert "Rollback in Staging took 3m" in block_text(stack.store.message(REL, msg["ts"]))


def test_a_deploy_without_report_times_out_and_can_be_retried(delegated: Stack, deployer: Deployer) -> None:
    stack = delegated
    msg = start(stack, "v8.0.0 risk=low")
    stack.ws.command(REQ, REL, "/release", "promote v8.0.0")
    stack.ws.wait_for(lambda: len(deployer.accepted()) == 1, what="the request")
    stack.clock.advance(601)
    stack.runtime.services.deployments.expire_due()  # type: ignore[union-attr]
    stack.settle()
    body = release(stack, "v8.0.0")
    assert body["stage"] == "dev" and body["deployments"][0]["state"] == "timed_out"
    note = stack.ws.wait_for(lambda: next((m for m in stack.ws.thread(REL, msg["ts"])
                                           if "timed out" in m["text"]), None), what="the time-out message")
    assert note["text"].startswith(":hourglass: <@U0REQUEST>")  # the requester is pinged
    buttons = [e["action_id"] for b in note["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["deployment_retry", "release_rollback"]
    late = deployer.accepted()[0]["body"]
    assert report(late["callback_url"], late["callback_token"], "succeeded").status_code == 409
    stack.ws.click(REQ, REL, note["ts"], "deployment_retry")
    stack.ws.wait_for(lambda: len(deployer.accepted()) == 2, what="the retried request")
    retried = deployer.accepted()[1]
    assert retried["id"] != deployer.accepted()[0]["id"]  # a new logical request
    report(retried["body"]["callback_url"], retried["body"]["callback_token"], "succeeded")
    assert release(stack, "v8.0.0")["stage"] == "staging"


def test_promote_click_while_deploying_is_refused(delegated: Stack, deployer: Deployer) -> None:
    stack = delegated
    msg = start(stack, "v9.0.0 risk=low")
    stack.ws.click(REQ, REL, msg["ts"], "release_promote")
    stack.ws.wait_for(lambda: deployer.accepted(), what="the request")
    resp = stack.ws.command(REQ, REL, "/release", "promote v9.0.0")
    assert "waiting for *deployer*" in resp.json()["text"]
    assert len(release(stack, "v9.0.0")["deployments"]) == 1


def test_promote_and_list_deployments_through_the_api(delegated: Stack, deployer: Deployer) -> None:
    import httpx

    stack = delegated
    start(stack, "v15.0.0 risk=low")
    assert stack.bot is not None and stack.runtime is not None
    url = f"{stack.bot.url}/api/releases/v15.0.0/promote"
    read_only = httpx.post(url, headers={"Authorization": "Bearer e2e-api-token"}, timeout=10)
    assert read_only.status_code == 403 and "releases:write" in read_only.json()["error"]
    writer = stack.runtime.services.tokens.create("ci", ["releases:write"])
    headers = {"Authorization": f"Bearer {writer}", "Idempotency-Key": "deploy-15"}
    first = httpx.post(url, headers=headers, timeout=10)
    again = httpx.post(url, headers=headers, timeout=10)  # the same key: applied once
    assert first.status_code == 200 and again.status_code == 200
    assert first.json()["stage"] == "dev" and [d["state"] for d in first.json()["deployments"]] == ["requested"]
    assert len(again.json()["deployments"]) == 1
    assert first.json()["deployments"][0]["requested_by"] == "api:ci"
    request = stack.ws.wait_for(deployer.accepted, what="the request")[0]["body"]
    report(request["callback_url"], request["callback_token"], "succeeded")

    listed = stack.api("/api/deployments?stage=staging").json()["deployments"]
    assert [(d["version"], d["stage"], d["state"]) for d in listed] == [("v15.0.0", "staging", "succeeded")]
    assert stack.api("/api/deployments?stage=canary").json()["deployments"] == []
    future = (stack.clock.now() + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert stack.api(f"/api/deployments?since={future}").json()["deployments"] == []
    assert stack.api("/api/deployments?stage=moon").status_code == 400
    assert stack.api("/api/deployments?since=yesterday").status_code == 400
