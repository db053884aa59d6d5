"""Reports read kept records until the records change: every change shows in the next report,
and a window before the kept horizon (read for itself) gives the same figures (SQLite and PG)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.metrics.definitions import FIELDS
from bot.metrics.service import Window
from bot.tx import Tx
from storage.models import Deployment
from tests.metrics.conftest import History, at


def test_an_import_shows_in_the_next_report(history: History) -> None:
    history.dep("v2", 20, commits=[("x", 0)])
    history.dep("v3", 30)
    first = history.report()
    assert first["lead_time_hours_median"] == pytest.approx(20.0) and first["change_failure_rate"] == 0
    history.dep("v1", 10, commits=[("x", 0)])  # an earlier shipment of x: it counts there now
    history.inc(31, 33, cause="v3")
    again = history.report()
    assert again["lead_time_hours_median"] == pytest.approx(10.0)
    assert again["change_failure_rate"] == pytest.approx(1 / 3)
    assert again["failed_deployment_recovery_hours_median"] == pytest.approx(2.0)


def test_an_incident_alone_shows_in_the_next_report(history: History) -> None:
    history.dep("v1", 10)
    history.inc(5, 8)
    assert history.report()["change_failure_rate"] == 0 and history.report()["mttr_hours_median"] == 3.0
    history.inc(11, 15, cause="v1")  # the deployments did not change; the incidents are read anew
    again = history.report()
    assert again["change_failure_rate"] == 1.0 and again["failed_deployment_recovery_hours_median"] == 4.0
    assert again["mttr_hours_median"] == pytest.approx(3.5)


def test_a_deployment_finishing_later_shows_in_the_next_report(history: History) -> None:
    history.dep("v1", 10, commits=[("x", 0)])
    s = history.s

    def requested(tx: Tx) -> int:
        row = Deployment(service="shop", environment="production", version="v0", kind="planned", state="requested",
                         requested_by="test", created_at=tx.now, updated_at=tx.now)
        tx.session.add(row)
        tx.session.flush()
        assert row.id is not None
        return row.id
    dep_id = s.db.run(requested)
    assert history.report()["lead_time_hours_median"] == pytest.approx(10.0)
    assert history.report()["counts"]["changes"] == 1

    def finished(tx: Tx) -> None:
        row = tx.session.get(Deployment, dep_id)
        assert row is not None
        tx.save(row, state="succeeded", result="success", started_at=at(4), finished_at=at(5))
    s.db.run(finished)
    assert history.report()["counts"]["changes"] == 2


def test_a_window_before_the_horizon_gives_the_same_figures(history: History) -> None:
    # The same history twice: one service now, one about six years earlier (52-week years, so
    # the ISO weeks line up); the old one lies before what reports keep and is read per window.
    shift = -24 * 7 * 52 * 6
    for service, h0 in (("new", 0), ("old", shift)):
        history.dep("v1", h0 + 10, service=service, commits=[("a", h0 + 1)])
        history.dep("v2", h0 + 20, service=service, result="failure", commits=[("b", h0 + 2)])
        history.dep("v1", h0 + 22, service=service, kind="rollback", rolls_back="v2", started=h0 + 21)
        history.dep("v3", h0 + 24 * 9, service=service, kind="hotfix", commits=[("a", h0 + 1), ("c", h0 + 200)])
        history.dep("v4", h0 + 24 * 10, service=service, kind="fix_forward")
        history.inc(h0 + 24 * 9 + 1, h0 + 24 * 9 + 5, cause="v3", service=service)
        history.inc(h0 + 24 * 12, h0 + 24 * 12 + 3, service=service)
    s = history.s
    for start, end in ((0, 24 * 28), (24 * 5, 24 * 11), (-24 * 3, 24 * 9 + 2)):
        new = s.metrics.report(Window(at(start), at(end), "new"))
        old = s.metrics.report(Window(at(start + shift), at(end + shift), "old"))
        assert {f: new[f] for f in FIELDS} == {f: old[f] for f in FIELDS}
        assert [{f: w[f] for f in FIELDS} for w in new["weekly"]] == \
            [{f: w[f] for f in FIELDS} for w in old["weekly"]]
    assert at(shift) < s.clock.now() - timedelta(days=900)
    month = s.metrics.report(Window(at(0), at(24 * 28), "new"))  # the comparison is not of nulls
    assert month["deployments"] == 3 and month["counts"]["failed_changes"] == 2
    assert month["lead_time_hours_median"] == pytest.approx(12.5)  # a: 9 h at v1; c: 16 h at v3
