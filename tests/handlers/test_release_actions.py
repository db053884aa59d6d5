"""Release buttons through Bolt: the handler checks with the service, then opens the reason modal."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from slack_bolt import App

from bot.releases.requests import StartRelease
from bot.services import Services
from tests.handlers.signed import click, command
from tests.support import make_services, queued, who

REQ, APPROVER = "U0REQUEST", "U0APPROVE1"


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    """Services with one approver and no freeze."""
    s = make_services(database_url, WARROOM_APPROVERS=APPROVER, WARROOM_FREEZE_DAYS="")
    yield s
    s.db.engine.dispose()


def _press(app: App, action: str, user: str) -> None:
    click(app, action, 0, channel="C0REL", user=user, value={"v": "v1.0.0", "s": "dev"})


def test_reject_button_asks_the_approver_why_and_tells_the_requester_no(services: Services, app: App) -> None:
    services.releases.start(StartRelease.build(version="v1.0.0", channel_id="C0REL"), who(REQ))
    _press(app, "release_reject", REQ)
    warning = queued(services, "ephemeral")
    assert len(warning) == 1 and "another approver must (four eyes)" in warning[0].payload["text"]
    assert queued(services, "open_view") == []  # no form for something they may not do
    _press(app, "release_reject", APPROVER)
    (opened,) = queued(services, "open_view")
    view = opened.payload["view"]
    assert view["callback_id"] == "release_reason"
    assert json.loads(view["private_metadata"]) == {"version": "v1.0.0", "action": "reject"}


def test_release_command_replies_ephemerally(services: Services, app: App) -> None:
    reply = command(app, "start v2.0.0 risk=low fix login", channel="C0REL", user=REQ, name="/release")
    assert reply == "Release v2.0.0 started; the announcement is in <#C0REL>."
    assert "Unknown risk `extreme`" in command(app, "start v3 risk=extreme", name="/release")
