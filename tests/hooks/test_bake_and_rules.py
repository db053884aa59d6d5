"""Bake time on the real release service with a clock moved forward; the pure check rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.checks import rules
from bot.clock import Clock
from bot.errors import GateBlocked
from bot.policy import load_policy
from bot.releases.requests import StartRelease
from tests.support import make_services, who


def test_production_waits_for_the_canary_to_bake(database_url: str) -> None:
    clock = Clock()
    s = make_services(database_url, clock, WARROOM_APPROVERS="U0AP1,U0AP2", WARROOM_FREEZE_DAYS="",
                      WARROOM_BAKE_MINUTES="30")
    s.releases.start(StartRelease.build(version="v1", risk="low", channel_id="C1"), who("U0REQ"))
    s.releases.promote("v1", who("U0REQ"))
    s.releases.approve("v1", who("U0AP1"))
    s.releases.promote("v1", who("U0REQ"))
    with pytest.raises(GateBlocked, match="bake 30 minutes .*: 30m to go"):
        s.releases.promote("v1", who("U0REQ"))
    with s.db.read() as session:
        lines = s.releases.sections[-1](session, s.releases.find(session, "v1"), clock.now())
    assert lines == [":hourglass: Baking: Production 100% possible in 30m"]
    clock.advance(29 * 60)
    with pytest.raises(GateBlocked, match="1m to go"):
        s.releases.promote("v1", who("U0REQ"))
    clock.advance(61)
    assert s.releases.promote("v1", who("U0REQ")).release.status == "completed"
    s.db.engine.dispose()


def test_no_bake_time_means_no_wait_even_when_the_canary_landed_a_moment_later(database_url: str) -> None:
    # Seen in the executor bench: a promotion whose transaction read the time just before the
    # canary's success committed (or a replica whose clock runs behind) was refused with
    # "waits ... to bake 0 minutes (low risk): 1m to go".
    ahead = Clock()
    ahead.advance(5)
    settings = {"WARROOM_APPROVERS": "U0AP1,U0AP2", "WARROOM_FREEZE_DAYS": ""}
    first, behind = make_services(database_url, ahead, **settings), make_services(database_url, Clock(), **settings)
    first.releases.start(StartRelease.build(version="v1", risk="low", channel_id="C1"), who("U0REQ"))
    first.releases.promote("v1", who("U0REQ"))
    first.releases.approve("v1", who("U0AP1"))
    assert first.releases.promote("v1", who("U0REQ")).release.stage == "canary"
    assert behind.releases.promote("v1", who("U0REQ")).release.status == "completed"
    first.db.engine.dispose()
    behind.db.engine.dispose()


def test_shipped_bake_and_monitoring_minutes_per_risk() -> None:
    policy = load_policy()
    assert {r: (v.bake_minutes, v.monitor_minutes) for r, v in policy.risk_levels.items()} == {
        "low": (0, 15), "medium": (15, 30), "high": (30, 60), "critical": (60, 120)}


def test_a_pass_that_misses_a_bound_fails_with_the_reason() -> None:
    policy = load_policy(overrides={"checks": [
        {"name": "tests", "match": "CI / test*", "min": {"coverage": 95}, "required_for": "canary"},
        {"name": "perf", "match": "bench*", "max": {"regression_pct": 2}, "required_for": "production"}]})
    tests, perf = policy.checks
    assert rules.judge(tests, "passed", {"coverage": 97.4}) == ("passed", None)
    assert rules.judge(tests, "passed", {"coverage": 94.9}) == ("failed", "coverage 94.9 is below 95")
    assert rules.judge(tests, "passed", {}) == ("failed", "coverage not reported (needs at least 95)")
    assert rules.judge(perf, "passed", {"regression_pct": 2.5})[0] == "failed"
    assert [c.name for c in rules.matching(policy, "CI / test (3.12)")] == ["tests"]
    assert rules.matching(policy, "lint") == []
    assert rules.values_in("Coverage report\ncoverage: 97.4% of lines", ["coverage"]) == {"coverage": 97.4}


def test_later_reports_win_and_finished_beats_unfinished_at_the_same_time() -> None:
    t1, t2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    assert rules.newer(t1, "running", t2, "passed")
    assert not rules.newer(t2, "passed", t1, "running")
    assert not rules.newer(t1, "failed", t1, "pending")
    assert rules.newer(t1, "pending", t1, "failed")
    assert rules.normalize_state("startup_failure") == ("failed", None)
    assert rules.normalize_state("Mystery") == ("pending", "unrecognised state 'mystery'")


@pytest.mark.parametrize(("checks", "error"), [
    ([{"name": "a", "after": ["b"]}], "after names unknown checks"),
    ([{"name": "a", "required_for": "nowhere"}], "required_for"),
    ([{"name": "a", "phase": "post_deploy"}], "say which stage"),
    ([{"name": "a"}, {"name": "a"}], "once"),
])
def test_bad_checks_stop_start_up_naming_the_field(checks: list, error: str) -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=error):
        load_policy(overrides={"checks": checks})


def test_a_checklist_item_that_names_a_check_follows_it_not_the_form(database_url: str, tmp_path) -> None:
    from bot.hooks.checks import CheckReport, report_now

    policy = tmp_path / "policy.yml"
    policy.write_text("checks:\n  - {name: tests, match: 'CI / test*', required_for: canary}\n"
                      "checklist:\n  - section: Pre-release validation\n"
                      "    items: [{label: Tests pass, check: tests}, Security scan clean]\n")
    s = make_services(database_url, WARROOM_CONFIG=str(policy))
    s.releases.start(StartRelease.build(version="v1", channel_id="C1"), who("U0REQ"))
    # Ticking by hand ticks the plain item only.
    view = s.releases.set_checklist("v1", who("U0REQ"), ["tests_pass", "security_scan_clean"])
    assert sorted(view.release.checklist) == ["security_scan_clean"]
    report_now(s.checks, "v1", CheckReport(release="v1", check="CI / test (3.12)", state="passed"), who("ci"))
    checklist = s.releases.get("v1").release.checklist
    assert checklist["tests_pass"]["by"] == "check:tests"
    # ...and unticking by hand leaves it: it follows the check.
    assert "tests_pass" in s.releases.set_checklist("v1", who("U0REQ"), []).release.checklist
    report_now(s.checks, "v1", CheckReport(release="v1", check="tests", state="failed"), who("ci"))
    assert "tests_pass" not in s.releases.get("v1").release.checklist
    s.db.engine.dispose()
