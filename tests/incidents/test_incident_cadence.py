"""Cadence maths: coalescing, push-back, pings, response and post-mortem reminder times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.incidents import prose
from bot.incidents.cadence import (
    next_postmortem_reminder,
    next_response_reminder,
    next_status_at,
    pings,
    postmortem_reminders,
    postmortem_text,
    response_schedule,
)
from bot.incidents.view import IncidentView
from bot.policy import load_policy
from storage.models import Incident, TimelineEntry

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _incident(**kw: object) -> Incident:
    base: dict[str, object] = {"id": 7, "title": "db <!channel> down", "severity": "P1", "status": "investigating",
                               "declared_by": "U0IC", "commander": "U0IC", "channel_name": "inc-x",
                               "declared_at": T0, "updated_at": T0}
    base.update(kw)
    return Incident(**base)


def test_next_status_is_counted_from_now_so_missed_ones_coalesce() -> None:
    # Due at T0+15m but the bot ran again only at T0+62m: one update now, the next 15 minutes later.
    late = T0 + timedelta(minutes=62)
    assert next_status_at(late, 900) == late + timedelta(minutes=15)


def test_pings_after_one_and_two_missed_intervals() -> None:
    assert pings(0) == (False, False)
    assert pings(1) == (True, False)
    assert pings(2) == (True, True)
    assert pings(5) == (True, True)


def test_status_text_pings_commander_then_comms() -> None:
    policy = load_policy()
    inc = _incident(comms="U0COMMS")
    view = IncidentView(inc, [], [])
    now = T0 + timedelta(minutes=15)
    nxt = now + timedelta(minutes=15)
    first = prose.status_update(view, policy, now, since=T0, next_due=nxt, missed=1, ping=pings(1))
    assert "<@U0IC> no human update" in first and "U0COMMS" not in first
    second = prose.status_update(view, policy, now, since=T0, next_due=nxt, missed=2, ping=pings(2))
    assert "<@U0IC>" in second and "<@U0COMMS>" in second
    quiet = prose.status_update(view, policy, now, since=T0, next_due=nxt, missed=0, ping=pings(0))
    assert ":bell:" not in quiet
    # The title is user text: escaped, so it cannot ping the channel.
    assert "<!channel>" not in first and "&lt;!channel&gt;" in first


def test_status_text_lists_decisions_since_the_last_update_only() -> None:
    policy = load_policy()
    old = TimelineEntry(id=1, incident_id=7, kind="decision", actor="U1", text="old call", at=T0, detail={})
    new = TimelineEntry(id=2, incident_id=7, kind="decision", actor="U2", text="fail over <b>", at=T0 + H,
                        detail={})
    upd = TimelineEntry(id=3, incident_id=7, kind="update", actor="U3", text="looking", at=T0 + H, detail={})
    fu = TimelineEntry(id=4, incident_id=7, kind="followup", actor="U3", text="add alert", at=T0 + H,
                       detail={"open": True})
    view = IncidentView(_incident(), [old, new, upd, fu], [])
    text = prose.status_update(view, policy, T0 + 2 * H, since=T0 + H / 2, next_due=T0 + 3 * H, missed=0, ping=pings(0))
    assert "fail over &lt;b&gt;" in text and "old call" not in text
    assert "looking" in text and "[4] add alert" in text
    assert "Next update due:* Mon 23 Nov 12:00 UTC (in 1h 00m)" in text


def test_response_schedule_per_severity() -> None:
    policy = load_policy()
    assert response_schedule(T0, policy.severities["P0"].response_seconds) == (T0, None)  # immediate
    due, first = response_schedule(T0, policy.severities["P1"].response_seconds)
    assert due == T0 + 2 * H and first == due - timedelta(minutes=30)
    due, first = response_schedule(T0, policy.severities["P2"].response_seconds)
    assert due == T0 + 24 * H and first == due - timedelta(minutes=30)
    assert response_schedule(T0, policy.severities["P3"].response_seconds) == (None, None)  # next release
    assert response_schedule(T0, 600) == (T0 + timedelta(minutes=10), T0 + timedelta(seconds=450))
    # After the 'before' reminder comes the 'passed' one; after that, nothing.
    assert next_response_reminder(T0 + H, T0 + 2 * H) == T0 + 2 * H
    assert next_response_reminder(T0 + 2 * H, T0 + 2 * H) is None


def test_postmortem_reminder_chain() -> None:
    pm = load_policy().postmortem  # due 48 h after the resolve; 24 h and 4 h before; daily when overdue
    resolved = T0
    due = resolved + 48 * H
    assert postmortem_reminders(due, pm) == [due - 24 * H, due - 4 * H, due]
    chain = []
    at = resolved
    for _ in range(6):
        at = next_postmortem_reminder(due, at, pm)
        chain.append(at)
    assert chain == [T0 + 24 * H, T0 + 44 * H, T0 + 48 * H, T0 + 72 * H, T0 + 96 * H, T0 + 120 * H]
    # Coalesced after downtime: from 30 h overdue the next one is the next daily step, once.
    assert next_postmortem_reminder(due, due + 30 * H, pm) == due + 48 * H
    # A reminder whose time passed before the resolve is skipped (short due times).
    assert next_postmortem_reminder(T0 + H, T0, pm) == T0 + H


def test_postmortem_text_before_at_and_after_due() -> None:
    policy = load_policy()
    inc = _incident(status="resolved", postmortem_due_at=T0 + 48 * H)
    assert "is due Wed 25 Nov 09:00 UTC (in 1d 0h)" in postmortem_text(inc, policy, T0 + 24 * H)
    assert "is due now" in postmortem_text(inc, policy, T0 + 48 * H)
    assert "overdue by 1d 0h" in postmortem_text(inc, policy, T0 + 72 * H)


def test_a_team_can_override_a_template(tmp_path) -> None:
    (tmp_path / "status_update.md.j2").write_text("Our format: #{{ id }} {{ title }} next {{ next_due }}\n")
    view = IncidentView(_incident(), [], [])
    text = prose.status_update(view, load_policy(), T0 + H, since=T0, next_due=T0 + 2 * H, missed=0, ping=pings(0),
                               template_dir=str(tmp_path))
    assert text == "Our format: #7 db &lt;!channel&gt; down next Mon 23 Nov 11:00 UTC"
    # Templates the team did not override still come from the package.
    assert "*Root cause*" in prose.postmortem(view, load_policy(), T0 + H, template_dir=str(tmp_path))
