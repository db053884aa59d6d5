"""Ack latency of `/release start` and of an Approve click at a fixed request rate.

Runs warroom and a bare Bolt app (default mode, acks only) on the same server stack
(uvicorn + Starlette + Bolt) in separate processes, drives each with signed requests at
RATE per second for SECONDS, and prints p50/p99 per case.

    .venv/bin/python bench/ack_latency.py [--rate 50] [--seconds 30] [--db sqlite|URL]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx

from slackbox.actor import sign

HERE = Path(__file__).resolve().parent
SECRET = "bench-signing-secret"  # noqa: S105


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start a bench server process and wait until it listens."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    proc = subprocess.Popen([sys.executable, str(HERE / "servers.py"), args[0], str(port), *args[1:]], env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{args[0]} server did not start")


def signed(body: str, content_type: str) -> dict[str, str]:
    """Headers Slack would send with ``body``."""
    ts = str(int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(SECRET, ts, body), "Content-Type": content_type}


def command_body(i: int) -> str:
    """A `/release start` slash command for a fresh version."""
    return urlencode({"token": "t", "team_id": "T0", "channel_id": "C0RELEASES", "channel_name": "releases",
                      "user_id": "U0REQUEST", "user_name": "riley", "command": "/release",
                      "text": f"start v{i}.0.0 risk=low bench", "trigger_id": f"trig-{i}-{time.time_ns()}",
                      "response_url": "http://127.0.0.1:9/unused", "api_app_id": "A0"})


def click_body(i: int) -> str:
    """An Approve click on release v{i}.0.0 (started by the command case before)."""
    value = json.dumps({"v": f"v{i}.0.0", "s": "dev"})
    payload = {
        "type": "block_actions", "user": {"id": "U0APPROVE1", "username": "avery", "team_id": "T0"},
        "api_app_id": "A0", "token": "t", "trigger_id": f"trig-{i}", "team": {"id": "T0"},
        "container": {"type": "message", "channel_id": "C0RELEASES", "message_ts": "1.1"},
        "channel": {"id": "C0RELEASES", "name": "releases"}, "response_url": "http://127.0.0.1:9/unused",
        "actions": [{"action_id": "release_approve", "block_id": "b", "value": value, "type": "button",
                     "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)})


WARMUP = 25  # requests per case, not counted: first-request work (auth.test, statement caches)


def drive(url: str, make_body, rate: float, seconds: float) -> list[float]:  # type: ignore[no-untyped-def]
    """Open-loop load: request i is sent at t0 + i/rate whatever the earlier ones did."""
    total = int(rate * seconds) + WARMUP
    latencies: list[float] = []
    errors: list[int] = []
    client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))

    def one(i: int) -> None:
        body = make_body(i)
        headers = signed(body, "application/x-www-form-urlencoded")
        t = time.perf_counter()
        resp = client.post(f"{url}/slack/events", content=body, headers=headers)
        if i >= WARMUP:
            latencies.append((time.perf_counter() - t) * 1000)
        if resp.status_code != 200:
            errors.append(resp.status_code)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i)
    client.close()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {sorted(set(errors))}")
    return latencies


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> int:
    """Run both apps and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="warroom-bench-")
    db = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
    procs = []
    try:
        slack, slack_url = start("slack")
        procs.append(slack)
        bot, bot_url = start("warroom", f"{slack_url}/api/", db)
        procs.append(bot)
        bare, bare_url = start("bare", f"{slack_url}/api/")
        procs.append(bare)
        rows = []
        for name, url in (("bare Bolt (ack only)", bare_url), ("warroom", bot_url)):
            for case, body in (("/release start", command_body), ("Approve click", click_body)):
                lat = drive(url, body, args.rate, args.seconds)
                rows.append((name, case, len(lat), statistics.median(lat), pct(lat, 99)))
        print(f"\nack latency at {args.rate:g} req/s for {args.seconds:g} s each ({args.db}):")
        print(f"{'app':24} {'request':16} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}")
        for name, case, n, p50, p99 in rows:
            print(f"{name:24} {case:16} {n:6d} {p50:8.2f} {p99:8.2f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
