"""A report after deployments were added or changed reads only those, and gives the figures a
process that reads everything gives (random histories changed step by step; SQLite and PG)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from bot.metrics.definitions import FIELDS
from bot.metrics.service import MAX_DAYS, MetricsService, Window
from bot.tx import Tx
from storage.models import Deployment
from tests.metrics.conftest import History, at

SERVICES = ("shop", "api", "web")


def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures of a report and of its weeks."""
    return [{f: report[f] for f in FIELDS}, *({f: w[f] for f in FIELDS} for w in report["weekly"])]


def fresh(history: History, w: Window) -> dict[str, Any]:
    """The report of a process that reads everything (a new service, with nothing kept)."""
    return MetricsService(history.s.db, history.s.metrics.policy).report(w)


def test_one_more_deployment_is_read_alone(history: History) -> None:
    for n in range(30):
        history.dep(f"v{n}", 10 + n, service=SERVICES[n % 3], commits=[(f"c{n}", n)])
    cache = history.s.metrics.cache
    w = Window(at(0), at(24 * 28))
    assert history.s.metrics.report(w)["deployments"] == 30
    full, misses, rows = cache.full_reads, cache.history_misses, cache.rows_updated
    history.dep("v9", 5, service="web", commits=[("c9", 1), ("new", 2)])  # c9 now ships first here
    history.dep("v30", 50, kind="rollback", rolls_back="v29", service="web", started=49)
    got = history.s.metrics.report(w)
    assert got["deployments"] == 31 and got["counts"]["rollbacks"] == 1
    assert got["counts"]["failed_changes"] == 1
    assert figures(got) == figures(fresh(history, w))
    # Neither the snapshot nor the kept history was read again: only the two new deployments.
    assert (cache.full_reads, cache.history_misses, cache.rows_updated) == (full, misses, rows + 2)


def _random_dep(rng: random.Random, history: History, before: float) -> None:
    kind = rng.choice(("planned", "planned", "hotfix", "fix_forward", "rollback"))
    finished = rng.uniform(before, 24 * 60)
    history.dep(f"v{rng.randrange(8)}", finished, kind=kind, service=rng.choice(SERVICES),
                result=rng.choice(("success", "success", "failure")), started=finished - rng.uniform(0, 3),
                rolls_back=f"v{rng.randrange(8)}" if kind == "rollback" else None,
                env=rng.choice(("production",) * 5 + ("staging",)),
                commits=[(f"c{n}", rng.uniform(before - 24, 24 * 40)) for n in rng.sample(range(25), rng.randrange(3))])


def _change_one(rng: random.Random, history: History) -> None:
    def work(tx: Tx) -> None:
        rows = list(tx.session.exec(select(Deployment).order_by(col(Deployment.id))))
        row = rng.choice(rows)
        change = rng.choice(("result", "finished", "version", "service", "unfinish"))
        if change == "result":
            tx.save(row, result="failure" if row.result == "success" else "success")
        elif change == "finished":
            moved = (row.finished_at or at(0)).replace(tzinfo=UTC) + timedelta(hours=rng.uniform(-48, 48))
            tx.save(row, finished_at=moved, started_at=moved - timedelta(hours=1))
        elif change == "version":
            tx.save(row, version=f"v{rng.randrange(8)}")
        elif change == "service":
            tx.save(row, service=rng.choice(SERVICES))
        else:
            tx.save(row, result=None)
    history.s.db.run(work)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_changes_give_the_figures_of_a_full_read(history: History, seed: int) -> None:
    rng = random.Random(seed)
    s = history.s
    back = s.clock.now() - timedelta(days=MAX_DAYS)
    horizon = datetime(back.year, back.month, 1, tzinfo=UTC)
    before = (horizon - at(0)).total_seconds() / 3600 - 24 * 3  # some finish before the horizon
    for _ in range(25):
        _random_dep(rng, history, 0)
    # A rollback started before the horizon, finished after it, undoing a kept change.
    history.dep("v1", before + 24 * 3 + 5, kind="rollback", rolls_back="v2", started=before, service="shop")
    history.dep("v2", before + 24 * 3 + 1, service="shop")
    history.dep("v3", before + 1, kind="fix_forward", service="shop")
    for step in range(12):
        for _ in range(rng.randrange(1, 4)):
            _random_dep(rng, history, before if rng.random() < 0.1 else 0)
        if step % 3 == 2:
            _change_one(rng, history)
        windows = [Window(horizon, horizon + timedelta(days=10), "shop")]  # the rollback above fails v2
        for _ in range(3):
            start = rng.uniform(before + 24 * 3, 24 * 40)
            windows.append(Window(at(start), at(start + rng.uniform(24, 24 * 30)), rng.choice((None, *SERVICES))))
        for w in windows:
            assert figures(s.metrics.report(w)) == figures(fresh(history, w)), (seed, step, w)
    kept = s.metrics.report(Window(horizon, horizon + timedelta(days=10), "shop"))
    assert kept["counts"]["failed_changes"] >= 1 and kept["failed_deployment_recovery_hours_median"] is not None
    assert s.metrics.cache.full_reads == 1 and s.metrics.cache.updates >= 8


def test_a_deployment_moved_to_another_service_takes_its_lead_times_along(history: History) -> None:
    history.dep("v1", 10, service="shop", commits=[("x", 0)])
    history.dep("v2", 20, service="shop", commits=[("y", 0)])
    history.dep("v3", 30, service="api", commits=[("z", 0)])
    w = Window(at(0), at(24 * 28), "shop")
    assert history.s.metrics.report(w)["lead_time_hours_median"] == pytest.approx(15.0)

    def move(tx: Tx) -> None:
        row = tx.session.exec(select(Deployment).where(Deployment.version == "v1")).one()
        tx.save(row, service="api")
    history.s.db.run(move)
    for service in ("shop", "api"):
        w = Window(at(0), at(24 * 28), service)
        assert figures(history.s.metrics.report(w)) == figures(fresh(history, w))
    assert history.s.metrics.report(w)["lead_time_hours_median"] == pytest.approx(20.0)  # x: 10 h, z: 30 h
    assert history.s.metrics.cache.full_reads == 1
