"""Records as notes: with WARROOM_VAULT_DIR set, every release and incident is kept as a Markdown
note in that folder (front matter, wikilinks between a release and the incidents it caused,
the decision log or timeline), rewritten atomically when it changes. The folder opens as an
Obsidian vault or can be committed to git.

A scheduler job in each process writes the notes of rows changed since its last pass (all of
them after a start); the write is a temporary file renamed over the note, so a reader never
sees half a note and replicas writing the same note at once are harmless.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bot.database import Database
from storage.models import AuditEntry, Incident, Release, TimelineEntry


def release_note_name(version: str) -> str:
    """The note (and wikilink target) of a release."""
    return f"release-{version}"


def incident_note_name(incident_id: int) -> str:
    """The note (and wikilink target) of an incident."""
    return f"incident-{incident_id}"


def _front(fields: dict[str, Any]) -> str:
    # JSON scalars are valid YAML, so any user text stays one well-quoted value.
    lines = [f"{k}: {json.dumps(v.isoformat() if isinstance(v, datetime) else v, ensure_ascii=False)}"
             for k, v in fields.items()]
    return "---\n" + "\n".join(lines) + "\n---\n"


def _line(text: str) -> str:
    return " ".join(text.split())


def release_note(release: Release, audit: list[AuditEntry], caused: list[Incident]) -> str:
    """A release as Markdown: front matter, the incidents it caused, its decision log."""
    links = [f"[[{incident_note_name(i.id or 0)}]]" for i in caused]
    out = _front({"type": "release", "version": release.version, "status": release.status, "stage": release.stage,
                  "risk": release.risk, "release_type": release.type, "service": release.service,
                  "requested_by": release.requested_by, "created_at": release.created_at,
                  "production_at": release.production_at, "finished_at": release.finished_at,
                  "rollback_reason": release.rollback_reason, "caused_incidents": links})
    out += f"\n# Release {release.version}\n\n{_line(release.summary) or '_No summary._'}\n"
    if caused:
        out += "\n## Incidents it caused\n\n" + "\n".join(
            f"- [[{incident_note_name(i.id or 0)}]] {i.severity} {_line(i.title)}" for i in caused) + "\n"
    out += "\n## Decision log\n\n" + "\n".join(
        f"- {e.at:%Y-%m-%d %H:%M} UTC {e.actor}: {e.action}"
        + (f" ({e.from_state} -> {e.to_state})" if e.to_state else "")
        + (f": {_line(e.reason)}" if e.reason else "") for e in audit) + "\n"
    return out


def incident_note(incident: Incident, timeline: list[TimelineEntry]) -> str:
    """An incident as Markdown: front matter, its cause, its timeline."""
    cause = f"[[{release_note_name(incident.caused_by_version)}]]" if incident.caused_by_version else None
    out = _front({"type": "incident", "id": incident.id, "title": incident.title, "severity": incident.severity,
                  "status": incident.status, "service": incident.service, "commander": incident.commander,
                  "declared_at": incident.declared_at, "mitigated_at": incident.mitigated_at,
                  "resolved_at": incident.resolved_at, "caused_by": cause,
                  "postmortem_link": incident.postmortem_link, "imported": incident.imported})
    out += f"\n# Incident #{incident.id}: {_line(incident.title)}\n"
    if cause:
        out += f"\nCaused by {cause}.\n"
    out += "\n## Timeline\n\n" + "\n".join(
        f"- {e.at:%Y-%m-%d %H:%M} UTC {e.actor} {e.kind}" + (f": {_line(e.text)}" if e.text else "")
        for e in timeline) + "\n"
    return out


def write_atomically(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text`` unless it holds that already; True when written."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


class Vault:
    """Keeps the notes in ``folder`` in step with the database."""

    def __init__(self, db: Database, folder: str, every: float = 2.0) -> None:
        self.db = db
        self.folder = Path(folder)
        self.every = every
        self._seen: datetime | None = None
        self._next = 0.0

    def sync_due(self) -> int:
        """Scheduler job: sync at most every ``every`` seconds."""
        if time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self.every
        return self.sync()

    def sync(self) -> int:
        """Write the notes of releases and incidents changed since the last pass; returns how many."""
        self.folder.mkdir(parents=True, exist_ok=True)
        written = 0
        with self.db.read() as s:
            since = self._seen
            releases = s.exec(select(Release).where(col(Release.updated_at) >= since) if since
                              else select(Release)).all()
            incidents = s.exec(select(Incident).where(col(Incident.updated_at) >= since) if since
                               else select(Incident)).all()
            # A changed incident may name a release: that release's note lists it.
            versions = {i.caused_by_version for i in incidents if i.caused_by_version}
            extra = s.exec(select(Release).where(col(Release.version).in_(versions))).all() if versions else []
            stamps = [r.updated_at for r in releases] + [i.updated_at for i in incidents]
            for release in {r.id: r for r in [*releases, *extra]}.values():
                written += self._write_release(s, release)
            for incident in incidents:
                written += write_atomically(self.folder / f"{incident_note_name(incident.id or 0)}.md",
                                            incident_note(incident, self._timeline(s, incident)))
        if stamps:
            self._seen = max([*stamps, *([since] if since else [])])
        return written

    def _write_release(self, s: Session, release: Release) -> bool:
        audit = s.exec(select(AuditEntry).where(AuditEntry.subject == "release", AuditEntry.subject_id == release.id)
                       .order_by(col(AuditEntry.id))).all()
        caused = s.exec(select(Incident).where(Incident.caused_by_version == release.version)
                        .order_by(col(Incident.id))).all()
        return write_atomically(self.folder / f"{release_note_name(release.version)}.md",
                                release_note(release, list(audit), list(caused)))

    @staticmethod
    def _timeline(s: Session, incident: Incident) -> list[TimelineEntry]:
        return list(s.exec(select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
                           .order_by(col(TimelineEntry.at), col(TimelineEntry.id))).all())
