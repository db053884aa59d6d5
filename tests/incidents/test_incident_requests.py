"""Parsing what people type: severities, titles, mentions, links, channel names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.errors import UsageError
from bot.incidents.requests import (
    DeclareIncident,
    channel_name,
    check_severity,
    parse_link,
    parse_role,
    parse_user,
)


def test_mentions_in_both_forms_slack_sends() -> None:
    assert parse_user("<@U123ABC|alice>") == "U123ABC"
    assert parse_user("<@U123ABC>") == "U123ABC"
    assert parse_user("W0ENTERPRISE") == "W0ENTERPRISE"
    for bad in ("@alice", "<!channel>", "", "<#C123|general>"):
        with pytest.raises(UsageError, match="Mention the person"):
            parse_user(bad)


def test_severity_and_title() -> None:
    assert check_severity(" p2 ") == "P2"
    with pytest.raises(UsageError, match="Unknown severity `P7`; use one of P0, P1, P2, P3"):
        check_severity("P7")
    with pytest.raises(UsageError, match="Give the incident a title"):
        DeclareIncident.build("P1", "   ")
    assert DeclareIncident.build("p0", "  db\n down ").title == "db down"
    with pytest.raises(UsageError, match="keep it under 200"):
        DeclareIncident.build("P1", "x" * 201)


def test_roles_and_links() -> None:
    assert parse_role("IC") == "commander" and parse_role("comms") == "comms"
    with pytest.raises(UsageError, match="use commander, comms or scribe"):
        parse_role("boss")
    assert parse_link("<https://docs.example/pm|pm>") == "https://docs.example/pm"
    assert parse_link("https://docs.example/pm") == "https://docs.example/pm"
    assert parse_link("") is None
    with pytest.raises(UsageError):
        parse_link("javascript:alert(1)")


def test_channel_name_is_slack_safe() -> None:
    at = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert channel_name("DB down: <!channel> Café!", at, "UTC") == "inc-20261127-db-down-channel-cafe"
    assert channel_name("DB down", at, "Asia/Tokyo") == "inc-20261128-db-down"  # the team's date
    assert channel_name("🔥🔥", at, "UTC") == "inc-20261127-incident"
    long = channel_name("word " * 40, at, "UTC")
    assert len(long) <= 80 and not long.endswith("-")
