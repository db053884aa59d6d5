"""WARROOM_VAULT_DIR: releases and incidents as Markdown notes with wikilinks, kept current."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import Stack
from tests.e2e.test_metrics_slack import AP1, IC, INC, REL, REQ, command, ship


def test_notes_follow_releases_and_incidents(make_stack: Callable[..., Stack], tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    stack = make_stack(WARROOM_VAULT_DIR=str(vault))
    ship(stack, "v10.0.0")
    release = vault / "release-v10.0.0.md"
    # The note is rewritten after each change: wait for the one written at the last stage (the
    # word "production" alone appears in earlier versions of the note too).
    stack.ws.wait_for(lambda: release.exists() and 'stage: "production"' in release.read_text(), timeout=10,
                      what="the release note at production")
    text = release.read_text()
    assert text.startswith("---\ntype: \"release\"\nversion: \"v10.0.0\"")
    assert "## Decision log" in text and "U0APPROVE1: approve" in text and "promote" in text

    command(stack, IC, INC, "/incident", "declare P1 \"checkout\" down caused_by=v10.0.0")
    incident = vault / "incident-1.md"
    stack.ws.wait_for(lambda: incident.exists(), timeout=10, what="the incident note")
    assert 'caused_by: "[[release-v10.0.0]]"' in incident.read_text()
    assert 'title: "\\"checkout\\" down"' in incident.read_text()  # user text stays one quoted value
    stack.ws.wait_for(lambda: "[[incident-1]]" in release.read_text(), timeout=10, what="the link back")
    assert "## Incidents it caused" in release.read_text()

    command(stack, AP1, REL, "/release", "rollback v10.0.0 checkout errors")
    stack.ws.wait_for(lambda: "rolled_back" in release.read_text(), timeout=10, what="the rollback in the note")
    assert "rollback (completed -> rolled_back): checkout errors" in release.read_text()
    assert not [p for p in vault.iterdir() if p.name.endswith(".tmp")]  # nothing half-written left
    assert REQ in release.read_text()


def test_a_vault_folder_whose_parent_is_missing_stops_start_up() -> None:
    import pytest

    from bot.errors import ConfigError
    from bot.settings import load_settings

    with pytest.raises(ConfigError, match="WARROOM_VAULT_DIR"):
        load_settings(WARROOM_VAULT_DIR="/no/such/place/vault")
