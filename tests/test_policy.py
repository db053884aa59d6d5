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


def test_checklist_items_have_stable_ids(tmp_path) -> None:
    policy = load_policy()
    assert [i.id for i in policy.checklist[0].items] == ["tests_pass", "security_scan", "performance", "compliance"]
    assert policy.checklist_item("changelog").label == "Changelog written"
    # A team's plain-string items get their label in snake_case as id, so reordering keeps ticks.
    path = tmp_path / "policy.yml"
    path.write_text("checklist:\n  - section: Ship\n    items: [\"Docs updated\", \"Tests pass\"]\n"
                    "stages:\n  - name: dev\n    label: Dev\n  - name: production\n    label: Prod\n")
    assert [i.id for i in load_policy(path).checklist[0].items] == ["docs_updated", "tests_pass"]


def test_checklist_ids_must_be_unique(tmp_path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("checklist:\n  - section: A\n    items: [{id: x, label: One}]\n"
                    "  - section: B\n    items: [{id: x, label: Two}]\n")
    with pytest.raises(ConfigError, match="each item id may appear once"):
        load_policy(path)


def test_a_hotfix_cannot_start_in_production(tmp_path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("severities:\n  P0:\n    hotfix_start_stage: production\n")
    with pytest.raises(ConfigError, match="severities.P0.hotfix_start_stage"):
        load_policy(path)
