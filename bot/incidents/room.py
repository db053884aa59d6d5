"""What a war room is told: queued (outbox) Slack calls shared by the service and the cadence.

The pinned summary, the incidents-channel announcement and the channel itself are rendered
at send time by the renderers ``bot.app`` registers (see ``bot.incidents.render``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from bot.incidents import markdown, render, view
from bot.incidents.requests import channel_name
from bot.incidents.state import INVESTIGATING
from bot.outbox_port import SlackPort, session_sink
from bot.policy import Policy
from bot.tx import Origin, Tx, ref
from storage.models import Incident, TimelineEntry
from storage.vocab import Severity


def record(tx: Tx, incident: Incident, kind: str, actor: str, text: str = "", **detail: Any) -> TimelineEntry:
    """Append a timeline entry."""
    entry = TimelineEntry(incident_id=incident.id or 0, kind=kind, actor=actor[:32], text=text, detail=detail,
                          at=tx.now)
    tx.session.add(entry)
    tx.session.flush()
    return entry


def post(tx: Tx, incident: Incident, text: str, blocks: list[dict[str, Any]] | None = None,
         store_as: str | None = None, coalesce: str | None = None) -> None:
    """Post into the war room (its channel ID is filled in once the channel exists).

    ``coalesce``: of several such posts still queued (Slack was down) only the newest goes out.
    """
    tx.slack.post(view.room(incident.id), text, blocks, store_as=store_as, coalesce=coalesce)


def refresh(tx: Tx, policy: Policy, incident: Incident, *, topic: bool = False) -> view.IncidentView:
    """Update the pinned summary in place (rendered when sent) and the channel topic when it changed."""
    key = view.summary_key(incident.id)
    tx.slack.render(view.SUMMARY, channel=ref(key, "channel"), ts=ref(key, "ts"), coalesce=key,
                    incident_id=incident.id)
    if topic:
        tx.slack.topic(view.room(incident.id), render.topic(incident, policy))
    return view.load(tx.session, incident)


def announce(tx: Tx, incident: Incident, text: str) -> None:
    """A line in the announcement's thread in the incidents channel."""
    key = view.announcement_key(incident.id)
    tx.slack.post(ref(key, "channel"), text, thread_ts=ref(key, "ts"))


def open_war_room(tx: Tx, policy: Policy, origin: Origin, *, severity: Severity, title: str,
                  response: tuple[datetime | None, datetime | None],
                  invite: list[str] | None = None) -> view.IncidentView:
    """Store the incident and queue channel, invitations, topic, pinned summary and announcement."""
    due, reminder = response
    incident = Incident(
        title=title, severity=severity, status=INVESTIGATING, declared_by=origin.user, commander=origin.user,
        channel_name=channel_name(title, tx.now, policy.timezone), declared_at=tx.now, response_due_at=due,
        response_reminder_at=reminder, next_status_at=tx.now + timedelta(seconds=policy.interval_for(severity)),
        updated_at=tx.now,
    )
    tx.session.add(incident)
    tx.session.flush()
    iid = incident.id or 0
    record(tx, incident, "declared", origin.user, title, severity=severity)
    tx.audit(origin, "incident", iid, "declare", to_state=INVESTIGATING, severity=severity, title=title)
    # Each call below waits in the outbox until the channel's ID is stored (bot.tx.ref).
    tx.slack.render(view.CHANNEL, store_as=view.channel_key(iid), incident_id=iid)
    members = list(dict.fromkeys([origin.user, *(invite or []), *policy.war_room.responders.get(severity, [])]))
    tx.slack.invite(view.room(iid), [m for m in members if m])
    tx.slack.topic(view.room(iid), render.topic(incident, policy))
    summary = view.summary_key(iid)
    tx.slack.render(view.SUMMARY, store_as=summary, channel=view.room(iid), incident_id=iid)
    tx.slack.pin(ref(summary, "channel"), ref(summary, "ts"))
    tx.slack.render(view.ANNOUNCEMENT, store_as=view.announcement_key(iid),
                    channel=policy.war_room.incidents_channel, incident_id=iid)
    return view.load(tx.session, incident)


def upload_timeline(tx: Tx, policy: Policy, incident: Incident) -> None:
    """Share the timeline in the war room as a Markdown file."""
    current = view.load(tx.session, incident)
    tx.slack.upload(view.room(incident.id), markdown.filename(current), markdown.timeline_markdown(current, policy),
                    f"Incident #{incident.id} timeline", comment=f"Timeline of incident #{incident.id}.")


def cancel_pending_status(tx: Tx, incident: Incident) -> None:
    """Drop automatic updates still waiting in the outbox: none may appear after the resolve."""
    tx.slack.cancel_pending(view.status_key(incident.id), "cancelled: incident resolved")


def channel_created(s: Session, args: dict[str, Any], result: dict[str, Any], now: datetime) -> None:
    """After the war-room channel is created: record its ID and link it in the announcement."""
    channel = result.get("channel")
    incident = s.get(Incident, args["incident_id"])
    if not channel or incident is None:
        return
    name = str(result.get("name") or incident.channel_name)[:80]
    # Bump row_version so a concurrent compare-and-set writer re-reads instead of overwriting.
    s.execute(update(Incident).where(col(Incident.id) == incident.id)
              .values(channel_id=channel, channel_name=name, row_version=Incident.row_version + 1)
              .execution_options(synchronize_session=False))
    ann = view.announcement_key(incident.id)
    SlackPort(session_sink(s), now).render(view.ANNOUNCEMENT, channel=ref(ann, "channel"), ts=ref(ann, "ts"),
                                           coalesce=ann, incident_id=incident.id)
