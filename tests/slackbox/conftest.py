"""Fixtures for the sandbox workspace: a served workspace, a real WebClient, and a scripted fake bot."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from slackbox import RunningWorkspace, SandboxStore, Workspace, serve_in_thread, start_workspace

SECRET = "sandbox-signing-secret"


@pytest.fixture
def running() -> Iterator[RunningWorkspace]:
    """A workspace served on a free port, with a fresh in-memory store."""
    rw = start_workspace(SandboxStore(), bot_events_url="", signing_secret=SECRET)
    try:
        yield rw
    finally:
        rw.stop()


@pytest.fixture
def ws(running: RunningWorkspace) -> Workspace:
    """The actor (plays Slack towards the bot and reads the workspace)."""
    return running.workspace


@pytest.fixture
def client(running: RunningWorkspace) -> WebClient:
    """A real slack_sdk WebClient pointed at the sandbox, retrying on 429 like the bot does."""
    return WebClient(
        token="xoxb-test",
        base_url=running.api_url,
        timeout=5,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )


@dataclass
class FakeBot:
    """A scripted stand-in for the bot: records verified requests and answers with `reply(kind, data)`."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    reply: Callable[[str, dict[str, Any]], Response] = lambda kind, data: Response(status_code=200)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        """Return the recorded requests of one kind ('command', 'block_actions', 'view_submission', ...)."""
        with self.lock:
            return [r for r in self.requests if r["kind"] == kind]


def json_reply(body: Any) -> Response:
    """Answer the way Bolt's ack(...) does: a JSON body."""
    return JSONResponse(body)


@pytest.fixture
def fake_bot(running: RunningWorkspace) -> Iterator[FakeBot]:
    """A fake bot served over HTTP that checks Slack's signature; the workspace posts to it."""
    bot = FakeBot()
    verifier = SignatureVerifier(SECRET)

    async def events(request: Request) -> Response:
        body = (await request.body()).decode()
        if not verifier.is_valid(
            body,
            request.headers.get("x-slack-request-timestamp", ""),
            request.headers.get("x-slack-signature", ""),
        ):
            return PlainTextResponse("invalid signature", status_code=401)
        form = dict(parse_qsl(body, keep_blank_values=True))
        data = json.loads(form["payload"]) if "payload" in form else form
        kind = data.get("type", "command") if "payload" in form else "command"
        with bot.lock:
            bot.requests.append({"kind": kind, "data": data, "content_type": request.headers["content-type"]})
        return bot.reply(kind, data)

    handle = serve_in_thread(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]))
    bot.url = f"{handle.url}/slack/events"
    running.workspace.bot_events_url = bot.url
    try:
        yield bot
    finally:
        handle.stop()
