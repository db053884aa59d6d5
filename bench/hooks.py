"""GitHub hook ack latency and processing: deliveries of mixed event types at a fixed rate.

Starts the real bot (own process) with GITHUB_WEBHOOK_SECRET and a policy naming a check,
opens RELEASES releases with known head shas, then sends signed GitHub deliveries at RATE per
second for DURATION seconds: check_run, status, workflow_run, push, issues and star events,
MATCH_SHARE of the CI ones about a release's sha, plus 5% redeliveries of an earlier delivery id.
Prints the ack p50/p99, then waits for the inbound job and checks that every delivery was stored
once and every matching one was applied.

    .venv/bin/python bench/hooks.py [--rate 300] [--duration 30] [--db sqlite|postgresql://...]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ack_latency import command_body, drop_schema, paced, pct, pg_schema, signed, start  # noqa: E402
from storage.db import normalize_url  # noqa: E402

HOOK_SECRET = "bench-github-secret"  # noqa: S105
RELEASES = 20
MATCH_SHARE = 0.10
POLICY = "checks:\n  - {name: tests, match: 'CI / test*', required_for: canary}\n"
KINDS = ("check_run", "status", "workflow_run", "push", "issues", "star")


def sha(i: int) -> str:
    """A release's head sha."""
    return hashlib.sha1(f"release-{i}".encode()).hexdigest()  # noqa: S324 (an id, not security)


def delivery(i: int, rng: random.Random) -> tuple[str, dict, bool]:
    """(event, payload, matches a release) for delivery i."""
    kind = KINDS[i % len(KINDS)]
    hit = rng.random() < MATCH_SHARE
    head = sha(rng.randrange(RELEASES)) if hit else hashlib.sha1(str(i).encode()).hexdigest()  # noqa: S324
    repo = {"full_name": "acme/shop"}
    at = f"2026-11-28T10:{i // 60 % 60:02d}:{i % 60:02d}Z"
    if kind == "check_run":
        body = {"action": "completed", "repository": repo, "check_run": {
            "name": "CI / test (3.12)", "head_sha": head, "status": "completed", "conclusion": "success",
            "started_at": at, "completed_at": at, "html_url": f"https://github.com/acme/shop/runs/{i}",
            "output": {"title": "ok", "summary": ""}}}
        return kind, body, hit
    if kind == "status":
        return kind, {"sha": head, "context": "CI / test-status", "state": "success", "repository": repo,
                      "updated_at": at, "target_url": "https://ci.example.com"}, hit
    if kind == "workflow_run":
        return kind, {"action": "completed", "repository": repo, "workflow_run": {
            "name": "CI / test", "head_sha": head, "status": "completed", "conclusion": "success",
            "updated_at": at, "html_url": "https://github.com/acme/shop/actions/runs/1"}}, hit
    if kind == "push":
        return kind, {"ref": "refs/heads/main", "after": head, "repository": repo, "commits": [
            {"id": head, "timestamp": "2026-11-28T09:00:00Z"}]}, False
    return kind, {"action": "opened", "repository": repo, "issue": {"number": i}}, False


def main() -> int:
    """Run the bot, drive it, verify, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="warroom-bench-hooks-")
    Path(tmp, "policy.yml").write_text(POLICY)
    schema = None
    if args.db == "sqlite":
        db = f"sqlite:///{tmp}/bench.db"
    else:
        db, schema = pg_schema(args.db)
    # The edge rate limit is per client address: every delivery here comes from one.
    env = {"GITHUB_WEBHOOK_SECRET": HOOK_SECRET, "WARROOM_CONFIG": f"{tmp}/policy.yml", "WARROOM_HOOKS_RATE": "0"}
    procs = []
    try:
        slack, slack_url = start("slack")
        procs.append(slack)
        # As `warroom run` does on either database: the web process stores, `warroom worker` applies.
        bot, url = start("warroom", f"{slack_url}/api/", db, "web", env=env)
        procs.append(start("worker", f"{slack_url}/api/", db, env=env)[0])
        procs.append(bot)
        client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
        run = uuid.uuid4().hex[:8]
        for r in range(RELEASES):
            body = command_body(run, 10_000 + r).replace("risk%3Dlow", f"risk%3Dlow+sha%3D{sha(r)}+repo%3Dacme%2Fshop")
            resp = client.post(f"{url}/slack/events", content=body,
                               headers=signed(body, "application/x-www-form-urlencoded"))
            assert resp.status_code == 200 and "started" in resp.text, resp.text
        rng = random.Random(7)
        total = int(args.rate * args.duration)
        plan = [delivery(i, rng) for i in range(total)]
        ids = [str(uuid.uuid4()) for _ in range(total)]
        redeliver: dict[int, int] = {}
        for i in range(1, total):
            if rng.random() < 0.05:
                # Only an original delivery is redelivered (its id was sent before).
                originals = [j for j in (rng.randrange(i) for _ in range(5)) if j not in redeliver]
                if originals:
                    redeliver[i] = originals[0]
        latencies: list[float] = []
        errors: list[str] = []

        def one(i: int) -> None:
            j = redeliver.get(i, i)
            kind, payload, _ = plan[j]
            raw = json.dumps(payload).encode()
            sig = "sha256=" + hmac.new(HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            headers = {"X-GitHub-Event": kind, "X-GitHub-Delivery": ids[j], "X-Hub-Signature-256": sig,
                       "Content-Type": "application/json"}
            t = time.perf_counter()
            resp = client.post(f"{url}/hooks/github", content=raw, headers=headers)
            latencies.append((time.perf_counter() - t) * 1000)
            if resp.status_code != 202:
                errors.append(f"{resp.status_code} {resp.text[:100]}")

        t0 = time.perf_counter()
        paced(total, args.rate, one)
        sent_for = time.perf_counter() - t0
        client.close()
        unique = total - len(redeliver)
        expected_matched = sum(1 for i in range(total) if i not in redeliver and plan[i][2])
        engine = create_engine(normalize_url(db))
        deadline = time.time() + 120
        while True:
            with engine.connect() as conn:
                stored, done, matched = conn.execute(text(
                    "SELECT count(*), count(processed_at), sum(CASE WHEN matched THEN 1 ELSE 0 END) "
                    "FROM inbound_event")).one()
                errored = conn.execute(text("SELECT count(*) FROM inbound_event WHERE error IS NOT NULL")).scalar()
                applied = conn.execute(text("SELECT count(*) FROM release_check WHERE state = 'passed'")).scalar()
            if done == stored == unique or time.time() > deadline:
                break
            time.sleep(0.5)
        drained = time.perf_counter() - t0
        engine.dispose()
        print(f"\nGitHub hook at {args.rate:g}/s for {args.duration:g} s ({args.db.split('@')[-1]}), "
              f"sent in {sent_for:.1f} s:")
        print(f"  deliveries {total} ({total - unique} redeliveries), non-202 answers {len(errors)}"
              + (f" e.g. {errors[0]}" if errors else ""))
        print(f"  ack p50 {statistics.median(latencies):.2f} ms  p99 {pct(latencies, 99):.2f} ms  "
              f"max {max(latencies):.2f} ms")
        print(f"  stored {stored} (expected {unique}), processed {done}, matched {matched or 0} "
              f"(expected {expected_matched}), processing errors {errored}")
        print(f"  releases whose check passed: {applied}/{RELEASES}; all processed {drained:.1f} s after start")
        ok = not errors and stored == unique == done and (matched or 0) == expected_matched
        print("  OK" if ok else "  MISMATCH")
        return 0 if ok else 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)  # the bot's background work ends before its schema goes
        if schema:
            drop_schema(args.db, schema)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
