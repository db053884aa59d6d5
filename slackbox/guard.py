"""Keep the local workspace local: only this machine's browser tabs on this very origin may drive it.

A page on another site (or another port of this machine) could otherwise post to the workspace's UI
and Web API from the user's browser: a cross-site ``text/plain`` form post needs no CORS preflight,
and DNS rebinding lets a foreign name resolve to 127.0.0.1. So every request must name a loopback
``Host`` (unless the workspace was started ``--public``), a request with an ``Origin`` or
``Sec-Fetch-Site`` must come from this same origin, and a state-changing UI request must be
``Content-Type: application/json`` (which a cross-site page cannot send without a preflight we
never answer). Server-to-server calls (the bot's Web API calls and response_url posts) carry no
``Origin`` and pass.
"""

from __future__ import annotations

import ipaddress
import json

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# Paths a browser page uses to change state; they take JSON only.
BROWSER_WRITES = ("/ui/", "/sandbox/clock/", "/sandbox/ratelimit")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """True when ``host`` (a name or an address, brackets allowed) is this machine only."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:3000`` -> ``::1``, ``localhost:3000`` -> ``localhost``)."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0].lower()
    return host_header.rpartition(":")[0].lower() if host_header.count(":") == 1 else host_header.lower()


class LocalOnly:
    """ASGI middleware: Host, Origin/Sec-Fetch-Site and JSON content-type checks (403/415 with a reason)."""

    def __init__(self, app: ASGIApp, *, public: bool = False) -> None:
        self.app, self.public = app, public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self.problem(scope)
            if problem:
                status, message = problem
                body = json.dumps({"ok": False, "error": message}).encode()
                await send({"type": "http.response.start", "status": status, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def problem(self, scope: Scope) -> tuple[int, str] | None:
        """Why this request is refused (status, reason), or None."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not self.public and not is_loopback(host_name(host)):
            return 403, "the local workspace answers only to a loopback Host (start it with --public to share it)"
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"{scope.get('scheme', 'http')}://{host}".lower():
            return 403, "cross-origin requests are refused"
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return 403, "cross-site requests are refused"
        path = scope.get("path", "")
        if scope.get("method", "GET") not in SAFE_METHODS and path.startswith(BROWSER_WRITES):
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                return 415, "state-changing requests must be Content-Type: application/json"
        return None
