"""An incident with its timeline, and the SlackRef keys of the messages it owns."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.outbox_port import Ref, ref
from storage.models import Incident, Release, TimelineEntry

# Outbox renderers (registered by bot.app): the channel, the pinned summary, the announcement.
CHANNEL = "incident_channel"
SUMMARY = "incident_summary"
ANNOUNCEMENT = "incident_announcement"


@dataclass(frozen=True)
class IncidentView:
    """An incident, its timeline entries (oldest first) and the hotfixes linked to it."""

    incident: Incident
    entries: list[TimelineEntry]
    hotfixes: list[Release]

    def of_kind(self, *kinds: str) -> list[TimelineEntry]:
        """Timeline entries of the given kinds, oldest first."""
        return [e for e in self.entries if e.kind in kinds]

    @property
    def open_followups(self) -> list[TimelineEntry]:
        """Follow-ups nobody has closed yet."""
        return [e for e in self.of_kind("followup") if e.detail.get("open", True)]

    @property
    def last_human_update(self) -> TimelineEntry | None:
        """The newest `/incident update`, if any."""
        updates = self.of_kind("update")
        return updates[-1] if updates else None


def load(s: Session, incident: Incident) -> IncidentView:
    """Read the timeline and hotfixes of ``incident``."""
    entries = s.exec(select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
                     .order_by(col(TimelineEntry.at), col(TimelineEntry.id))).all()
    hotfixes = s.exec(select(Release).where(Release.incident_id == incident.id)
                      .order_by(col(Release.created_at), col(Release.id))).all()
    return IncidentView(incident, list(entries), list(hotfixes))


def channel_key(incident_id: int | None) -> str:
    """SlackRef key of the war-room channel (stored when conversations.create answers)."""
    return f"incident:{incident_id}:channel"


def summary_key(incident_id: int | None) -> str:
    """SlackRef key of the pinned summary in the war room."""
    return f"incident:{incident_id}:summary"


def announcement_key(incident_id: int | None) -> str:
    """SlackRef key of the announcement in the incidents channel."""
    return f"incident:{incident_id}:announcement"


def status_key(incident_id: int | None) -> str:
    """SlackRef key of the newest automatic status update (pending ones are cancelled on resolve)."""
    return f"incident:{incident_id}:status"


def room(incident_id: int | None) -> Ref:
    """The war-room channel as an outbox placeholder, filled once the channel exists."""
    return ref(channel_key(incident_id), "channel")
