"""The browser UI of the local workspace: a Slack-like page, its JSON endpoints and server push (SSE)."""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from slackbox.actor import Workspace
from slackbox.api_common import public_view
from slackbox.payloads import SandboxError
from slackbox.seed import (
    APPROVER_1,
    APPROVER_2,
    BOT_USER_ID,
    HUMAN_MEMBERS,
    ONCALL,
    REQUESTER,
    SEED_USERGROUPS,
    VIEWER,
)
from slackbox.store import SandboxStore

STATIC = Path(__file__).with_name("static")
ROLES = {REQUESTER: "requester", APPROVER_1: "approver", APPROVER_2: "approver", VIEWER: "not an approver",
         ONCALL: "on-call responder"}
KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.02
FILE_PREVIEW_MAX = 512 * 1024
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


class UiError(Exception):
    """A request the page should not make (answered 400 with the message)."""


def manifest_commands(manifest_path: str | Path | None) -> list[dict[str, str]]:
    """The manifest's slash commands with their description and usage hint."""
    if manifest_path is None or not Path(manifest_path).is_file():
        return []
    data = yaml.safe_load(Path(manifest_path).read_text()) or {}
    return [{"command": str(c.get("command", "")), "description": str(c.get("description", "")),
             "usage_hint": str(c.get("usage_hint", ""))}
            for c in (data.get("features") or {}).get("slash_commands") or []]


def _store(request: Request) -> SandboxStore:
    store: SandboxStore = request.app.state.store
    return store


def _ws(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def _user(store: SandboxStore, user: Any) -> str:
    if not isinstance(user, str) or user not in HUMAN_MEMBERS or store.member(user) is None:
        raise UiError(f"unknown member {user!r}")
    return user


def _visible_channel(store: SandboxStore, user: str, ref: Any) -> dict[str, Any]:
    channel = store.resolve_channel(str(ref or ""))
    if channel is None:
        raise UiError(f"no channel {ref!r}")
    if channel["is_im"] and channel["user"] != user:
        raise UiError("that is someone else's direct message")
    if channel["is_private"] and user not in channel["members"]:
        raise UiError("that channel is private")
    return channel


def channels_for(store: SandboxStore, user: str) -> list[dict[str, Any]]:
    """The channels the sidebar lists for `user`: public ones, private ones they are in, their DMs."""
    out = []
    for c in store.channels():
        if c["is_im"]:
            if c["user"] == user:
                out.append({"id": c["id"], "name": "warroom", "is_im": True, "is_member": True, "topic": ""})
        elif not c["is_archived"] and (not c["is_private"] or user in c["members"]):
            out.append({"id": c["id"], "name": c["name"], "is_im": False, "is_private": c["is_private"],
                        "is_member": user in c["members"], "topic": c["topic"], "created": c["created"]})
    return out


def _with_replies(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    replies: dict[str, list[dict[str, Any]]] = {}
    for m in found:
        if m["thread_ts"] and m["thread_ts"] != m["ts"]:
            replies.setdefault(m["thread_ts"], []).append(m)
    top = [m for m in found if not m["thread_ts"] or m["thread_ts"] == m["ts"] or m["reply_broadcast"]]
    return [{**m, "reply_count": len(replies.get(m["ts"], [])),
             "reply_users": sorted({r["user"] for r in replies.get(m["ts"], []) if r["user"]})} for m in top]


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise UiError("the body must be JSON") from exc
    if not isinstance(data, dict):
        raise UiError("the body must be a JSON object")
    return data


def _endpoint(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Turn UiError/SandboxError into 400 and an unreachable bot into 502, as JSON the page shows."""

    async def wrapped(request: Request) -> Response:
        try:
            return JSONResponse({"ok": True, **(await fn(request))})
        except (UiError, SandboxError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
        except httpx.HTTPError as exc:
            return JSONResponse({"ok": False, "error": f"the bot is not reachable: {exc}"}, status_code=502)

    return wrapped


def _answer(response: httpx.Response | None) -> dict[str, Any]:
    if response is None:
        return {}
    if response.status_code != 200:
        return {"bot_status": response.status_code, "warning": f"the bot answered HTTP {response.status_code}"}
    return {"bot_status": 200}


def ui_routes(manifest_path: str | Path | None = None, *,
              clock_offset: Callable[[], float] | None = None) -> list[BaseRoute]:
    """The page, its static files, the /ui/* JSON endpoints and /ui/events (mounted via extra_routes)."""
    commands = manifest_commands(manifest_path)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": CSP,
                                                              "Cache-Control": "no-store"})

    @_endpoint
    async def state(request: Request) -> dict[str, Any]:
        store = _store(request)
        user = _user(store, request.query_params.get("user", REQUESTER))
        members = [{**m, "role": ROLES.get(m["id"], "app" if m["is_bot"] else ""),
                    "human": m["id"] in HUMAN_MEMBERS} for m in store.members()]
        groups = [g for g in (store.usergroup(sg.id) for sg in SEED_USERGROUPS) if g]
        return {"user": user, "bot_user_id": BOT_USER_ID, "members": members, "usergroups": groups,
                "channels": channels_for(store, user), "commands": commands,
                "clock_offset": clock_offset() if clock_offset else None,
                "ratelimit": store.ratelimit_remaining()}

    @_endpoint
    async def messages(request: Request) -> dict[str, Any]:
        store = _store(request)
        user = _user(store, request.query_params.get("user"))
        channel = _visible_channel(store, user, request.query_params.get("channel"))
        found = store.messages(channel["id"], include_ephemeral_for=user)
        return {"channel": channel["id"], "messages": _with_replies(found)}

    @_endpoint
    async def thread(request: Request) -> dict[str, Any]:
        store = _store(request)
        user = _user(store, request.query_params.get("user"))
        channel = _visible_channel(store, user, request.query_params.get("channel"))
        ts = request.query_params.get("ts", "")
        found = store.messages(channel["id"], include_ephemeral_for=user)
        return {"channel": channel["id"], "ts": ts,
                "messages": [m for m in found if m["ts"] == ts or m["thread_ts"] == ts]}

    @_endpoint
    async def views(request: Request) -> dict[str, Any]:
        store = _store(request)
        user = _user(store, request.query_params.get("user"))
        return {"views": [{**public_view(v), "errors": v["errors"]} for v in store.open_views(user)]}

    @_endpoint
    async def command(request: Request) -> dict[str, Any]:
        data, store = await _body(request), _store(request)
        user = _user(store, data.get("user"))
        channel = _visible_channel(store, user, data.get("channel"))
        name, _, text = str(data.get("text", "")).strip().partition(" ")
        if not name.startswith("/"):
            raise UiError("a slash command starts with /")
        if commands and name not in {c["command"] for c in commands}:
            raise UiError(f"{name} is not a valid command. In Slack, all messages that start with "
                          "the \"/\" character are interpreted as commands.")
        return _answer(await run_in_threadpool(_ws(request).command, user, channel["id"], name, text.strip()))

    @_endpoint
    async def click(request: Request) -> dict[str, Any]:
        data, store, ws = await _body(request), _store(request), _ws(request)
        user = _user(store, data.get("user"))
        action_id, value = str(data.get("action_id", "")), data.get("value")
        if data.get("view_id"):
            return _answer(await run_in_threadpool(ws.click_in_view, user, str(data["view_id"]), action_id, value))
        channel = _visible_channel(store, user, data.get("channel"))
        selected = data.get("selected")
        if selected is not None:  # checkboxes in a message: their whole selection after the click
            if not isinstance(selected, list) or not all(isinstance(v, str) for v in selected):
                raise UiError("selected must be a list of option values")
            block_id = str(data["block_id"]) if data.get("block_id") else None
            return _answer(await run_in_threadpool(ws.tick, user, channel["id"], str(data.get("ts", "")),
                                                   action_id, selected, block_id))
        return _answer(await run_in_threadpool(ws.click, user, channel["id"], str(data.get("ts", "")),
                                               action_id, value))

    @_endpoint
    async def submit(request: Request) -> dict[str, Any]:
        data, store = await _body(request), _store(request)
        user = _user(store, data.get("user"))
        values = data.get("values") or {}
        if not isinstance(values, dict):
            raise UiError("values must be an object")
        return _answer(await run_in_threadpool(_ws(request).submit_view, user, str(data.get("view_id")), values))

    @_endpoint
    async def close(request: Request) -> dict[str, Any]:
        data, store = await _body(request), _store(request)
        user = _user(store, data.get("user"))
        return _answer(await run_in_threadpool(_ws(request).close_view, user, str(data.get("view_id"))))

    @_endpoint
    async def post(request: Request) -> dict[str, Any]:
        data, store = await _body(request), _store(request)
        user = _user(store, data.get("user"))
        channel = _visible_channel(store, user, data.get("channel"))
        text = str(data.get("text", ""))
        if not text.strip():
            raise UiError("the message is empty")
        if user not in channel["members"]:
            raise UiError("join the channel first")
        # Slack's client escapes &, < and > in what a person types; the rest of mrkdwn stays as typed.
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        msg = store.post_message(channel["id"], user=user, text=escaped, thread_ts=data.get("thread_ts") or None)
        return {"ts": msg["ts"]}

    @_endpoint
    async def join(request: Request) -> dict[str, Any]:
        data, store = await _body(request), _store(request)
        user = _user(store, data.get("user"))
        channel = _visible_channel(store, user, data.get("channel"))
        if channel["is_im"]:
            raise UiError("cannot join a direct message")
        store.add_members(channel["id"], [user])
        return {"channel": channel["id"]}

    @_endpoint
    async def home(request: Request) -> dict[str, Any]:
        """GET: the user's App Home as last published. POST: open the Home tab (app_home_opened)."""
        store = _store(request)
        if request.method == "POST":
            user = _user(store, (await _body(request)).get("user"))
            await run_in_threadpool(_ws(request).open_home, user)
        else:
            user = _user(store, request.query_params.get("user"))
        return {"view": store.home(user)}

    async def file_text(request: Request) -> Response:
        store = _store(request)
        file, content = store.file(request.path_params["file_id"]), store.file_content(request.path_params["file_id"])
        if file is None or content is None:
            return PlainTextResponse("file not found", status_code=404)
        return PlainTextResponse(content[:FILE_PREVIEW_MAX].decode(errors="replace"),
                                 headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})

    async def file_image(request: Request) -> Response:
        """An uploaded image (what an image block's slack_file shows); other files are not served here."""
        content = _store(request).file_content(request.path_params["file_id"])
        kind = image_type(content or b"")
        if kind is None:
            return PlainTextResponse("no such image", status_code=404)
        return Response(content, media_type=kind, headers={"X-Content-Type-Options": "nosniff",
                                                           "Cache-Control": "no-store"})

    async def events(request: Request) -> Response:
        return StreamingResponse(_event_stream(request, _store(request)), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return [
        Route("/", index, methods=["GET"]),
        Route("/ui/state", state, methods=["GET"]),
        Route("/ui/messages", messages, methods=["GET"]),
        Route("/ui/thread", thread, methods=["GET"]),
        Route("/ui/views", views, methods=["GET"]),
        Route("/ui/command", command, methods=["POST"]),
        Route("/ui/click", click, methods=["POST"]),
        Route("/ui/submit", submit, methods=["POST"]),
        Route("/ui/close", close, methods=["POST"]),
        Route("/ui/post", post, methods=["POST"]),
        Route("/ui/join", join, methods=["POST"]),
        Route("/ui/home", home, methods=["GET", "POST"]),
        Route("/ui/files/{file_id}", file_text, methods=["GET"]),
        Route("/ui/images/{file_id}", file_image, methods=["GET"]),
        Route("/ui/events", events, methods=["GET"]),
        Mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static"),
    ]


def image_type(content: bytes) -> str | None:
    """The media type of a PNG, JPEG or GIF (Block Kit's image types) by its magic bytes, else None."""
    for magic, kind in ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                        (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif")):
        if content.startswith(magic):
            return kind
    return None


def summarize(event: dict[str, Any]) -> dict[str, Any]:
    """What the page learns of a change: which channel, message or user it touched (never the text)."""
    kind = event.get("type", "")
    out: dict[str, Any] = {"type": kind}
    if "message" in event:
        m = event["message"]
        out.update(channel=m["channel"], ts=m["ts"], thread_ts=m["thread_ts"], ephemeral_for=m["ephemeral_for"])
    elif "view" in event:
        out["user"] = event["view"]["user"]
    elif "channel" in event:
        out["channel"] = event["channel"]["id"]
    elif kind == "home_published":
        out["user"] = event["user"]
    elif "call" in event:
        call = event["call"]
        out.update(method=call["method"], ok=call["ok"], error=call["error"])
    return out


async def _event_stream(request: Request, store: SandboxStore) -> AsyncIterator[str]:
    """Server-Sent Events from the store's change events, with keep-alive comments, until the client leaves."""
    q = store.subscribe()
    try:
        yield "retry: 1000\n: connected\n\n"
        last = time.monotonic()
        stopping: Callable[[], bool] = getattr(request.app.state, "stopping", lambda: False)
        while not stopping():  # the server is shutting down: end the stream so it can
            batch = []
            while True:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            if batch:
                last = time.monotonic()
                yield "".join(f"data: {json.dumps(summarize(e))}\n\n" for e in batch)
            elif time.monotonic() - last > KEEPALIVE_SECONDS:
                last = time.monotonic()
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)
    finally:
        store.unsubscribe(q)
