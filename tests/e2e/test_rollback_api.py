"""`POST /api/releases/{version}/rollback` over HTTP: what the Rollback button does (reason, channel
message, announcement, audit, a rollback deployment; through the stage's executor when it has one),
with the token's name as the one who decided and clear 4xx answers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import API_TOKEN, Stack
from tests.e2e.executors import Deployer, report
from tests.e2e.test_executors import delegated, deployer, pump  # noqa: F401  (fixtures)
from tests.e2e.test_releases import REL, REQ, block_text, release, start


def rollback(stack: Stack, version: str, token: str, body: Any = None, *, key: str | None = None,
             raw: bytes | None = None) -> httpx.Response:
    """POST the rollback as a CI job would."""
    assert stack.bot is not None
    headers = {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}
    url = f"{stack.bot.url}/api/releases/{version}/rollback"
    if raw is not None:
        return httpx.post(url, headers=headers, content=raw, timeout=10)
    return httpx.post(url, headers=headers, json=body, timeout=10)


def writer(stack: Stack, name: str = "ci") -> str:
    """A token holding releases:write."""
    assert stack.runtime is not None
    return stack.runtime.services.tokens.create(name, ["releases:write"])


def test_a_manual_stage_is_rolled_back_at_once_as_the_button_does(stack: Stack) -> None:
    msg = start(stack, "v20.0.0 risk=low service=shop")
    assert "is now at" in stack.ws.command(REQ, REL, "/release", "promote v20.0.0").json()["text"]
    token = writer(stack)
    # Refusals say what is wrong and change nothing.
    assert rollback(stack, "v20.0.0", API_TOKEN, {"reason": "x"}).status_code == 403  # read-only token
    assert rollback(stack, "v20.0.0", "wrong", {"reason": "x"}).status_code == 401
    for bad in (None, {}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"reason": "x", "extra": 1}, []):
        answer = rollback(stack, "v20.0.0", token, bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert "reason" in answer.json()["error"] or "body" in answer.json()["error"]
    assert "not JSON" in rollback(stack, "v20.0.0", token, raw=b"{nope").json()["error"]
    assert "NUL" in rollback(stack, "v20.0.0", token, {"reason": "a\x00b"}).json()["error"]
    missing = rollback(stack, "v99.0.0", token, {"reason": "errors up"})
    assert missing.status_code == 404 and "no release v99.0.0" in missing.json()["error"]
    assert release(stack, "v20.0.0")["status"] == "active"

    done = rollback(stack, "v20.0.0", token, {"reason": "checkout errors <!channel>"}, key="rb-20")
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["rollback_reason"], body["rolled_back_by"]) == (
        "rolled_back", "checkout errors <!channel>", "ci")
    (_, back) = body["deployments"]
    assert (back["kind"], back["stage"], back["rolls_back"], back["state"], back["requested_by"]) == (
        "rollback", "staging", "v20.0.0", "succeeded", "ci")
    # The same key again is the same rollback; another attempt is refused with the reason.
    again = rollback(stack, "v20.0.0", token, {"reason": "checkout errors"}, key="rb-20")
    assert again.status_code == 200 and len(again.json()["deployments"]) == 2
    refused = rollback(stack, "v20.0.0", token, {"reason": "once more"}, key="rb-20b")
    assert refused.status_code == 409
    assert refused.json()["error"] == "Release v20.0.0 is rolled back; it cannot be rolled back."

    stack.settle()
    said = [m["text"] for m in stack.bot_messages(REL) if m["text"].startswith(":rewind:")]
    assert said == [":rewind: Release v20.0.0 was rolled back by *ci*: checkout errors &lt;!channel&gt;"]
    assert "Rolled back" in block_text(stack.store.message(REL, msg["ts"]))
    thread = " ".join(m["text"] for m in stack.ws.thread(REL, msg["ts"]))
    assert "Rolled back by *ci*. Reason: checkout errors &lt;!channel&gt;" in thread
    audit = [e for e in stack.api("/api/releases/v20.0.0/audit").json()["audit"] if e["action"] == "rollback"]
    assert [(e["actor"], e["reason"], e["source"], e["request_id"]) for e in audit] == [
        ("ci", "checkout errors <!channel>", "api:/rollback", "api:ci:rb-20")]


def test_a_stage_with_an_executor_is_requested_from_it(delegated: Stack, deployer: Deployer) -> None:  # noqa: F811
    stack = delegated
    msg = start(stack, "v21.0.0 risk=low")
    stack.ws.command(REQ, REL, "/release", "promote v21.0.0")
    first = pump(stack, deployer.accepted, what="the deploy request")[0]["body"]
    assert report(first["callback_url"], first["callback_token"], "succeeded").status_code == 200
    assert release(stack, "v21.0.0")["stage"] == "staging"
    token = writer(stack, "deploy-bot")

    asked = rollback(stack, "v21.0.0", token, {"reason": "p99 latency doubled"})
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "active"  # rolled back when the executor says so
    assert asked.json()["deployments"][-1]["state"] == "requested"
    waiting = rollback(stack, "v21.0.0", token, {"reason": "again"})
    assert waiting.status_code == 409 and "waiting for *deployer* already" in waiting.json()["error"]
    request = pump(stack, lambda: [r["body"] for r in deployer.accepted()
                                   if r["body"]["type"] == "rollback.requested"], what="the rollback request")[0]
    assert (request["stage"], request["release"]["version"]) == ("staging", "v21.0.0")
    stack.settle()
    assert "Rollback in *Staging* requested from *deployer* by *deploy-bot*: p99 latency doubled" in " ".join(
        m["text"] for m in stack.ws.thread(REL, msg["ts"]))

    assert report(request["callback_url"], request["callback_token"], "succeeded").status_code == 200
    body = release(stack, "v21.0.0")
    assert (body["status"], body["rollback_reason"], body["rolled_back_by"]) == (
        "rolled_back", "p99 latency doubled", "deploy-bot")
    assert body["deployments"][-1]["kind"] == "rollback" and body["deployments"][-1]["state"] == "succeeded"
    actions = [e["action"] for e in stack.api("/api/releases/v21.0.0/audit").json()["audit"]]
    assert actions[-2:] == ["rollback_requested", "rollback"]


def test_the_route_is_documented(stack: Stack) -> None:
    doc = stack.api("/api/openapi.json").json()
    op = doc["paths"]["/api/releases/{version}/rollback"]["post"]
    assert op["x-scope"] == "releases:write" and set(op["responses"]) >= {"200", "400", "404", "409"}
    schema = doc["components"]["schemas"]["RollbackBody"]
    assert schema["required"] == ["reason"] and schema["properties"]["reason"]["minLength"] == 1

