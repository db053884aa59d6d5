"""GET /api/metrics over a year of history: latency percentiles, and chart rendering time.

Fills a fresh database with DEPLOYMENTS production deployments (1-3 commits each, some
commits shipped twice, rollbacks naming earlier versions) and INCIDENTS incidents (half of
them naming a cause) spread over one year and SERVICES services, starts the real bot in its
own process, and asks /api/metrics for random windows one after another for DURATION
seconds per window length. Then renders the chart of a 90-day report a few times in-process.

    .venv/bin/python bench/metrics.py [--deployments 50000] [--incidents 2000] [--services 5]
                                      [--duration 10] [--windows 30,90,365] [--db sqlite|URL]

With a PostgreSQL URL the data goes into a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ack_latency import drop_schema, pct, pg_schema, start  # noqa: E402

TOKEN = "bench-read-token"  # noqa: S105
YEAR = datetime(2026, 1, 1, tzinfo=UTC)


def fill(url: str, deployments: int, incidents: int, services: int, seed: int = 7) -> None:
    """Write the history with bulk inserts (the API path is tested elsewhere; this is volume)."""
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.models import Deployment, DeploymentCommit, Incident, table_of

    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(seed)
    step = 365 * 86400 / deployments
    deps, commits, shipped = [], [], []
    versions: dict[str, list[str]] = {}
    for n in range(deployments):
        finished = YEAR + timedelta(seconds=n * step + rng.random() * step * 0.5)
        service = f"svc{rng.randrange(services)}"
        kind = rng.choices(("planned", "hotfix", "fix_forward", "rollback"), (80, 8, 4, 8))[0]
        own = versions.setdefault(service, [])
        rolls_back = rng.choice(own[-3:]) if kind == "rollback" and own else None
        kind = "planned" if kind == "rollback" and rolls_back is None else kind
        version = f"{service}-{n}"
        own.append(version)
        result = "success" if rng.random() < 0.93 else "failure"
        deps.append({"id": n + 1, "service": service, "environment": "production", "version": version, "kind": kind,
                     "rolls_back": rolls_back, "state": "succeeded" if result == "success" else "failed",
                     "result": result, "imported": True, "requested_by": "bench", "detail": {},
                     "started_at": finished - timedelta(minutes=rng.randint(1, 30)), "finished_at": finished,
                     "created_at": finished, "updated_at": finished, "automatic": False, "row_version": 1})
        for c in range(rng.randint(1, 3)):
            if shipped and rng.random() < 0.1:
                sha, at = rng.choice(shipped[-50:])
            else:
                sha, at = f"{n:07d}{c}", finished - timedelta(hours=rng.uniform(-1, 96))
                shipped.append((sha, at))
            commits.append({"deployment_id": n + 1, "sha": sha, "committed_at": at})
    incs = []
    for n in range(incidents):
        declared = YEAR + timedelta(seconds=rng.uniform(0, 365 * 86400))
        service = f"svc{rng.randrange(services)}"
        own = [v for v in versions[service][:: max(1, len(versions[service]) // 200)]]
        incs.append({"title": f"bench incident {n}", "severity": "P2", "status": "closed", "declared_by": "bench",
                     "commander": "bench", "channel_name": "imported", "declared_at": declared,
                     "resolved_at": declared + timedelta(minutes=rng.randint(5, 600)), "service": service,
                     "caused_by_version": rng.choice(own) if rng.random() < 0.5 else None, "imported": True,
                     "updated_at": declared, "missed_updates": 0, "row_version": 1})
    seen = set()
    commits = [c for c in commits if (c["deployment_id"], c["sha"]) not in seen
               and not seen.add((c["deployment_id"], c["sha"]))]  # type: ignore[func-returns-value]
    with engine.begin() as conn:
        for table, rows in ((Deployment, deps), (DeploymentCommit, commits), (Incident, incs)):
            for i in range(0, len(rows), 5000):
                conn.execute(insert(table_of(table)), rows[i:i + 5000])
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('deployment', 'id'), "
                              "(SELECT max(id) FROM deployment))"))
            conn.execute(text("ANALYZE"))
    engine.dispose()
    print(f"filled: {len(deps):,} deployments, {len(commits):,} commits, {len(incs):,} incidents")


def measure(url: str, days: int, duration: float, rng: random.Random, services: int) -> list[float]:
    """Ask for random windows of ``days`` days one after another for ``duration`` seconds."""
    took = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        until = time.monotonic() + duration
        while time.monotonic() < until or len(took) < 5:
            frm = YEAR + timedelta(days=rng.uniform(0, max(0, 365 - days)))
            params = {"from": frm.isoformat(), "to": (frm + timedelta(days=days)).isoformat()}
            if rng.random() < 0.5:
                params["service"] = f"svc{rng.randrange(services)}"
            t0 = time.perf_counter()
            resp = client.get("/api/metrics", params=params)
            took.append((time.perf_counter() - t0) * 1000)
            resp.raise_for_status()
    return took


def first_reports(url: str, services: int) -> list[float]:
    """Milliseconds of the first report for all services, then for each: each reads the history
    it keeps until the records change (what the first report after any change costs)."""
    took = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        for service in [None, *(f"svc{n}" for n in range(services))]:
            params = {"from": (YEAR + timedelta(days=100)).isoformat(), "to": (YEAR + timedelta(days=130)).isoformat()}
            if service:
                params["service"] = service
            t0 = time.perf_counter()
            client.get("/api/metrics", params=params).raise_for_status()
            took.append((time.perf_counter() - t0) * 1000)
    return took


def add_deployment(url: str, n: int) -> None:
    """One more deployment (with a new commit and one shipped before) of svc0, mid-year."""
    from storage.db import make_engine
    from storage.models import Deployment, DeploymentCommit, table_of

    engine = make_engine(url)
    finished = YEAR + timedelta(days=200, minutes=n)
    with engine.begin() as conn:
        dep_id = conn.execute(insert(table_of(Deployment)).returning(table_of(Deployment).c.id), {
            "service": "svc0", "environment": "production", "version": f"svc0-extra-{n}", "kind": "planned",
            "state": "succeeded", "result": "success", "imported": True, "requested_by": "bench", "detail": {},
            "started_at": finished - timedelta(minutes=5), "finished_at": finished, "created_at": finished,
            "updated_at": finished, "automatic": False, "row_version": 1}).scalar_one()
        conn.execute(insert(table_of(DeploymentCommit)), [
            {"deployment_id": dep_id, "sha": f"extra{n}", "committed_at": finished - timedelta(hours=5)},
            {"deployment_id": dep_id, "sha": "00001000", "committed_at": YEAR}])
    engine.dispose()


def chart_time(db: str, runs: int = 5) -> tuple[float, float]:
    """Milliseconds to compute a 90-day report, and to draw its chart (median of runs)."""
    from bot.app import build_services
    from bot.metrics.charts import render_png
    from bot.metrics.service import Window
    from bot.settings import load_settings

    s = build_services(load_settings(DATABASE_URL=db, SLACK_BOT_TOKEN="x", SLACK_SIGNING_SECRET="s"))
    w = Window(YEAR + timedelta(days=100), YEAR + timedelta(days=190))
    reports, charts = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        report = s.metrics.report(w)
        t1 = time.perf_counter()
        render_png(report)
        charts.append((time.perf_counter() - t1) * 1000)
        reports.append((t1 - t0) * 1000)
    s.db.engine.dispose()
    return sorted(reports)[runs // 2], sorted(charts)[runs // 2]


def main() -> int:
    """Fill, serve, measure, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--deployments", type=int, default=50_000)
    parser.add_argument("--incidents", type=int, default=2_000)
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10, help="seconds of requests per window length")
    parser.add_argument("--windows", default="30,90,365", help="window lengths in days")
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args()
    schema = None
    tmp = None
    if args.db == "sqlite":
        tmp = tempfile.mkdtemp(prefix="warroom-bench-metrics-")
        db = f"sqlite:///{tmp}/metrics.db"
    else:
        db, schema = pg_schema(args.db)
    procs = []
    try:
        t0 = time.perf_counter()
        fill(db, args.deployments, args.incidents, args.services)
        print(f"fill took {time.perf_counter() - t0:.1f} s")
        # start() strips WARROOM_* from the inherited environment: the bot's settings go in ``env``.
        # Rate 0: measure the report, not the edge's per-address rate limit.
        env = {"WARROOM_API_TOKEN": TOKEN, "WARROOM_API_RATE": "0"}
        slack, slack_url = start("slack")
        procs.append(slack)
        bot, bot_url = start("warroom", f"{slack_url}/api/", db, env=env)
        procs.append(bot)
        httpx.get(bot_url + "/healthz", timeout=30)
        rng = random.Random(1)
        backend = "PostgreSQL" if schema else "SQLite"
        cold = first_reports(bot_url, args.services)
        print(f"first report after start (reads the kept history: all services, then each): "
              f"{', '.join(f'{ms:.0f}' for ms in cold)} ms")
        print("| backend | window | requests | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
        for days in (int(d) for d in args.windows.split(",")):
            took = measure(bot_url, days, args.duration, rng, args.services)
            print(f"| {backend} | {days} days | {len(took)} | {pct(took, 50):.1f} | {pct(took, 99):.1f} "
                  f"| {max(took):.1f} |")
        after = []
        for n in range(3):
            add_deployment(db, n)
            after.append(first_reports(bot_url, args.services))
        print("first report after one more deployment (all services, then each; 3 times): "
              + "; ".join(", ".join(f"{ms:.0f}" for ms in took) for took in after) + " ms")
        report_ms, chart_ms = chart_time(db)
        print(f"90-day report in-process: {report_ms:.1f} ms; chart rendering (PNG): {chart_ms:.1f} ms")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if schema is not None:
            drop_schema(args.db, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
