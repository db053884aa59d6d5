"""Ack latency of `/release start` and of an Approve click at a fixed request rate, for a
bare Bolt app and for warroom on SQLite and on PostgreSQL, in one run.

Each release is started in its own channel, so the sender is busy posting to hundreds of
channels while we measure (one channel would let pacing keep it idle), and every request
carries its own trigger_id (they are idempotency keys). Delivery and due work run in a
separate `warroom worker` process, as `warroom run` does. Each server runs in its own process, and each
backend's servers are stopped before the next backend is measured.

    .venv/bin/python bench/ack_latency.py [--rate 50] [--duration 15] [--backends sqlite,postgres]
        [--pg postgresql://postgres@127.0.0.1:5432/test]   (default: $WARROOM_TEST_POSTGRES_URL)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from slackbox.actor import sign

HERE = Path(__file__).resolve().parent
SECRET = "bench-signing-secret"  # noqa: S105


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str, env: dict[str, str] | None = None,
          log: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a bench server process (with extra settings ``env``, its output appended to ``log``
    if given, else to ours) and wait until it listens (a worker listens once it runs, so no load
    starts while it is still starting up)."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_", "DATABASE_URL"))}
    env = {**base, **(env or {}), "PYTHONPATH": str(HERE.parent)}
    out = open(log, "ab") if log else None  # noqa: SIM115 - closed below; the child has its own copy
    try:
        proc = subprocess.Popen([sys.executable, str(HERE / "servers.py"), args[0], str(port), *args[1:]], env=env,
                                stdout=out, stderr=subprocess.STDOUT if out else None)
    finally:
        if out:
            out.close()
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


def channel(i: int) -> str:
    """Release i's own channel."""
    return f"CB{i:07d}"


def command_body(run: str, i: int) -> str:
    """A `/release start` slash command for a fresh version, in its own channel."""
    return urlencode({"token": "t", "team_id": "T0", "channel_id": channel(i), "channel_name": f"bench-{i}",
                      "user_id": "U0REQUEST", "user_name": "riley", "command": "/release",
                      "text": f"start v{i}.0.0 risk=low bench", "trigger_id": f"trig-{run}-c{i}",
                      "response_url": "http://127.0.0.1:9/unused", "api_app_id": "A0"})


def click_body(run: str, i: int) -> str:
    """An Approve click on release v{i}.0.0 (started by the command case before)."""
    value = json.dumps({"v": f"v{i}.0.0", "s": "dev"})
    payload = {
        "type": "block_actions", "user": {"id": "U0APPROVE1", "username": "avery", "team_id": "T0"},
        "api_app_id": "A0", "token": "t", "trigger_id": f"trig-{run}-a{i}", "team": {"id": "T0"},
        "container": {"type": "message", "channel_id": channel(i), "message_ts": "1.1"},
        "channel": {"id": channel(i), "name": f"bench-{i}"}, "response_url": "http://127.0.0.1:9/unused",
        "actions": [{"action_id": "release_approve", "block_id": "b", "value": value, "type": "button",
                     "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)})


WARMUP = 25  # requests per case, not counted: first-request work (auth.test, statement caches)


def paced(total: int, rate: float, call: Callable[[int], object], workers: int = 32) -> None:
    """Open-loop load: ``call(i)`` starts at t0 + i/rate whatever the earlier calls did. A call
    that raised fails the run (a pool drops what its tasks raise, and a lost request must not
    simply be missing from the figures)."""
    futures: list[Future[object]] = []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(call, i))
    raised = [exc for f in futures if (exc := f.exception()) is not None]
    if raised:
        raise RuntimeError(f"{len(raised)} of {total} requests raised; the first: {raised[0]!r}")


class Keepalive:
    """POSTs over one keep-alive connection per load thread, timed from the request's first byte
    to the answer's last. http.client, not httpx: the client shares these cores with the server,
    and httpx's own work per request (about 1.2 ms here) would be timed as the server's."""

    IDLE = 4.0  # uvicorn closes a connection idle for 5 s; reopen (untimed) before that

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.local = threading.local()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        """(status, milliseconds) of one POST."""
        conn, used = getattr(self.local, "conn", (None, 0.0))
        if conn is None or time.monotonic() - used > self.IDLE:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            conn.connect()
        t = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        elapsed = (time.perf_counter() - t) * 1000
        self.local.conn = (conn, time.monotonic())
        return resp.status, elapsed


def drive(url: str, make_body, rate: float, seconds: float, run: str) -> list[float]:  # type: ignore[no-untyped-def]
    """Send ``make_body(run, i)`` at ``rate`` for ``seconds`` (plus the warm-up); the latencies in ms."""
    total = int(rate * seconds) + WARMUP
    latencies: list[float] = []
    errors: list[int] = []
    client = Keepalive(url)

    def one(i: int) -> None:
        body = make_body(run, i)
        status, ms = client.post("/slack/events", body.encode(), signed(body, "application/x-www-form-urlencoded"))
        if i >= WARMUP:
            latencies.append(ms)
        if status != 200:
            errors.append(status)

    paced(total, rate, one)
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {sorted(set(errors))}")
    return latencies


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def pg_schema(base: str) -> tuple[str, str]:
    """A fresh schema on the PostgreSQL server: (its URL, its name)."""
    from sqlalchemy import create_engine, text

    from storage.db import normalize_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    """Remove a schema made by pg_schema."""
    from sqlalchemy import create_engine, text

    from storage.db import normalize_url

    admin = create_engine(normalize_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Row = tuple[str, str, int, float, float, float]  # app, request, n, p50, p99, server CPU ms per request


def measure(name: str, url: str, pid: int, args: argparse.Namespace, rows: list[Row]) -> None:
    """Drive both request kinds against ``url`` (served by process ``pid``) and add their rows."""
    run = uuid.uuid4().hex[:8]
    for case, body in (("/release start", command_body), ("Approve click", click_body)):
        cpu = cpu_seconds(pid)
        lat = drive(url, body, args.rate, args.duration, run)
        # Per request served, warm-up included: where the latency goes when it is not waiting.
        per_request = (cpu_seconds(pid) - cpu) * 1000 / (len(lat) + WARMUP)
        rows.append((name, case, len(lat), statistics.median(lat), pct(lat, 99), per_request))


def main() -> int:
    """Run every app and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50, help="requests per second")
    # 15 s: every release is started before any is approved, and past 1,024 starts (20 s at 50/s) the
    # Approves no longer find their release in the process's cache (bot.releases.known) and read it
    # first, as after a restart: a real team approves what it started minutes ago.
    parser.add_argument("--duration", "--seconds", type=float, default=15, help="seconds per case")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg", default=os.environ.get("WARROOM_TEST_POSTGRES_URL"), help="PostgreSQL URL")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    unknown = sorted(set(backends) - {"sqlite", "postgres"})
    if unknown:
        # bare Bolt always runs: it is what the other figures are divided by.
        parser.error(f"--backends takes sqlite and/or postgres, not {', '.join(unknown)}")
    if "postgres" in backends and not args.pg:
        print("no PostgreSQL URL (--pg or WARROOM_TEST_POSTGRES_URL): skipping postgres", file=sys.stderr)
        backends.remove("postgres")
    tmp = tempfile.mkdtemp(prefix="warroom-bench-")
    procs: list[subprocess.Popen[bytes]] = []
    schemas: list[str] = []
    rows: list[Row] = []
    try:
        slack, slack_url = start("slack")
        procs.append(slack)
        api = f"{slack_url}/api/"
        bare, bare_url = start("bare", api)
        procs.append(bare)
        measure("bare Bolt (ack only)", bare_url, bare.pid, args, rows)
        for backend in backends:
            if backend == "sqlite":
                db = f"sqlite:///{tmp}/bench.db"
            else:
                db, schema = pg_schema(args.pg)
                schemas.append(schema)
            # As `warroom run` does: the web process serves requests, `warroom worker` delivers.
            bot, bot_url = start("warroom", api, db, "web")
            procs.append(bot)
            procs.append(start("worker", api, db)[0])
            measure(f"warroom {backend}", bot_url, bot.pid, args, rows)
            # Stopped before the next backend is measured: its worker would still be delivering this
            # backlog and be timed as the next one's load.
            stop(procs[-2:])
            del procs[-2:]
        bare_p50 = {case: p50 for name, case, _, p50, _, _ in rows if name.startswith("bare")}
        print(f"\nack latency at {args.rate:g} req/s for {args.duration:g} s per case:")
        print(f"{'app':24} {'request':16} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'p50/bare':>9} {'CPU ms/req':>11}")
        for name, case, n, p50, p99, cpu in rows:
            print(f"{name:24} {case:16} {n:6d} {p50:8.2f} {p99:8.2f} {p50 / bare_p50[case]:9.2f} {cpu:11.2f}")
    finally:
        stop(procs)
        for schema in schemas:
            drop_schema(args.pg, schema)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate bench servers and wait for them to exit."""
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(10)


if __name__ == "__main__":
    sys.exit(main())
