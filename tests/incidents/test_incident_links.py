"""Incidents and their surroundings: hotfix releases, release war rooms, environment settings."""

from __future__ import annotations

import pytest

from bot.errors import InvalidTransition
from bot.services import Services
from storage.models import Incident
from tests.support import declare, make_services, queued, who


def _row(s: Services, incident_id: int) -> Incident:
    with s.db.read() as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return row


def test_hotfix_follows_the_severity_path(services: Services) -> None:
    iid = declare(services, "P0")
    release = services.incidents.start_hotfix(iid, "v2.4.1", who(), "C0FROM").release
    assert (release.type, release.severity, release.incident_id, release.stage) == ("hotfix", "P0", iid, "staging")
    assert [h.version for h in services.incidents.get(iid).hotfixes] == ["v2.4.1"]
    services.incidents.resolve(iid, who())
    services.incidents.postmortem_done(iid, who())
    with pytest.raises(InvalidTransition):
        services.incidents.start_hotfix(iid, "v2.4.2", who(), "C0FROM")


def test_critical_release_opens_its_war_room_once_in_production(database_url: str) -> None:
    from bot.releases.requests import StartRelease

    s = make_services(database_url, WARROOM_APPROVERS="U0APPROVE1,U0APPROVE2", WARROOM_FREEZE_DAYS="")
    s.releases.start(StartRelease.build(version="v9.0.0", risk="critical", channel_id="C0REL"), who("U0DEV"))
    s.releases.promote("v9.0.0", who("U0DEV"))  # staging
    s.releases.approve("v9.0.0", who("U0APPROVE1"))
    s.releases.approve("v9.0.0", who("U0APPROVE2"))
    assert s.incidents.list() == []
    s.releases.promote("v9.0.0", who("U0APPROVE1"))  # canary: production-level
    [opened] = s.incidents.list()
    assert (opened.incident.title, opened.incident.severity) == ("Release v9.0.0 war room", "P1")
    invite = next(m for m in queued(s, "invite"))
    assert "U0DEV" in invite.payload["users"]
    assert any(m.payload.get("channel") == "C0REL" and "war room incident" in m.payload["text"]
               for m in queued(s, "post"))
    s.releases.promote("v9.0.0", who("U0APPROVE1"))  # production 100%: no second war room
    assert len(s.incidents.list()) == 1
    s.db.engine.dispose()


def test_environment_sets_the_cadence_and_postmortem_due(database_url: str) -> None:
    s = make_services(database_url, WARROOM_STATUS_INTERVAL=5, WARROOM_POSTMORTEM_DUE=60)
    iid = declare(s, "P2")
    row = _row(s, iid)
    assert (row.next_status_at - row.declared_at).total_seconds() == 5
    s.clock.advance(6)
    assert s.incidents.run_due() == 1
    resolved = s.incidents.resolve(iid, who()).incident
    assert (resolved.postmortem_due_at - resolved.resolved_at).total_seconds() == 60
    # The 24 h and 4 h reminders would fall before the resolve: the first one is at the due time.
    assert resolved.postmortem_reminder_at == resolved.postmortem_due_at
    s.db.engine.dispose()
