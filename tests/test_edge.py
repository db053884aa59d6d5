"""EdgeLimits: body limits and per-source rates by path prefix, on a real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.edge import EdgeLimits, Limit, RateLimiter
from slackbox import serve_in_thread


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # another source, another bucket
    clock.now = 0.5
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0


def test_the_bucket_table_is_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock, max_sources=100)
    for i in range(1000):
        clock.now += 0.001
        limiter.take(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) <= 100  # noqa: SLF001


def test_prefixes_cover_their_subtree_and_the_longest_wins() -> None:
    edge = EdgeLimits(lambda *a: None, [Limit("/", 10), Limit("/hooks", 20), Limit("/hooks/big", 30)])  # type: ignore[arg-type]
    assert [edge.limit_for(p).max_body for p in ("/x", "/hooks", "/hooks/a", "/hooksx", "/hooks/big/1")] == [  # type: ignore[union-attr]
        10, 20, 20, 10, 30]
    assert EdgeLimits(lambda *a: None, [Limit("/api", 1)]).limit_for("/other") is None  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[tuple[str, list[int]]]:
    reads: list[int] = []

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        reads.append(len(body))
        return JSONResponse({"bytes": len(body)})

    limits = [Limit("/", 1000), Limit("/hooks", 5000, rate=0.05, burst=2)]
    app = Starlette(routes=[Route("/{path:path}", echo, methods=["POST"])],
                    middleware=[Middleware(EdgeLimits, limits=limits)])
    handle = serve_in_thread(app)
    try:
        yield handle.url, reads
    finally:
        handle.stop()


def test_declared_lengths_over_the_limit_are_413_unread(server: tuple[str, list[int]]) -> None:
    url, reads = server
    assert httpx.post(url + "/api/x", content=b"a" * 1000).json() == {"bytes": 1000}
    answer = httpx.post(url + "/api/x", content=b"a" * 1001)
    assert answer.status_code == 413 and "1000 bytes" in answer.json()["error"]
    assert reads == [1000]  # the route never saw the big one


def test_streamed_bodies_are_counted_as_they_arrive(server: tuple[str, list[int]]) -> None:
    url, reads = server

    def chunks(n: int) -> Iterator[bytes]:
        for _ in range(n):
            yield b"b" * 300

    assert httpx.post(url + "/api/x", content=chunks(3)).json() == {"bytes": 900}
    assert httpx.post(url + "/api/x", content=chunks(50)).status_code == 413
    assert reads == [900]


def test_hooks_have_their_own_body_limit_and_rate(server: tuple[str, list[int]]) -> None:
    url, _ = server
    assert httpx.post(url + "/hooks/a", content=b"c" * 4000).status_code == 200
    limited = httpx.post(url + "/hooks/a", content=b"c")
    assert limited.status_code == 200
    limited = httpx.post(url + "/hooks/a", content=b"c")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert httpx.post(url + "/api/a", content=b"c").status_code == 200  # other prefixes are not rate limited
