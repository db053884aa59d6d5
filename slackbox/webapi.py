"""Starlette routes of the sandbox Web API: POST /api/{method}, uploads, file downloads, rate-limit switch."""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Awaitable, Callable
from email import policy as email_policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from slackbox import api_chat, api_conversations, api_views  # noqa: F401  (register the methods)
from slackbox.api_common import METHODS, ApiError, Ctx
from slackbox.store import SandboxStore

Endpoint = Callable[[Request], Awaitable[Response]]
JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")


async def read_args(request: Request) -> dict[str, Any]:
    """Collect a Web API call's arguments from the query string and a form or JSON body."""
    args: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST":
        if content_type.startswith("application/json"):
            body = await request.body()
            try:
                data = json.loads(body) if body else {}
            except ValueError as exc:
                raise ApiError("invalid_json") from exc
            if not isinstance(data, dict):
                raise ApiError("invalid_json")
            args.update(data)
        else:
            args.update(parse_form(await request.body(), content_type))
    for key in JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args


def parse_form(body: bytes, content_type: str) -> dict[str, str]:
    """Parse a urlencoded or multipart form body into {name: text} (stdlib only; file parts are skipped)."""
    if content_type.startswith("multipart/form-data"):
        return {
            name: data.decode(errors="replace")
            for name, data, filename in multipart_parts(body, content_type)
            if filename is None
        }
    return dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))


def multipart_parts(body: bytes, content_type: str) -> list[tuple[str, bytes, str | None]]:
    """Split a multipart/form-data body into (name, bytes, filename) parts."""
    message = BytesParser(policy=email_policy.default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts: list[tuple[str, bytes, str | None]] = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        name = part.get_param("name", header="content-disposition") or ""
        parts.append((str(name), payload if isinstance(payload, bytes) else b"", part.get_filename()))
    return parts


def _token(request: Request, args: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    token = args.get("token")
    return str(token) if token else None


def make_api_endpoint(store: SandboxStore, bot_token: str | None = None) -> Endpoint:
    """Return the endpoint serving every Web API method against `store` (any xoxb- token, or only
    ``bot_token`` when one is given: a workspace shared with --public)."""

    async def api_endpoint(request: Request) -> Response:
        name = request.path_params["method"]
        if store.take_ratelimit():
            store.log_call(name, {}, ok=False, error="ratelimited")
            return JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": "1"}
            )
        try:
            args = await read_args(request)
        except ApiError as exc:
            store.log_call(name, {}, ok=False, error=exc.error)
            return JSONResponse({"ok": False, "error": exc.error})
        token = _token(request, args)
        args.pop("token", None)
        try:
            if not token:
                raise ApiError("not_authed")
            if not token.startswith("xoxb-"):
                raise ApiError("invalid_auth")
            if bot_token is not None and not hmac.compare_digest(token.encode(), bot_token.encode()):
                raise ApiError("invalid_auth")
            handler = METHODS.get(name)
            if handler is None:
                raise ApiError("unknown_method")
            result = handler(Ctx(store=store, base_url=str(request.base_url)), args)
        except ApiError as exc:
            store.log_call(name, args, ok=False, error=exc.error)
            return JSONResponse({"ok": False, "error": exc.error, **exc.extra})
        store.log_call(name, args, ok=True)
        return JSONResponse({"ok": True, **result})

    return api_endpoint


def make_upload_endpoint(store: SandboxStore) -> Endpoint:
    """Return the endpoint that receives file bytes at the URL files.getUploadURLExternal issued."""

    async def upload_endpoint(request: Request) -> Response:
        file_id = request.path_params["file_id"]
        content = await request.body()
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            files = [
                data for _, data, filename in multipart_parts(content, content_type) if filename is not None
            ]
            content = files[0] if files else b""
        if not store.put_file_content(file_id, content):
            return PlainTextResponse("file not found", status_code=404)
        return PlainTextResponse(f"OK - {len(content)}")

    return upload_endpoint


def make_download_endpoint(store: SandboxStore) -> Endpoint:
    """Return the endpoint serving an uploaded file's bytes (url_private)."""

    async def download_endpoint(request: Request) -> Response:
        file = store.file(request.path_params["file_id"])
        content = store.file_content(request.path_params["file_id"])
        if file is None or content is None:
            return PlainTextResponse("file not found", status_code=404)
        return Response(
            content,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{file["name"]}"'},
        )

    return download_endpoint


def make_ratelimit_endpoint(store: SandboxStore) -> Endpoint:
    """Return the endpoint behind POST /sandbox/ratelimit ({"n": 3} or form n=3)."""

    async def ratelimit_endpoint(request: Request) -> Response:
        try:
            if request.headers.get("content-type", "").startswith("application/json"):
                data = await request.json()
            else:
                data = parse_form(await request.body(), request.headers.get("content-type", ""))
            n = int(data.get("n", 1)) if isinstance(data, dict) else int(data)
        except (TypeError, ValueError):
            return JSONResponse({"ok": False, "error": "invalid_arguments"}, status_code=400)
        store.set_ratelimit(n)
        return JSONResponse({"ok": True, "n": n})

    return ratelimit_endpoint


def api_routes(store: SandboxStore, *, bot_token: str | None = None) -> list[Route]:
    """Return the Web API routes, the upload/download routes and the rate-limit switch."""
    return [
        Route("/api/{method}", make_api_endpoint(store, bot_token), methods=["GET", "POST"]),
        Route("/sandbox/upload/{file_id}", make_upload_endpoint(store), methods=["POST", "PUT"]),
        Route("/sandbox/files/{file_id}", make_download_endpoint(store), methods=["GET"]),
        Route("/sandbox/ratelimit", make_ratelimit_endpoint(store), methods=["POST"]),
    ]
