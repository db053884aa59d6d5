"""What a war room is told: queued (outbox) Slack calls shared by the service and the cadence."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.incidents import markdown, render, view
from bot.incidents.requests import channel_name
from bot.incidents.state import INVESTIGATING
from bot.policy import Policy
from bot.tx import Origin, Tx, outbox_row, ref
from storage.models import Incident, OutboxMessage, TimelineEntry


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
    args: dict[str, Any] = {"channel": view.room(incident.id), "text": text}
    if blocks is not None:
        args["blocks"] = blocks
    tx.send("post", store_as=store_as, coalesce=coalesce, **args)


def refresh(tx: Tx, policy: Policy, incident: Incident, *, topic: bool = False) -> view.IncidentView:
    """Update the pinned summary in place (and the channel topic when it changed)."""
    current = view.load(tx.session, incident)
    text, blocks = render.summary(current, policy, tx.now)
    key = view.summary_key(incident.id)
    tx.send("update", channel=ref(key, "channel"), ts=ref(key, "ts"), text=text, blocks=blocks, coalesce=key)
    if topic:
        tx.send("topic", channel=view.room(incident.id), topic=render.topic(incident, policy))
    return current


def announce(tx: Tx, policy: Policy, incident: Incident, text: str) -> None:
    """A line in the announcement's thread in the incidents channel."""
    key = view.announcement_key(incident.id)
    tx.send("post", channel=ref(key, "channel"), thread_ts=ref(key, "ts"), text=text)


def open_war_room(tx: Tx, policy: Policy, origin: Origin, *, severity: str, title: str,
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
    tx.send("create_channel", store_as=view.channel_key(iid), name=incident.channel_name)
    members = list(dict.fromkeys([origin.user, *(invite or []), *policy.war_room.responders.get(severity, [])]))
    tx.send("invite", channel=view.room(iid), users=[m for m in members if m])
    tx.send("topic", channel=view.room(iid), topic=render.topic(incident, policy))
    current = view.load(tx.session, incident)
    text, blocks = render.summary(current, policy, tx.now)
    post(tx, incident, text, blocks, store_as=view.summary_key(iid))
    summary = view.summary_key(iid)
    tx.send("pin", channel=ref(summary, "channel"), ts=ref(summary, "ts"))
    text, blocks = render.announcement(incident, policy, None)
    tx.send("post", store_as=view.announcement_key(iid), channel=policy.war_room.incidents_channel,
            text=text, blocks=blocks)
    return current


def upload_timeline(tx: Tx, policy: Policy, incident: Incident) -> None:
    """Share the timeline in the war room as a Markdown file."""
    current = view.load(tx.session, incident)
    tx.send("upload", channel=view.room(incident.id), filename=markdown.filename(current),
            content=markdown.timeline_markdown(current, policy),
            title=f"Incident #{incident.id} timeline", comment=f"Timeline of incident #{incident.id}.")


def cancel_pending_status(tx: Tx, incident: Incident) -> None:
    """Drop automatic updates still waiting in the outbox: none may appear after the resolve."""
    pending = tx.session.exec(select(OutboxMessage).where(
        OutboxMessage.store_as == view.status_key(incident.id), col(OutboxMessage.sent_at).is_(None),
        col(OutboxMessage.failed).is_(False))).all()
    for row in pending:
        row.failed, row.last_error = True, "cancelled: incident resolved"
        tx.session.add(row)


def channel_stored(s: Session, policy: Policy, now: datetime, key: str, result: dict[str, Any]) -> None:
    """Outbox hook: the war-room channel exists, so record its ID and link it in the announcement."""
    parts = key.split(":")
    if len(parts) != 3 or parts[0] != "incident" or parts[2] != "channel" or not parts[1].isdigit():
        return
    channel = result.get("channel")
    incident = s.get(Incident, int(parts[1]))
    if not channel or incident is None:
        return
    name = str(result.get("name") or incident.channel_name)[:80]
    # Bump row_version so a concurrent compare-and-set writer re-reads instead of overwriting.
    s.execute(update(Incident).where(col(Incident.id) == incident.id)
              .values(channel_id=channel, channel_name=name, row_version=Incident.row_version + 1)
              .execution_options(synchronize_session=False))
    incident.channel_id, incident.channel_name = channel, name
    text, blocks = render.announcement(incident, policy, channel)
    ann = view.announcement_key(incident.id)
    payload = {"channel": ref(ann, "channel"), "ts": ref(ann, "ts"), "text": text, "blocks": blocks}
    s.add(OutboxMessage(**outbox_row("update", payload, now, coalesce=ann)))
