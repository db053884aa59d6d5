"""Resident memory of a real `warroom serve` process stays bounded under 20 parallel 10 MB posts
(before the body limit, ten such posts took the process from 87 to 304 MB)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

POSTS, SIZE, CHUNK = 20, 10 * 1024 * 1024, 64 * 1024
MAX_GROWTH_MB = 60  # 20 buffered bodies would be over 200 MB


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_mb(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def _post(port: int, path: str, chunked: bool, statuses: list[int | None]) -> None:
    """Send a 10 MB body (declared, or streamed in chunks without a length) and record the status."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {SIZE}"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    status: int | None = None
    try:
        sock.sendall(head.encode())
        piece = b"a" * CHUNK
        for _ in range(SIZE // CHUNK):
            sock.sendall(f"{CHUNK:x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed before the body was all sent: what we want
    try:
        line = sock.recv(4096).split(b"\r\n", 1)[0]
        status = int(line.split()[1]) if line.startswith(b"HTTP/1.1") else None
    except (OSError, ValueError, IndexError):
        status = None
    finally:
        sock.close()
    statuses.append(status)


@pytest.fixture
def server(tmp_path: Path):  # noqa: ANN201 - yields (process, port)
    port = _free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "SLACK_BOT_TOKEN": "xoxb-memory",
           "SLACK_SIGNING_SECRET": "memory-secret", "WARROOM_API_TOKEN": "memory-token",
           "DATABASE_URL": f"sqlite:///{tmp_path}/warroom.db", "SLACK_API_URL": "http://127.0.0.1:9/api/"}
    code = f"import sys; from bot.cli import main; sys.exit(main(['serve', '--host', '127.0.0.1', '--port', '{port}']))"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("warroom serve did not start")
        time.sleep(0.2)
    try:
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_resident_memory_bounded_under_20_parallel_10mb_posts(server) -> None:  # noqa: ANN001
    proc, port = server
    for path in ("/slack/events", "/api/releases", "/hooks/x"):  # warm every route up first
        httpx.post(f"http://127.0.0.1:{port}{path}", content=b"{}", timeout=10)
    before = _memory_mb(proc.pid)
    statuses: list[int | None] = []
    # Declared lengths go to every prefix; streamed bodies go where the route reads them (the Slack
    # route), so the bytes are counted as they arrive.
    declared = ["/slack/events", "/api/releases", "/hooks/github"]
    threads = [threading.Thread(target=_post, args=(port, "/slack/events" if i % 2 else declared[i % 3], i % 2 == 1,
                                                    statuses)) for i in range(POSTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    after = _memory_mb(proc.pid)
    growth = after["VmHWM"] - max(before["VmRSS"], 0)
    print(f"RSS before {before['VmRSS']:.0f} MB, peak after {after['VmHWM']:.0f} MB (+{growth:.0f} MB), "
          f"{POSTS} posts of {SIZE >> 20} MB in {time.monotonic() - started:.1f}s, statuses {statuses}")
    assert len(statuses) == POSTS
    assert all(s is None or s == 413 for s in statuses), statuses
    assert statuses.count(413) >= POSTS // 2  # most clients read their 413 (some see the connection close first)
    assert growth < MAX_GROWTH_MB
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
