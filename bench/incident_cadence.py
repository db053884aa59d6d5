"""War-room cadence under load: N open incidents, one status update each per interval.

Starts a loopback Slack stand-in and the bot (separate processes), declares N incidents
with signed `/incident declare` commands spread evenly over one interval, lets the bot run
for DURATION seconds, then checks against the stand-in's record of what was posted:
every status update posted exactly once, and how late each was against its due time.

    .venv/bin/python bench/incident_cadence.py [--incidents 1000] [--interval 60] [--duration 300]
                                               [--db sqlite|URL] [--workspace-rate 20]

The bot paces what it sends to Slack (WARROOM_SLACK_WORKSPACE_RATE, 20 calls/s by default).
1,000 war rooms on a 60 s cadence need about 33 calls a second (each update posts and refreshes
the pinned summary), more than that budget; ``--workspace-rate`` sets it, so a run can tell
the budget's share of the lateness from the bot's own (on 2026-11-29, 200 calls/s changed nothing).
"""

from __future__ import annotations

import argparse
import calendar
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ack_latency import paced, pct, signed, start  # noqa: E402

STATUS = re.compile(r"Status update: incident #(\d+)")


def declare_body(i: int) -> str:
    """`/incident declare P2 ...` as Slack sends it."""
    return urlencode({"token": "t", "team_id": "T0", "channel_id": "C0INCIDENTS", "channel_name": "incidents",
                      "user_id": "U0ONCALL", "user_name": "drew", "command": "/incident",
                      "text": f"declare P2 bench incident {i}", "trigger_id": f"bench-{i}-{time.time_ns()}",
                      "response_url": "http://127.0.0.1:9/unused", "api_app_id": "A0"})


def epoch(value: object) -> float:
    """Seconds since the epoch of a naive-UTC timestamp as the database returns it."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return calendar.timegm(at.utctimetuple()) + at.microsecond / 1e6


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    """Run the scenario and print the figures; exit 1 when an update was doubled or missed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--duration", type=int, default=300)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--workspace-rate", type=float, default=20.0, help="WARROOM_SLACK_WORKSPACE_RATE")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="warroom-cadence-")
    db = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
    # Passed to the server itself: start() leaves the bench's own WARROOM_* settings out.
    settings = {"WARROOM_STATUS_INTERVAL": str(args.interval), "WARROOM_INCIDENTS_CHANNEL": "C0INCIDENTS",
                "WARROOM_SLACK_CHANNEL_RATE": "1", "WARROOM_SLACK_WORKSPACE_RATE": str(args.workspace_rate)}
    slack, slack_url = start("slack")
    bot, bot_url = start("warroom", f"{slack_url}/api/", db, env=settings)
    client = httpx.Client(timeout=10)
    try:
        t0 = time.time()

        def declare(i: int) -> None:
            body = declare_body(i)
            resp = client.post(f"{bot_url}/slack/events", content=body,
                               headers=signed(body, "application/x-www-form-urlencoded"))
            if resp.status_code != 200:
                raise RuntimeError(f"declaring incident {i}: HTTP {resp.status_code}")

        paced(args.incidents, args.incidents / args.interval, declare, workers=8)
        time.sleep(max(0.0, t0 + args.duration - time.time()))
        end = time.time()
        posts = client.get(f"{slack_url}/stub/posts").json()["posts"]
        memory = peak_rss_mib(bot.pid)
    finally:
        bot.terminate()
        bot.wait(30)
        slack.terminate()
        slack.wait(10)

    engine = create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        declared = {row.id: row.declared_at for row in conn.execute(text("SELECT id, declared_at FROM incident"))}
        claims: dict[int, list[datetime]] = defaultdict(list)
        for row in conn.execute(text("SELECT subject_id, at FROM audit_entry WHERE action = 'status_update' "
                                     "ORDER BY id")):
            claims[row.subject_id].append(row.at)
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)  # the SQLite file, read above
    received: dict[int, list[float]] = defaultdict(list)
    for at, _channel, posted, _thread in posts:  # as the Slack stand-in records them
        match = STATUS.search(posted)
        if match:
            received[int(match.group(1))].append(at)

    lateness, doubled, missed, total = [], 0, 0, 0
    for incident_id, declared_at in declared.items():
        sent = sorted(received.get(incident_id, []))
        done = claims.get(incident_id, [])
        total += len(sent)
        doubled += max(0, len(sent) - len(done))
        # Due times: a full interval after the declaration, then after each update.
        due = [epoch(declared_at) + args.interval] + [epoch(c) + args.interval for c in done[:-1]]
        for at, should in zip(sent, due, strict=False):
            lateness.append(at - should)
        expected = int((end - epoch(declared_at)) // args.interval)
        missed += max(0, expected - 1 - len(sent))  # the last one may be in flight at the cut-off
        doubled += sum(1 for a, b in zip(sent, sent[1:], strict=False) if b - a < args.interval / 2)

    print(f"\n{len(declared)} incidents, interval {args.interval}s, {args.duration}s run ({args.db}, "
          f"workspace budget {args.workspace_rate:g} calls/s)")
    print(f"status updates posted: {total}; doubled: {doubled}; missing: {missed}")
    if lateness:
        print(f"lateness vs due time: p50 {pct(lateness, 50):.2f}s  p99 {pct(lateness, 99):.2f}s  "
              f"max {max(lateness):.2f}s")
    print(f"bot process peak memory (VmHWM): {memory:.0f} MiB")
    return 0 if not doubled and not missed and len(declared) == args.incidents else 1


if __name__ == "__main__":
    sys.exit(main())
