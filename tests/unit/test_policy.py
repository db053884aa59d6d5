"""Policy loading: shipped defaults, a team's file over them, and errors that name the field."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.policy import load_policy
from bot.settings import load_settings


def test_defaults_encode_the_practices() -> None:
    policy = load_policy()
    assert [s.name for s in policy.stages] == ["dev", "staging", "canary", "production"]
    assert {k: v.approvals for k, v in policy.risk_levels.items()} == {"low": 1, "medium": 1, "high": 2, "critical": 2}
    assert "War room ready" in policy.risk_levels["critical"].mitigations
    assert policy.freeze.days == ["fri"]
    assert policy.postmortem.due_seconds == 48 * 3600
    assert policy.severities["P1"].response_seconds == 2 * 3600


def test_team_file_overrides_only_what_it_names(tmp_path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("risk_levels:\n  high:\n    approvals: 3\nfreeze:\n  days: [Thursday, fri]\n")
    policy = load_policy(path)
    assert policy.risk_levels["high"].approvals == 3
    assert policy.risk_levels["high"].mitigations == ["Canary deployment", "Feature flags", "Rollback plan ready"]
    assert policy.freeze.days == ["thu", "fri"]


@pytest.mark.parametrize(("text", "field"), [
    ("risk_levels:\n  low:\n    approvals: 0\n", "risk_levels.low.approvals"),
    ("freeze:\n  days: [caturday]\n", "freeze.days"),
    ("stages:\n  - name: dev\n    label: Dev\n  - name: qa\n    label: QA\n", "stages.1.name"),
    ("war_room:\n  status_interval_seconds: -5\n", "war_room.status_interval_seconds"),
])
def test_bad_policy_names_the_field(tmp_path, text: str, field: str) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert f"'{field}'" in err.value.message
    assert str(path) in err.value.message


def test_unreadable_or_malformed_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("risk_levels: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(bad)


def test_environment_overrides(monkeypatch) -> None:
    monkeypatch.setenv("WARROOM_FREEZE_DAYS", "")
    monkeypatch.setenv("WARROOM_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("WARROOM_STATUS_INTERVAL", "5")
    monkeypatch.setenv("WARROOM_APPROVERS", "U0AAA,S0GROUP")
    settings = load_settings()
    assert settings.policy.freeze.days == []
    assert settings.policy.timezone == "Europe/Berlin"
    assert settings.policy.interval_for("P0") == 5
    assert settings.approvers == ["U0AAA", "S0GROUP"]


@pytest.mark.parametrize(("name", "value", "expect"), [
    ("WARROOM_APPROVERS", "U0AAA,alice", "WARROOM_APPROVERS"),
    ("WARROOM_TIMEZONE", "Mars/Olympus", "WARROOM_TIMEZONE"),
    ("WARROOM_STATUS_INTERVAL", "soon", "WARROOM_STATUS_INTERVAL"),
    ("WARROOM_FREEZE_DAYS", "fri,someday", "freeze.days"),
])
def test_bad_setting_stops_startup_naming_it(monkeypatch, name: str, value: str, expect: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert expect in err.value.message


def test_templates_folder_must_exist(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WARROOM_TEMPLATES", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="WARROOM_TEMPLATES"):
        load_settings()
