"""A year of random history imported through the API; every figure of /api/metrics for 20
random windows equals a straightforward computation written here, independently of bot.metrics."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack

YEAR = datetime(2025, 1, 1, tzinfo=UTC)
SERVICES = ("shop", "api")
CHANGES = ("planned", "hotfix", "fix_forward")
FIELDS = ("deployments", "deployment_frequency_per_week", "lead_time_hours_median", "change_failure_rate",
          "failed_deployment_recovery_hours_median", "rework_rate", "rollback_rate", "rollback_minutes_median",
          "success_rate", "mttr_hours_median")


@dataclass
class D:
    n: int
    service: str
    env: str
    version: str
    kind: str
    result: str
    started: datetime
    finished: datetime
    rolls_back: str | None = None
    commits: list[tuple[str, datetime]] = field(default_factory=list)


@dataclass
class I:  # noqa: E742
    service: str
    declared: datetime
    resolved: datetime | None
    cause: str | None


def generate(rng: random.Random) -> tuple[list[D], list[I]]:
    """About 300 deployments and 40 incidents over a year, with every kind of awkward case."""
    deps: list[D] = []
    shas: list[tuple[str, datetime]] = []
    t = YEAR
    for n in range(300):
        t += timedelta(minutes=rng.randint(30, 2500))
        service = rng.choice(SERVICES)
        env = "production" if rng.random() < 0.85 else "staging"
        kind = rng.choices(("planned", "hotfix", "fix_forward", "rollback"), (6, 2, 1, 2))[0]
        result = "success" if rng.random() < 0.85 else "failure"
        started = t - timedelta(minutes=rng.randint(0, 40))
        earlier = [d.version for d in deps if d.service == service]
        if kind == "rollback" and earlier:
            rolls_back = rng.choice(earlier[-5:])
            version = rng.choice(earlier)
        else:
            kind = "planned" if kind == "rollback" else kind
            rolls_back, version = None, f"{service}-{n}"
        commits = []
        for _ in range(rng.randint(0, 3)):
            if shas and rng.random() < 0.3:  # shipped before (or also by another deployment)
                commits.append(rng.choice(shas[-10:]))
            else:
                # Mostly before the deployment; sometimes after it (non-positive: left out).
                sha = (f"c{n}x{len(commits)}", t - timedelta(minutes=rng.randint(-60, 5000)))
                shas.append(sha)
                commits.append(sha)
        deps.append(D(n, service, env, version, kind, result, started, t, rolls_back, list(dict(commits).items())))
    incs = []
    for _ in range(40):
        declared = YEAR + timedelta(minutes=rng.randint(0, 365 * 1440))
        resolved = declared + timedelta(minutes=rng.randint(5, 3000)) if rng.random() < 0.85 else None
        service = rng.choice(SERVICES)
        known = [d.version for d in deps if d.service == service and d.finished <= declared]
        cause = rng.choice(known[-4:]) if known and rng.random() < 0.6 else (
            "never-deployed" if rng.random() < 0.1 else None)
        incs.append(I(service, declared, resolved, cause))
    return deps, incs


def _median(values: list[float]) -> float | None:
    return median(values) if values else None


def expected(deps: list[D], incs: list[I], start: datetime, end: datetime, service: str | None) -> dict[str, Any]:
    """The README's definitions, computed the slow, obvious way."""
    prod = [d for d in deps if d.env == "production" and (service is None or d.service == service)]

    def within(t: datetime | None) -> bool:
        return t is not None and start <= t < end

    def named(version: str, svc: str, when: datetime, skip: D | None = None, changes_only: bool = False) -> D | None:
        found = [d for d in prod if d.version == version and d.service == svc and d.finished <= when and d is not skip
                 and (d.kind in CHANGES or not changes_only)]
        return max(found, key=lambda d: (d.finished, d.n)) if found else None

    changes = [d for d in prod if d.kind in CHANGES and within(d.finished)]
    ok = [d for d in changes if d.result == "success"]
    rollbacks = [d for d in prod if d.kind == "rollback" and within(d.finished)]
    causing = [i for i in incs if i.cause and (service is None or i.service == service)]
    failed, recovery = 0, []
    for c in changes:
        failures = [c.finished] if c.result == "failure" else []
        ends = []
        for r in prod:
            if r.kind == "rollback" and r.rolls_back and named(r.rolls_back, r.service, r.finished, r) is c:
                failures.append(r.started)
        for i in causing:
            if named(i.cause or "", i.service, i.declared, changes_only=True) is c:
                failures.append(i.declared)
                if i.resolved:
                    ends.append(i.resolved)
        if not failures:
            continue
        failed += 1
        first = min(failures)
        fixes = [d.finished for d in prod if d.service == c.service and d.kind in ("rollback", "fix_forward")
                 and d.result == "success" and d.finished > first]
        ends += [min(fixes)] if fixes else []
        if ends:
            recovery.append((min(ends) - first).total_seconds() / 3600)
    lead = []
    for d in ok:
        for sha, committed in d.commits:
            shipped = [e for e in prod if e.kind in CHANGES and e.result == "success" and e.service == d.service
                       and sha in dict(e.commits)]
            if min(shipped, key=lambda e: (e.finished, e.n)) is d and d.finished > committed:
                lead.append((d.finished - committed).total_seconds() / 3600)
    successful = ok + [r for r in rollbacks if r.result == "success"]
    days = (end - start).total_seconds() / 86400
    resolved = [i for i in incs if within(i.resolved) and (service is None or i.service == service)]
    return {
        "deployments": len(ok),
        "deployment_frequency_per_week": len(ok) * 7 / days,
        "lead_time_hours_median": _median(lead),
        "change_failure_rate": failed / len(changes) if changes else None,
        "failed_deployment_recovery_hours_median": _median(recovery),
        "rework_rate": len([d for d in successful if d.kind != "planned"]) / len(successful) if successful else None,
        "rollback_rate": min(1.0, len(rollbacks) / len(changes)) if changes else None,
        "rollback_minutes_median": _median([(r.finished - r.started).total_seconds() / 60 for r in rollbacks
                                            if r.result == "success"]),
        "success_rate": len(ok) / len(changes) if changes else None,
        "mttr_hours_median": _median([(i.resolved - i.declared).total_seconds() / 3600 for i in resolved
                                      if i.resolved]),
    }


def same(got: Any, want: Any) -> bool:
    return got is None and want is None or (got is not None and want is not None
                                            and got == pytest.approx(want, rel=1e-9, abs=1e-9))


def test_random_year_matches_an_independent_computation(stack: Stack) -> None:
    rng = random.Random(20260301)
    deps, incs = generate(rng)
    assert stack.runtime and stack.bot
    token = stack.runtime.services.tokens.create("history", ["releases:write"])
    client = httpx.Client(base_url=stack.bot.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    for d in deps:
        resp = client.post("/api/deployments", json={
            "service": d.service, "environment": d.env, "version": d.version, "kind": d.kind, "result": d.result,
            "started_at": d.started.isoformat(), "finished_at": d.finished.isoformat(), "rolls_back": d.rolls_back,
            "commits": [{"sha": s, "committed_at": c.isoformat()} for s, c in d.commits]})
        assert resp.status_code == 200 and resp.json()["created"], resp.text
    for n, i in enumerate(incs):
        resp = client.post("/api/incidents/import", json={
            "title": f"incident {n}", "severity": "P2", "declared_at": i.declared.isoformat(),
            "resolved_at": i.resolved.isoformat() if i.resolved else None, "caused_by_version": i.cause,
            "service": i.service})
        assert resp.status_code == 200, resp.text
    checked = 0
    for _ in range(20):
        start = YEAR + timedelta(days=rng.randint(0, 330), minutes=rng.randint(0, 1439))
        end = start + timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 1439))
        service = rng.choice((None, *SERVICES))
        query = {"from": start.isoformat(), "to": end.isoformat(), **({"service": service} if service else {})}
        resp = client.get("/api/metrics", params=query)
        assert resp.status_code == 200, resp.text
        got = resp.json()
        want = expected(deps, incs, start, end, service)
        for name in FIELDS:
            assert same(got[name], want[name]), (query, name, got[name], want[name])
            checked += got[name] is not None
        for week in got["weekly"]:
            ws, we = datetime.fromisoformat(week["from"]), datetime.fromisoformat(week["to"])
            want_week = expected(deps, incs, ws, we, service)
            for name in FIELDS:
                assert same(week[name], want_week[name]), (query, week["week"], name, week[name], want_week[name])
    assert checked > 120  # most windows hold data, so the comparison is not of nulls
