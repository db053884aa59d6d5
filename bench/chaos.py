"""Chaos: randomized commands, clicks and Slack retries (``X-Slack-Retry-Num``) across
replicas sharing one database, one replica killed -9 (and restarted) every few seconds;
then every acked release must be stored once and announced once.

    .venv/bin/python bench/chaos.py [--requests 10000] [--replicas 3] [--kill-every 20] [--rate 50]
        [--pg URL]   (default: $WARROOM_TEST_POSTGRES_URL; without it, SQLite)

Reports: requests sent, acked, retried; releases lost (acked "started" but not stored, or
stored but never announced) and doubled (stored, started or announced more than once);
approvals doubled.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ack_latency import channel, click_body, command_body, drop_schema, pg_schema, signed, start  # noqa: E402


def main() -> int:
    """Run the chaos and print the counts."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between kill -9s")
    parser.add_argument("--rate", type=float, default=50, help="requests per second")
    parser.add_argument("--pg", default=os.environ.get("WARROOM_TEST_POSTGRES_URL"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain", type=float, default=120, help="seconds to wait for the outbox at the end")
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 (a reproducible load, not a secret)
    tmp = tempfile.mkdtemp(prefix="warroom-chaos-")
    schema = None
    if args.pg:
        db, schema = pg_schema(args.pg)
    else:
        db = f"sqlite:///{tmp}/chaos.db"
    procs: list = []
    replicas: list = []
    try:
        slack, slack_url = start("slack")
        procs.append(slack)
        api = f"{slack_url}/api/"
        # The stand-in is not Slack: pace for throughput, this run counts losses and doubles.
        env = {"WARROOM_SLACK_WORKSPACE_RATE": "500", "WARROOM_SLACK_WORKSPACE_BURST": "500",
               "WARROOM_SLACK_CHANNEL_RATE": "50", "WARROOM_SLACK_CHANNEL_BURST": "50"}
        for _ in range(args.replicas):
            replicas.append(start("warroom", api, db, "all", env=env))
        client = httpx.Client(timeout=5)
        run = uuid.uuid4().hex[:6]
        started: list[int] = []
        acked_start: set[int] = set()
        sent = acked = retried = kills = 0
        next_kill = time.monotonic() + args.kill_every
        t0 = time.monotonic()
        for n in range(args.requests):
            if time.monotonic() >= next_kill:
                k = rng.randrange(len(replicas))
                replicas[k][0].send_signal(signal.SIGKILL)
                replicas[k][0].wait(10)
                replicas[k] = start("warroom", api, db, "all", env=env)
                kills += 1
                next_kill = time.monotonic() + args.kill_every
            is_start = not started or rng.random() < 0.4
            if is_start:
                i = len(started)
                started.append(i)
                body = command_body(run, i)
            else:
                i = rng.choice(started)
                body = click_body(run, i)
            ok = False
            for attempt in range(4):  # Slack retries a request that was not acked, up to 3 times
                headers = signed(body, "application/x-www-form-urlencoded")
                if attempt:
                    headers["X-Slack-Retry-Num"] = str(attempt)
                    headers["X-Slack-Retry-Reason"] = "http_timeout"
                    retried += 1
                url = rng.choice(replicas)[1]
                sent += 1
                try:
                    resp = client.post(f"{url}/slack/events", content=body, headers=headers)
                except httpx.HTTPError:
                    continue
                if resp.status_code == 200:
                    ok = True
                    if is_start and "started" in resp.text:
                        acked_start.add(i)
                    break
            acked += ok
            if rng.random() < 0.05 and ok:  # Slack sometimes re-delivers an acked request too
                headers = signed(body, "application/x-www-form-urlencoded")
                headers["X-Slack-Retry-Num"] = "1"
                try:
                    client.post(f"{rng.choice(replicas)[1]}/slack/events", content=body, headers=headers)
                    sent += 1
                    retried += 1
                except httpx.HTTPError:
                    pass
            time.sleep(max(0.0, t0 + (n + 1) / args.rate - time.monotonic()))
        from sqlalchemy import create_engine, text

        from storage.db import normalize_url

        engine = create_engine(normalize_url(db))
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:  # let the outbox drain
            with engine.connect() as conn:
                if not conn.execute(text("SELECT count(*) FROM outbox_message WHERE sent_at IS NULL "
                                         "AND failed = false")).scalar():
                    break
            time.sleep(1)
        posts = httpx.get(f"{slack_url}/stub/posts", timeout=30).json()["posts"]
        top = Counter(p[1] for p in posts if not p[3])
        with engine.connect() as conn:
            stored = Counter(r[0] for r in conn.execute(text("SELECT version FROM release")))
            starts = Counter(r[0] for r in conn.execute(
                text("SELECT subject_id FROM audit_entry WHERE subject = 'release' AND action = 'start'")))
            approvals = conn.execute(text(
                "SELECT count(*) FROM (SELECT release_id, user_id FROM approval GROUP BY release_id, user_id "
                "HAVING count(*) > 1) d")).scalar()
            pending = conn.execute(text("SELECT count(*) FROM outbox_message WHERE sent_at IS NULL")).scalar()
            failed = conn.execute(text("SELECT count(*) FROM outbox_message WHERE failed = true")).scalar()
            stuck = conn.execute(text(
                "SELECT op, waits_for IS NOT NULL, claimed_by IS NOT NULL, not_before > now(), count(*), "
                "min(order_key) FROM outbox_message WHERE sent_at IS NULL AND failed = false "
                "GROUP BY 1, 2, 3, 4")).all() if pending and args.pg else []
        engine.dispose()
        for row in stuck:
            print("pending: op={} waiting={} claimed={} later={} count={} e.g. {}".format(*row))
        lost = [i for i in acked_start if stored[f"v{i}.0.0"] == 0 or top[channel(i)] == 0]
        doubled = [f"stored {v}" for v, c in stored.items() if c > 1] + \
            [f"started {s}" for s, c in starts.items() if c > 1] + \
            [f"announced in {c}" for c, k in top.items() if k > 1]
        if doubled:
            print("doubled:", ", ".join(doubled[:10]))
        print(f"\nchaos: {args.requests} requests ({sent} sent, {retried} Slack retries), {acked} acked, "
              f"{args.replicas} replicas, {kills} kill -9s, {'PostgreSQL' if args.pg else 'SQLite'}")
        print(f"releases acked as started: {len(acked_start)}; lost: {len(lost)}; doubled: {len(doubled)}; "
              f"approvals doubled: {approvals}; outbox rows still pending: {pending}, failed: {failed}")
    finally:
        for p in procs + [r[0] for r in replicas]:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        if schema and args.pg:
            drop_schema(args.pg, schema)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
