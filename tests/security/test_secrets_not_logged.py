"""A full run, logged at DEBUG for every library, never writes a secret or token it was given."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import API_TOKEN, BASE_ENV, SECRET, Stack
from tests.e2e.test_releases import announcement

REL, INC, REQ, AP1, AP2 = "C0RELEASES", "C0INCIDENTS", "U0REQUEST", "U0APPROVE1", "U0APPROVE2"


def test_no_secret_or_token_in_the_logs_of_a_full_run(make_stack: Callable[..., Stack],
                                                       caplog: pytest.LogCaptureFixture,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    stack = make_stack()
    assert stack.bot and stack.runtime
    scoped = stack.runtime.services.tokens.create("ci", ["read", "releases:write"])
    secrets = {"signing secret": SECRET, "API token": API_TOKEN, "bot token": BASE_ENV["SLACK_BOT_TOKEN"],
               "scoped token": scoped}

    # A release from start to production, approvals by button.
    assert "started" in stack.ws.command(REQ, REL, "/release", "start v7.0.0 risk=low Notes").json()["text"]
    ts = announcement(stack, "v7.0.0")["ts"]
    stack.ws.click(REQ, REL, ts, "release_promote")
    stack.ws.click(AP1, REL, ts, "release_approve")
    stack.ws.click(AP2, REL, ts, "release_approve")
    stack.ws.click(REQ, REL, ts, "release_promote")
    # An incident declared, updated and resolved.
    assert "declared" in stack.ws.command(AP1, INC, "/incident", "declare P2 Checkout slow").json()["text"]
    room = stack.ws.wait_for(lambda: stack.api("/api/incidents/1").json().get("channel_id"), what="the war room")
    stack.ws.wait_for(lambda: AP1 in (stack.store.resolve_channel(room) or {}).get("members", []),
                      timeout=15, what="the commander in the war room")
    assert "posted" in stack.ws.command(AP1, room, "/incident", "update Found the slow query").json()["text"]
    assert "resolved" in stack.ws.command(AP1, room, "/incident", "resolve Index added").json()["text"]
    # The API with every token, right and wrong; a forged Slack request; an oversized body.
    for token in (API_TOKEN, scoped, "wrong-token"):
        for scheme in ("Bearer", "bearer"):
            httpx.get(stack.bot.url + "/api/releases", headers={"Authorization": f"{scheme} {token}"})
    httpx.get(stack.bot.url + "/api/incidents/1", headers={"Authorization": f"Bearer {scoped}"})
    httpx.post(stack.bot.url + "/slack/events", content=b"command=/release&text=list",
               headers={"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64})
    httpx.post(stack.bot.url + "/api/releases", content=b"x" * 2_000_000,
               headers={"Authorization": f"Bearer {API_TOKEN}"})
    stack.settle()

    logged = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    out, err = capfd.readouterr()
    assert len(caplog.records) > 100  # DEBUG from Bolt, slack_sdk, httpx and ours: a real log, not an empty one
    for what, value in secrets.items():
        assert value not in logged, f"the {what} is in the logs"
        assert value not in out + err, f"the {what} is on the console"
