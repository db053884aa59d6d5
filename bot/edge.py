"""The HTTP edge of the bot process: body-size limits and per-source request rates, by path prefix.

``EdgeLimits`` is plain ASGI middleware in front of every route, so a route added later under a
covered prefix (``/hooks/github``, ``/api/deployments``) is limited without doing anything. The
longest matching prefix decides; a route that needs other limits adds its own ``Limit`` (see
``bot.app.edge_limits``). A body over the limit is refused with 413 before it is read whole: at
once when ``Content-Length`` says so, else as soon as the streamed bytes pass the limit.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Clock = Callable[[], float]


@dataclass(frozen=True)
class Limit:
    """Limits for the paths under ``prefix``: body bytes, and requests per second per client address
    refilled into a bucket of ``burst`` (``rate`` 0: no rate limit)."""

    prefix: str
    max_body: int
    rate: float = 0.0
    burst: int = 1

    def covers(self, path: str) -> bool:
        """True when ``path`` is ``prefix`` or below it (``/hooks`` covers ``/hooks/x``, not ``/hooksx``)."""
        base = self.prefix.rstrip("/")
        return path == base or path.startswith(base + "/")


class RateLimiter:
    """A token bucket per source; ``take`` answers 0 (go ahead) or the seconds until a token is due."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic, max_sources: int = 10_000) -> None:
        self.rate, self.burst, self.clock, self.max_sources = rate, burst, clock, max_sources
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, when)

    def take(self, source: str) -> float:
        """Spend one token of ``source``'s bucket, or say how long until one is there."""
        now = self.clock()
        tokens, when = self._buckets.get(source, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - when) * self.rate)
        if tokens < 1.0:
            self._buckets[source] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[source] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_sources:
            self._forget(now)
        return 0.0

    def _forget(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: drop those first, then the stalest,
        # so a flood of spoofed-looking sources cannot grow memory without bound.
        full = [s for s, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.burst]
        for source in full:
            del self._buckets[source]
        if len(self._buckets) > self.max_sources:
            stalest = sorted(self._buckets, key=lambda s: self._buckets[s][1])
            for source in stalest[: len(self._buckets) - self.max_sources // 2]:
                del self._buckets[source]


class BodyTooLarge(Exception):
    """Raised from ``receive`` when the streamed body passes the route's limit."""


async def _answer(send: Send, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *headers]})
    await send({"type": "http.response.body", "body": body})


class EdgeLimits:
    """ASGI middleware: per path prefix, a body limit (413) and a per-client-address rate limit (429)."""

    def __init__(self, app: ASGIApp, limits: Sequence[Limit], clock: Clock = time.monotonic) -> None:
        self.app = app
        # Longest prefix first, so the first covering limit is the most specific.
        self.limits = sorted(limits, key=lambda lim: len(lim.prefix.rstrip("/")), reverse=True)
        self.limiters = {lim.prefix: RateLimiter(lim.rate, lim.burst, clock) for lim in self.limits if lim.rate > 0}

    def limit_for(self, path: str) -> Limit | None:
        """The limit that applies to ``path`` (None: none covers it)."""
        return next((lim for lim in self.limits if lim.covers(path)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        limit = self.limit_for(path)
        if limit is None:
            await self.app(scope, receive, send)
            return
        limiter = self.limiters.get(limit.prefix)
        if limiter is not None:
            client = scope.get("client")
            wait = limiter.take(client[0] if client else "unknown")
            if wait > 0:
                retry = str(max(1, math.ceil(wait))).encode()
                await _answer(send, 429, "too many requests from your address; retry later",
                              [(b"retry-after", retry)])
                return
        declared = _content_length(scope)
        if declared == -1:
            await _answer(send, 400, "Content-Length is not a number")
            return
        if declared is not None and declared > limit.max_body:
            await _answer(send, 413, f"the body is over {limit.max_body} bytes")
            return
        await self._limited(scope, receive, send, limit.max_body)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, most: int) -> None:
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > most:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:  # the route answered before reading it all; nothing more to say
                return
            await _answer(send, 413, f"the body is over {most} bytes")


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when absent, -1 when it is not a plain ASCII number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.strip()
            if not text or len(text) > 18 or not text.isdigit():
                return -1
            return int(text)
    return None
