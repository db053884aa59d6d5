"""Fault injection between the bot and the loopback Slack: a proxy that forwards the bot's
Web API calls to the local workspace, or answers 503, or 429 for chosen channels, or is
stopped altogether (connections refused)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slackbox import ServerHandle, serve_in_thread
from tests.e2e.conftest import Stack, stacks_of


@dataclass
class Faults:
    """What the proxy does to the next calls; every call that reached it is logged."""

    mode: str = "ok"  # "ok", or "503" for every call
    ratelimited: set[str] = field(default_factory=set)  # channels whose chat.postMessage answers 429
    retry_after: int = 1
    # Methods whose next call is carried out but whose answer is lost (a 504 comes back).
    lose_answer: set[str] = field(default_factory=set)
    # When set, a lost answer is held until this event is set (the bot waits on the call meanwhile).
    hold_answer: threading.Event | None = None
    log: list[tuple[float, str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str, channel: str | None = None) -> list[float]:
        """When ``method`` (to ``channel``) reached the proxy."""
        with self.lock:
            return [t for t, m, c in self.log if m == method and (channel is None or c == channel)]


def _channel(body: bytes, content_type: str) -> str | None:
    try:
        args = json.loads(body) if "json" in content_type else dict(parse_qsl(body.decode()))
    except (ValueError, UnicodeDecodeError):
        return None
    return args.get("channel") if isinstance(args, dict) else None


def proxy_app(faults: Faults, upstream: str) -> Starlette:
    """The fault-injecting proxy in front of the workspace's /api."""
    client = httpx.AsyncClient(base_url=upstream, timeout=10)

    async def api(request: Request) -> Response:
        method = request.path_params["method"]
        body = await request.body()
        ctype = request.headers.get("content-type", "")
        channel = _channel(body, ctype)
        with faults.lock:
            faults.log.append((time.monotonic(), method, channel))
        if faults.mode == "503":
            return Response("<html>Service Unavailable</html>", status_code=503, media_type="text/html")
        if method == "chat.postMessage" and (channel in faults.ratelimited or "*" in faults.ratelimited):
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                headers={"Retry-After": str(faults.retry_after)})
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization")}
        resp = await client.post(f"/api/{method}", content=body, headers=headers)
        if method in faults.lose_answer:
            faults.lose_answer.discard(method)
            if faults.hold_answer:
                await asyncio.to_thread(faults.hold_answer.wait, 30)
            return Response("<html>Gateway Timeout</html>", status_code=504, media_type="text/html")
        return Response(resp.content, status_code=resp.status_code,
                        media_type=resp.headers.get("content-type", "application/json"))

    return Starlette(routes=[Route("/api/{method}", api, methods=["POST"])])


@dataclass
class FaultStack(Stack):
    """A Stack whose bot reaches Slack through the fault proxy."""

    faults: Faults = field(default_factory=Faults)
    proxy: ServerHandle | None = None
    proxy_port: int = 0

    def start_proxy(self) -> None:
        """Serve the proxy (again, on the same port after stop_proxy)."""
        self.proxy = serve_in_thread(proxy_app(self.faults, self.workspace.handle.url), port=self.proxy_port)
        self.proxy_port = self.proxy.port

    def stop_proxy(self) -> None:
        """Stop the proxy: the bot's connections to Slack are refused."""
        if self.proxy:
            self.proxy.stop()
            self.proxy = None

    def slack_api_url(self) -> str:
        """The proxy (started first if it is not running)."""
        if self.proxy is None:
            self.start_proxy()
        return f"http://127.0.0.1:{self.proxy_port}/api/"

    def close(self) -> None:
        """Stop the bot, the workspace and the proxy."""
        super().close()
        self.stop_proxy()


@pytest.fixture
def make_fault_stack(database_url: str, tmp_path: Path) -> Iterator[Callable[..., FaultStack]]:
    """Start a workspace, the proxy and the bot with extra environment settings."""
    yield from stacks_of(FaultStack, database_url, tmp_path)


def posted_texts(stack: Stack, channel: str) -> list[str]:
    """Every bot message in ``channel``, thread replies included, oldest first."""
    return [m["text"] for m in stack.ws.messages(channel, include_replies=True) if m.get("bot_id")]



class TcpForwarder:
    """A loopback TCP port that forwards to the database; ``down()`` refuses new connections
    and cuts open ones, as a PostgreSQL restart does, ``up()`` serves again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        """Listen (again) and forward."""
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and close every forwarded connection."""
        if self._server:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()
