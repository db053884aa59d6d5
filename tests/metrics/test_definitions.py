"""Each definition on a hand-made history with a known answer (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.metrics.conftest import History

FIELDS = ("deployments", "deployment_frequency_per_week", "lead_time_hours_median", "change_failure_rate",
          "failed_deployment_recovery_hours_median", "rework_rate", "rollback_rate", "rollback_minutes_median",
          "success_rate", "mttr_hours_median")


def test_an_empty_window_has_no_figures_but_zero_deployments(history: History) -> None:
    history.dep("v1", 24 * 40)  # after the window
    r = history.report()
    assert r["deployments"] == 0 and r["deployment_frequency_per_week"] == 0
    assert all(r[f] is None for f in FIELDS if f not in ("deployments", "deployment_frequency_per_week"))
    assert r["weekly"] and [w["week"] for w in r["weekly"]] == ["2026-W10", "2026-W11", "2026-W12", "2026-W13"]
    assert r["levels"]["lead_time_hours_median"] is None and r["report_year"] == 2024
    assert r["targets"]["deployments_per_month"]["met"] is False
    assert r["targets"]["lead_time_hours"]["met"] is None


def test_frequency_counts_successful_changes_only_and_the_window_is_half_open(history: History) -> None:
    history.dep("v1", 0)  # on `from`: in
    history.dep("v2", 10, kind="hotfix")
    history.dep("v3", 20, kind="fix_forward")
    history.dep("v4", 30, result="failure")  # a failed change: not a deployment
    history.dep("v1", 40, kind="rollback", rolls_back="v4", started=39)  # not a change
    history.dep("v5", 24 * 14, service="shop")  # on `to` of a 14-day window: out
    r = history.report(0, 24 * 14)
    assert r["deployments"] == 3
    assert r["deployment_frequency_per_week"] == pytest.approx(1.5)
    assert r["counts"]["changes"] == 4
    assert r["success_rate"] == pytest.approx(3 / 4)


def test_lead_time_median_is_the_mean_of_the_two_middle_values(history: History) -> None:
    history.dep("v1", 100, commits=[("a1", 99)])  # 1 h
    history.dep("v2", 200, commits=[("b1", 198), ("b2", 197)])  # 2 h, 3 h
    history.dep("v3", 300, commits=[("c1", 290)])  # 10 h
    assert history.report()["lead_time_hours_median"] == pytest.approx(2.5)
    history.dep("v4", 400, commits=[("d1", 398)])  # a tie at 2 h: 1, 2, 2, 3, 10
    assert history.report()["lead_time_hours_median"] == pytest.approx(2.0)


def test_a_commit_counts_once_at_its_first_successful_change(history: History) -> None:
    history.dep("v1", 10, result="failure", commits=[("x", 0)])  # failed: did not ship x
    history.dep("v2", 20, commits=[("x", 0), ("y", 15)])  # x: 20 h, y: 5 h
    history.dep("v3", 24 * 9, commits=[("x", 0), ("z", 24 * 9 - 4)])  # x again: not counted; z: 4 h
    history.dep("v4", 24 * 10, commits=[("late", 24 * 10 + 1), ("same", 24 * 10)])  # non-positive: left out
    assert history.report(0, 24 * 7)["lead_time_hours_median"] == pytest.approx(12.5)  # 20 and 5
    # In a window that holds only v3, x belongs to v2 (all history): only z counts.
    assert history.report(24 * 8, 24 * 9 + 1)["lead_time_hours_median"] == pytest.approx(4.0)
    assert history.report(24 * 10, 24 * 11)["lead_time_hours_median"] is None


def test_a_change_fails_by_its_result_a_rollback_naming_it_or_an_incident_naming_it(history: History) -> None:
    history.dep("v1", 10)
    history.dep("v2", 20, result="failure")
    history.dep("v3", 30)
    history.dep("v2", 31, kind="rollback", rolls_back="v3", started=30.5)
    history.dep("v4", 40)
    history.inc(41, 43, cause="v4")
    history.dep("v5", 50)
    history.inc(51, None, cause="v9")  # names nothing deployed: no change fails
    history.inc(52, None, cause="v5", service="other")  # another service's v5: not this one
    r = history.report(0, 24 * 7)
    assert r["counts"]["changes"] == 5 and r["counts"]["failed_changes"] == 3
    assert r["change_failure_rate"] == pytest.approx(3 / 5)
    assert r["rollback_rate"] == pytest.approx(1 / 5)


def test_a_rollback_of_a_rollback_fails_the_change_it_undid_not_the_older_version(history: History) -> None:
    history.dep("v1", 10)
    history.dep("v2", 20)
    history.dep("v1", 21, kind="rollback", rolls_back="v2", started=20.5)  # undoes v2
    history.dep("v2", 22, kind="rollback", rolls_back="v1", started=21.5)  # undoes the rollback, not v1's change
    r = history.report(0, 24 * 7)
    assert r["counts"]["failed_changes"] == 1  # v2 only
    assert r["change_failure_rate"] == pytest.approx(1 / 2)
    assert r["rollback_rate"] == pytest.approx(1.0)
    assert r["rollback_minutes_median"] == pytest.approx(30.0)
    # v2 failed when the first rollback was decided (20.5) and recovered when it finished (21).
    assert r["failed_deployment_recovery_hours_median"] == pytest.approx(0.5)


def test_an_incident_caused_by_an_imported_deployment_fails_it_and_its_resolution_recovers_it(
        history: History) -> None:
    history.dep("v7", 100, kind="hotfix")
    history.inc(102, 105, cause="v7")  # declared 2 h after, resolved 3 h later
    r = history.report()
    assert r["change_failure_rate"] == pytest.approx(1.0)
    assert r["failed_deployment_recovery_hours_median"] == pytest.approx(3.0)
    assert r["mttr_hours_median"] == pytest.approx(3.0)
    # A successful fix_forward before the incident is resolved recovers it earlier.
    history.dep("v8", 103, kind="fix_forward")
    assert history.report()["failed_deployment_recovery_hours_median"] == pytest.approx(1.0)


def test_recovery_runs_from_the_earliest_failure_to_the_earliest_recovery(history: History) -> None:
    history.dep("v1", 10, result="failure")  # failed at 10
    history.dep("v0", 14, kind="rollback", rolls_back="v1", started=12)  # recovered at 14: 4 h
    history.dep("v2", 20)
    history.inc(21, 30, cause="v2")  # failed at 21; nothing finishes before 30 but the incident: 9 h
    history.dep("v3", 40, result="failure")  # never recovered: left out
    history.dep("v4", 39, kind="fix_forward", result="failure")  # failed change; recovers nothing
    r = history.report(0, 24 * 7)
    assert r["failed_deployment_recovery_hours_median"] == pytest.approx(6.5)  # 4 and 9
    assert r["counts"]["failed_changes"] == 4


def test_recovery_may_come_after_the_window(history: History) -> None:
    history.dep("v1", 24 * 7 - 1, result="failure")
    history.dep("v2", 24 * 7 + 1, kind="fix_forward")
    assert history.report(0, 24 * 7)["failed_deployment_recovery_hours_median"] == pytest.approx(2.0)


def test_rework_rate_over_all_successful_production_deployments(history: History) -> None:
    history.dep("v1", 10)
    history.dep("v2", 20, kind="hotfix")
    history.dep("v3", 30, kind="fix_forward")
    history.dep("v1", 40, kind="rollback", rolls_back="v3", started=39.9)
    history.dep("v4", 50, kind="rollback", rolls_back="v3", result="failure")  # not successful: out
    history.dep("v5", 60, env="staging", kind="hotfix")  # not production: out
    r = history.report(0, 24 * 7)
    assert r["rework_rate"] == pytest.approx(3 / 4)
    assert r["rollback_minutes_median"] == pytest.approx(6.0)  # only the successful rollback
    assert r["rollback_rate"] == pytest.approx(2 / 3)


def test_mttr_counts_incidents_by_resolution_in_the_window(history: History) -> None:
    history.inc(-10, 2)  # declared before the window, resolved in it: 12 h
    history.inc(5, 6)  # 1 h
    history.inc(7, None)  # open: out
    history.inc(8, 24 * 8)  # resolved after: out
    history.inc(9, 10, service="other")  # another service
    assert history.report(0, 24 * 7, service="shop")["mttr_hours_median"] == pytest.approx(6.5)
    assert history.report(0, 24 * 7)["mttr_hours_median"] == pytest.approx(1.0)  # 12, 1, 1


def test_service_filter_and_weekly_split(history: History) -> None:
    history.dep("v1", 1)
    history.dep("v2", 24 * 8, commits=[("q", 24 * 8 - 6)])
    history.dep("a1", 2, service="api")
    r = history.report(0, 24 * 14, service="shop")
    assert r["deployments"] == 2 and r["window"]["service"] == "shop"
    assert [(w["week"], w["deployments"]) for w in r["weekly"]] == [("2026-W10", 1), ("2026-W11", 1)]
    assert r["weekly"][1]["lead_time_hours_median"] == pytest.approx(6.0)
    assert r["weekly"][0]["kinds"] == {"planned": 1, "hotfix": 0, "fix_forward": 0, "rollback": 0}
    assert history.report(0, 24 * 14)["deployments"] == 3


def test_reimporting_a_deployment_changes_nothing(history: History) -> None:
    first = history.dep("v1", 10, commits=[("a", 5)])
    again = history.dep("v1", 10, commits=[("a", 5), ("b", 6)])
    assert first["created"] is True and again == {"id": first["id"], "created": False}
    assert history.report()["lead_time_hours_median"] == pytest.approx(5.0)


def test_levels_and_targets(history: History) -> None:
    for n in range(8):  # 2 a week, each commit 30 h old, none failed
        history.dep(f"v{n}", 24 * 3.5 * n + 40, commits=[(f"c{n}", 24 * 3.5 * n + 10)])
    history.dep("x1", 24 * 27, result="failure")
    history.dep("v0", 24 * 27 + 0.2, kind="rollback", rolls_back="x1", started=24 * 27 + 0.05)
    r = history.report()
    assert r["levels"] == {"deployment_frequency_per_week": "high", "lead_time_hours_median": "high",
                           "failed_deployment_recovery_hours_median": "elite", "change_failure_rate": "medium"}
    t = r["targets"]
    assert t["deployments_per_month"]["met"] is True and t["deployments_per_month"]["target"] == 2
    assert t["lead_time_hours"] == {"target": 48, "op": "<", "value": pytest.approx(30.0), "met": True}
    assert t["success_rate"]["met"] is False and t["success_rate"]["value"] == pytest.approx(8 / 9)
    assert t["rollback_minutes"]["met"] is True and t["rollback_minutes"]["value"] == pytest.approx(9.0)
    assert t["mttr_hours"]["met"] is None
