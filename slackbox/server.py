"""The sandbox workspace as one Starlette app: Web API, response_url, health, clock; plus a start helper."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from slackbox.actor import Workspace
from slackbox.guard import LocalOnly
from slackbox.serve import ServerHandle, serve_in_thread
from slackbox.store import SandboxStore
from slackbox.webapi import api_routes, parse_form

ClockCallback = Callable[[float], Any]


def manifest_commands(manifest_path: str | Path | None) -> list[str] | None:
    """Return the slash commands an app manifest (YAML or JSON) declares, or None without a manifest."""
    if manifest_path is None:
        return None
    data = yaml.safe_load(Path(manifest_path).read_text()) or {}
    return [c["command"] for c in (data.get("features") or {}).get("slash_commands") or []]


class _LearnBaseUrl:
    """ASGI middleware: the workspace learns its own URL (for response_url) from the first request."""

    def __init__(self, app: ASGIApp, workspace: Workspace) -> None:
        self.app, self.workspace = app, workspace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.workspace.base_url:
            self.workspace.base_url = str(Request(scope).base_url).rstrip("/")
        await self.app(scope, receive, send)


def sandbox_routes(workspace: Workspace, on_clock_advance: ClockCallback | None) -> list[BaseRoute]:
    """Return the /sandbox/* routes: response_url, health and the clock."""

    async def response_url(request: Request) -> Response:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        else:
            form = parse_form(raw, request.headers.get("content-type", ""))
            payload = form.get("payload")
            try:
                body = json.loads(str(payload)) if payload else dict(form)
            except ValueError:
                return JSONResponse({"ok": False, "error": "invalid_payload"}, status_code=400)
        status, answer = workspace.handle_response_url(request.path_params["token"], body)
        return JSONResponse(answer, status_code=status)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "team_id": "T0SANDBOX", "bot_events_url": workspace.bot_events_url})

    async def clock_advance(request: Request) -> Response:
        if on_clock_advance is None:
            return JSONResponse({"ok": False, "error": "no_clock"}, status_code=404)
        try:
            data = (
                await request.json()
                if request.headers.get("content-type", "").startswith("application/json")
                else parse_form(await request.body(), request.headers.get("content-type", ""))
            )
            seconds = float(data.get("seconds", 0))
        except (TypeError, ValueError, AttributeError):
            return JSONResponse({"ok": False, "error": "invalid_arguments"}, status_code=400)
        if inspect.iscoroutinefunction(on_clock_advance):
            result = await on_clock_advance(seconds)
        else:  # the callback may make the bot call this very server: keep the event loop free
            result = await run_in_threadpool(on_clock_advance, seconds)
        return JSONResponse({"ok": True, "seconds": seconds, "result": result if _is_json(result) else None})

    return [
        Route("/sandbox/response/{token}", response_url, methods=["POST"]),
        Route("/sandbox/health", health, methods=["GET"]),
        Route("/sandbox/clock/advance", clock_advance, methods=["POST"]),
    ]


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def create_workspace_app(
    store: SandboxStore,
    bot_events_url: str,
    signing_secret: str,
    *,
    on_clock_advance: ClockCallback | None = None,
    manifest_path: str | Path | None = None,
    extra_routes: list[BaseRoute] | None = None,
    public: bool = False,
    bot_token: str | None = None,
) -> Starlette:
    """Build the workspace app; `app.state.store` and `app.state.workspace` (the actor) are exposed.
    ``public``: answer any Host (still same-origin only); ``bot_token``: the one token the Web API takes."""
    workspace = Workspace(store, bot_events_url, signing_secret, commands=manifest_commands(manifest_path))
    routes: list[BaseRoute] = [
        *api_routes(store, bot_token=bot_token),
        *sandbox_routes(workspace, on_clock_advance),
        *(extra_routes or []),
    ]  # the UI (slackbox/ui.py) mounts here
    app = Starlette(routes=routes)
    app.add_middleware(_LearnBaseUrl, workspace=workspace)
    app.add_middleware(LocalOnly, public=public)  # outermost: refuse before anything is learned or read
    app.state.store = store
    app.state.workspace = workspace
    return app


@dataclass
class RunningWorkspace:
    """A served workspace: `url`, `api_url` (WebClient base_url), `store`, `workspace` (actor), `stop()`."""

    handle: ServerHandle
    app: Starlette
    store: SandboxStore
    workspace: Workspace

    @property
    def url(self) -> str:
        """Base URL of the workspace server, without a trailing slash."""
        return self.handle.url

    @property
    def api_url(self) -> str:
        """The base_url to give slack_sdk's WebClient."""
        return f"{self.handle.url}/api/"

    def stop(self) -> None:
        """Stop the server and close the actor's HTTP client."""
        self.handle.stop()
        self.workspace.close()


def start_workspace(
    store: SandboxStore | None = None,
    bot_events_url: str = "",
    signing_secret: str = "",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **app_kwargs: Any,
) -> RunningWorkspace:
    """Create and serve a workspace in a background thread (bot_events_url may be set later on .workspace)."""
    store = store or SandboxStore()
    app = create_workspace_app(store, bot_events_url, signing_secret, **app_kwargs)
    handle = serve_in_thread(app, host=host, port=port)
    workspace: Workspace = app.state.workspace
    workspace.base_url = handle.url
    return RunningWorkspace(handle=handle, app=app, store=store, workspace=workspace)
