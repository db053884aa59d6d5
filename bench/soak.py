"""Soak: hours of steady load with hundreds of open war rooms, watching memory, file
descriptors and ack latency of the web process (and the worker on PostgreSQL).

    .venv/bin/python bench/soak.py [--duration 3600] [--rate 10] [--rooms 200] [--interval 60]
        [--db sqlite|postgres] [--pg URL] [--report 300]

Pass: resident memory grows < 10% after the warm-up (5 minutes, or a quarter of a short run),
no file-descriptor growth, ack p99 of the last window (10 minutes, or a quarter) within 20%
of the first window's. A timeline line per ``--report`` seconds shows where a drift comes from:
ack p50/p99, CPU used by each process and PostgreSQL's, and the tables read by sequential scans.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ack_latency import click_body, command_body, drop_schema, pct, pg_schema, signed, start  # noqa: E402
from soak_timeline import Timeline  # noqa: E402


def rss_kb(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fds(pid: int) -> int:
    """Open file descriptors of a process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def declare_body(i: int) -> str:
    """`/incident declare` in the incidents channel."""
    return urlencode({"token": "t", "team_id": "T0", "channel_id": "C0INCIDENTS", "channel_name": "incidents",
                      "user_id": "U0ONCALL", "user_name": "oncall", "command": "/incident",
                      "text": f"declare P2 soak room {i}", "trigger_id": f"soak-d{i}-{uuid.uuid4().hex[:6]}",
                      "response_url": "http://127.0.0.1:9/unused", "api_app_id": "A0"})


def main() -> int:
    """Run the soak and print the verdicts."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=3600, help="seconds of load")
    parser.add_argument("--rate", type=float, default=10, help="requests per second")
    parser.add_argument("--rooms", type=int, default=200, help="open war rooms")
    parser.add_argument("--interval", type=int, default=60, help="war-room status cadence, seconds")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--pg", default=os.environ.get("WARROOM_TEST_POSTGRES_URL"))
    parser.add_argument("--report", type=float, default=300, help="seconds per timeline line")
    args = parser.parse_args()
    env = {"WARROOM_STATUS_INTERVAL": str(args.interval), "WARROOM_INCIDENTS_CHANNEL": "C0INCIDENTS"}
    tmp = tempfile.mkdtemp(prefix="warroom-soak-")
    procs, schema, timeline = [], None, None
    try:
        slack, slack_url = start("slack")
        procs.append(slack)
        api = f"{slack_url}/api/"
        if args.db == "sqlite":
            db = f"sqlite:///{tmp}/soak.db"
            bot, url = start("warroom", api, db, "all", env=env, log=f"{tmp}/web+worker.log")
            procs.append(bot)
            watched = [bot.pid]
            names = {"web+worker": bot.pid}
        else:
            if not args.pg:
                raise SystemExit("--pg URL (or WARROOM_TEST_POSTGRES_URL) is needed for --db postgres")
            db, schema = pg_schema(args.pg)
            bot, url = start("warroom", api, db, "web", env=env, log=f"{tmp}/web.log")
            worker = start("worker", api, db, env=env, log=f"{tmp}/worker.log")[0]
            procs += [bot, worker]
            watched = [bot.pid, worker.pid]
            names = {"web": bot.pid, "worker": worker.pid}
        client = httpx.Client(timeout=10)

        def send(body: str) -> float:
            t = time.perf_counter()
            resp = client.post(f"{url}/slack/events", content=body,
                               headers=signed(body, "application/x-www-form-urlencoded"))
            if resp.status_code != 200:
                raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:200]}")
            return (time.perf_counter() - t) * 1000

        for i in range(args.rooms):
            send(declare_body(i))
        print(f"{args.rooms} war rooms declared; soaking for {args.duration:g} s at {args.rate:g} req/s "
              f"(the servers log to {tmp}/*.log)", flush=True)
        samples: list[tuple[float, list[int], list[int]]] = []
        lat: list[tuple[float, float]] = []
        lock = threading.Lock()
        print("timeline (acks, CPU seconds used per window" + (", rows read by table scans" if schema else "")
              + "):", flush=True)
        timeline = Timeline(names, db, schema)
        next_report = args.report
        t0 = time.monotonic()
        run = uuid.uuid4().hex[:6]
        i = 0
        next_sample = t0
        while (now := time.monotonic()) - t0 < args.duration:
            if now - t0 >= next_report:
                timeline.window(next_report - args.report, next_report,
                                [ms for t, ms in lat if next_report - args.report <= t < next_report])
                next_report += args.report
            if now >= next_sample:
                samples.append((now - t0, [rss_kb(p) for p in watched], [fds(p) for p in watched]))
                next_sample += 10
            body = command_body(run, i // 2) if i % 2 == 0 else click_body(run, i // 2)
            ms = send(body)
            with lock:
                lat.append((now - t0, ms))
            i += 1
            time.sleep(max(0.0, t0 + i / args.rate - time.monotonic()))
        samples.append((time.monotonic() - t0, [rss_kb(p) for p in watched], [fds(p) for p in watched]))
        if next_report - args.report < args.duration:
            timeline.window(next_report - args.report, args.duration,
                            [ms for t, ms in lat if t >= next_report - args.report])
        timeline.tables()
        warm = min(300.0, args.duration / 4)
        window = min(600.0, args.duration / 4)
        base = next(s for s in samples if s[0] >= warm)
        last = samples[-1]
        first_win = [ms for t, ms in lat if warm <= t < warm + window]
        last_win = [ms for t, ms in lat if t >= args.duration - window]
        print(f"\nsoak: {len(lat)} requests over {args.duration:g} s, {args.rooms} rooms, cadence {args.interval} s")
        for k, pid in enumerate(watched):
            growth = (last[1][k] - base[1][k]) / max(base[1][k], 1) * 100
            print(f"process {pid}: RSS {base[1][k] / 1024:.1f} -> {last[1][k] / 1024:.1f} MiB ({growth:+.1f}%, "
                  f"{'ok' if growth < 10 else 'FAIL'}); fds {base[2][k]} -> {last[2][k]} "
                  f"({'ok' if last[2][k] <= base[2][k] + 2 else 'FAIL'})")
        p_first, p_last = pct(first_win, 99), pct(last_win, 99)
        print(f"ack p50 {statistics.median(x for _, x in lat):.2f} ms; p99 first window {p_first:.2f} ms, "
              f"last window {p_last:.2f} ms ({'ok' if p_last <= p_first * 1.2 else 'FAIL'})")
    finally:
        if timeline is not None:
            timeline.close()
        for p in procs:
            p.terminate()
            p.wait(10)
        if schema and args.pg:
            drop_schema(args.pg, schema)
        # The database goes; the servers' logs stay where the run said they are.
        for leftover in Path(tmp).glob("soak.db*"):
            leftover.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
