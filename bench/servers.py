"""Servers for the benchmarks, each run in its own process so the load generator's own
work never shares a GIL with what it measures.

    python bench/servers.py slack PORT                 # loopback Slack Web API stand-in
    python bench/servers.py warroom PORT API_URL DB [web|all]  # the real bot (web: no delivery)
    python bench/servers.py worker PORT API_URL DB     # `warroom worker`; listens on PORT once running
    python bench/servers.py bare PORT API_URL                 # a bare Bolt app that only acks
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SECRET = "bench-signing-secret"  # noqa: S105
_ts = itertools.count(1)


def slack_stub() -> Starlette:
    """Answers every Web API method with ok and a fresh ts, like Slack does; records posts and
    answers conversations.history / replies from them (how the sender checks whether a post
    whose answer it lost went through)."""
    posts: list[tuple[float, str, str, str | None]] = []
    messages: list[dict[str, str | None]] = []

    async def args_of(request: Request) -> dict[str, Any]:
        body = await request.body()
        try:
            args = json.loads(body)
        except ValueError:
            args = dict(parse_qsl(body.decode()))
        return args if isinstance(args, dict) else {}

    async def method(request: Request) -> Response:
        name = request.path_params["method"]
        ts = f"{int(time.time())}.{next(_ts):06d}"
        args = await args_of(request)
        if name == "chat.postMessage":
            posts.append((time.time(), str(args.get("channel")), str(args.get("text", ""))[:80],
                          args.get("thread_ts")))
            messages.append({"channel": str(args.get("channel")), "text": str(args.get("text", "")), "ts": ts,
                             "thread_ts": args.get("thread_ts")})
        if name in ("conversations.history", "conversations.replies"):
            oldest = float(args.get("oldest") or 0)
            found = [{"type": "message", "bot_id": "B0WARROOM", "text": m["text"], "ts": m["ts"]}
                     for m in messages if m["channel"] == args.get("channel") and float(str(m["ts"])) >= oldest
                     and (m["thread_ts"] == args.get("ts") if name == "conversations.replies" else True)]
            return JSONResponse({"ok": True, "messages": found[::-1], "has_more": False})
        if name == "auth.test":
            return JSONResponse({"ok": True, "user_id": "U0WARROOM", "bot_id": "B0WARROOM", "team_id": "T0",
                                 "user": "warroom", "team": "bench", "url": "http://127.0.0.1/"})
        if name == "conversations.create":
            return JSONResponse({"ok": True, "channel": {"id": f"C{next(_ts)}", "name": "x"}})
        # The channel the call went to, as Slack answers: the bot stores it and sends the message's
        # updates and thread replies there (one fixed channel would pace them all as one channel).
        return JSONResponse({"ok": True, "channel": str(args.get("channel") or "C0RELEASES"), "ts": ts,
                             "message_ts": ts})

    async def recorded(_: Request) -> Response:
        return JSONResponse({"posts": posts})

    return Starlette(routes=[Route("/api/{method}", method, methods=["POST"]),
                             Route("/stub/posts", recorded, methods=["GET"])])


def bare_bolt(api_url: str) -> Starlette:
    """Bolt's default mode: the listener runs in a thread and Bolt polls for the ack."""
    from slack_bolt import App
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
    from slack_sdk import WebClient

    client = WebClient(token="xoxb-bench", base_url=api_url)  # noqa: S106
    app = App(signing_secret=SECRET, client=client, token_verification_enabled=False)

    @app.command("/release")
    def command(ack):  # type: ignore[no-untyped-def]
        ack()

    @app.action("release_approve")
    def approve(ack):  # type: ignore[no-untyped-def]
        ack()

    async def events(request: Request) -> Response:
        body = await request.body()
        return to_starlette_response(await run_in_threadpool(app.dispatch, to_bolt_request(request, body)))

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def _settings(api_url: str, db_url: str):  # type: ignore[no-untyped-def]
    from bot.settings import load_settings

    return load_settings(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=api_url,
                         DATABASE_URL=db_url, WARROOM_APPROVERS="U0APPROVE1,U0APPROVE2", WARROOM_FREEZE_DAYS="")


def warroom(api_url: str, db_url: str, with_worker: bool = True) -> Starlette:
    """The real bot, on the same server stack (more settings come from the environment)."""
    from bot.app import build_runtime, settle_heap

    asgi = build_runtime(_settings(api_url, db_url), worker=with_worker).asgi
    settle_heap()  # as `warroom serve` does before it serves
    return asgi


def worker(port: int, api_url: str, db_url: str) -> None:
    """`warroom worker`: delivery and due work in their own process, until SIGTERM. Once it runs
    it listens on ``port`` (accepting nothing), so the bench starts its load only then."""
    import signal
    import socket
    import threading

    from bot.app import run_worker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    listener = socket.socket()

    def ready() -> None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(8)

    try:
        run_worker(_settings(api_url, db_url), stop, ready=ready)
    finally:
        listener.close()


def main() -> None:
    """Run one server until killed."""
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "slack":
        asgi = slack_stub()
    elif kind == "bare":
        asgi = bare_bolt(sys.argv[3])
    elif kind == "worker":
        worker(port, sys.argv[3], sys.argv[4])
        return
    else:  # warroom PORT API_URL DB [web|all]
        asgi = warroom(sys.argv[3], sys.argv[4], with_worker=(sys.argv[5:] or ["all"])[0] == "all")
    uvicorn.run(asgi, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
