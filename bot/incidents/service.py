"""The incident workflow: declare, update, decide, assign roles, mitigate, resolve, post-mortem.

Slack-free: it records state and queues messages through ``Tx``; handlers render replies.
``where`` names an incident by number (buttons, API) or by its war-room channel ID (commands).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.database import Database
from bot.errors import NotFound, UsageError
from bot.incidents import markdown, prose, render, room, view
from bot.incidents.cadence import Cadence, next_postmortem_reminder, response_schedule
from bot.incidents.cause import set_cause
from bot.incidents.requests import ROLE_NAMES, DeclareIncident, check_text
from bot.incidents.state import INVESTIGATING, OPEN, describe, next_status
from bot.incidents.view import IncidentView
from bot.policy import Policy
from bot.releases.requests import StartRelease, check_version
from bot.releases.service import ReleaseService
from bot.releases.view import ReleaseView
from bot.text import duration, escape, mention
from bot.tx import Origin, Tx
from storage.models import Incident, ProcessedRequest, Release
from storage.vocab import ReleaseType, Risk, Severity

Where = int | str
NOT_A_WAR_ROOM = ("This channel is not a war room. Declare an incident with `/incident declare <P0|P1|P2|P3> <title>` "
                  "(it gets its own channel), or run this in the incident's channel; `/incident list` shows them.")
RELEASE_WAR_ROOM_SEVERITY = Severity.P1


class IncidentService:
    """Every incident action; each runs in one transaction with compare-and-set."""

    def __init__(self, db: Database, policy: Policy, releases: ReleaseService, template_dir: str | None = None) -> None:
        self.db = db
        self.policy = policy
        self.releases = releases
        # Teams may override the shipped templates from a folder (optional).
        self.template_dir = template_dir
        self.cadence = Cadence(db, policy, template_dir)

    # --- reads -------------------------------------------------------------------------
    def get(self, where: Where) -> IncidentView:
        """One incident with its timeline, or NotFound / not-a-war-room."""
        with self.db.read() as s:
            return view.load(s, self._find(s, where))

    def list(self, limit: int = 20, *, open_only: bool = False) -> list[IncidentView]:
        """The newest incidents first (only open ones when asked)."""
        with self.db.read() as s:
            stmt = select(Incident).order_by(col(Incident.id).desc()).limit(limit)
            if open_only:
                stmt = stmt.where(col(Incident.status).in_(OPEN))
            return [view.load(s, i) for i in s.exec(stmt).all()]

    def by_channel(self, channel_id: str) -> IncidentView | None:
        """The incident whose war room is ``channel_id``, if any."""
        with self.db.read() as s:
            row = s.exec(select(Incident).where(Incident.channel_id == channel_id)).first()
            return view.load(s, row) if row else None

    def timeline_markdown(self, where: Where) -> str:
        """The timeline as a Markdown document."""
        return markdown.timeline_markdown(self.get(where), self.policy)

    # --- writes ------------------------------------------------------------------------
    def declare(self, req: DeclareIncident, origin: Origin) -> IncidentView:
        """Open a war room: channel, invitations, topic, pinned summary, announcement."""
        def work(tx: Tx) -> IncidentView:
            tx.once(origin.request_id)
            opened = self._open(tx, origin, req.severity, req.title)
            if req.caused_by:
                set_cause(tx, self.policy, opened.incident, req.caused_by, origin)
            return opened
        return self.db.run(work)

    def cause(self, where: Where, version: str, origin: Origin) -> IncidentView:
        """Name the release (version) that caused the incident; the metrics count it as failed."""
        version = check_version(version)

        def work(tx: Tx) -> IncidentView:
            tx.once(origin.request_id)
            incident = self._find(tx.session, where)
            release = set_cause(tx, self.policy, incident, version, origin)
            which = f"release {version}" if release else f"version {version} (not a release warroom knows)"
            room.record(tx, incident, "cause", origin.user, f"Caused by {which}", version=version)
            room.post(tx, incident, f":mag: {mention(origin.user)} recorded the cause: {escape(which)}.")
            return room.refresh(tx, self.policy, incident)
        return self.db.run(work)

    def update(self, where: Where, text: str, origin: Origin) -> IncidentView:
        """Post a human update; the next automatic one moves a full interval later."""
        text = check_text(text, "/incident update <what is happening>")

        def work(tx: Tx, incident: Incident) -> str:
            nxt = tx.now + timedelta(seconds=self.policy.interval_for(incident.severity))
            tx.save(incident, next_status_at=nxt, missed_updates=0, last_human_update_at=tx.now, updated_at=tx.now)
            room.record(tx, incident, "update", origin.user, text)
            room.post(tx, incident, f":mega: *Update* from {mention(origin.user)}: {escape(text)}")
            return "update"
        return self._act(where, origin, "update", work)

    def decision(self, where: Where, text: str, origin: Origin) -> IncidentView:
        """Record who decided what, and when."""
        text = check_text(text, "/incident decision <what was decided>")

        def work(tx: Tx, incident: Incident) -> str:
            tx.save(incident, updated_at=tx.now)
            room.record(tx, incident, "decision", origin.user, text)
            room.post(tx, incident, f":scales: *Decision* by {mention(origin.user)}: {escape(text)}")
            return "decision"
        return self._act(where, origin, "decision", work)

    def followup(self, where: Where, text: str, origin: Origin) -> IncidentView:
        """Record an open follow-up (an action item for the post-mortem)."""
        text = check_text(text, "/incident followup <what needs doing>")

        def work(tx: Tx, incident: Incident) -> str:
            tx.save(incident, updated_at=tx.now)
            entry = room.record(tx, incident, "followup", origin.user, text, open=True)
            room.post(tx, incident, f":pushpin: Follow-up [{entry.id}] from {mention(origin.user)}: {escape(text)}")
            return "followup"
        return self._act(where, origin, "followup", work)

    def close_followup(self, where: Where, entry_id: int, origin: Origin) -> IncidentView:
        """Close an open follow-up by its number."""
        def work(tx: Tx, incident: Incident) -> str:
            entry = next((e for e in view.load(tx.session, incident).open_followups if e.id == entry_id), None)
            if entry is None:
                raise UsageError(f"There is no open follow-up [{entry_id}]; `/incident status` lists them.")
            tx.save(incident, updated_at=tx.now)
            entry.detail = entry.detail | {"open": False, "closed_by": origin.user, "closed_at": tx.now.isoformat()}
            tx.session.add(entry)
            room.post(tx, incident, f":ballot_box_with_check: Follow-up [{entry_id}] closed by {mention(origin.user)}.")
            return "followup"
        return self._act(where, origin, "followup", work)

    def assign_role(self, where: Where, role: str, user: str, origin: Origin) -> IncidentView:
        """Hand commander, comms or scribe to ``user``; they get their duties by DM."""
        def work(tx: Tx, incident: Incident) -> str:
            previous = getattr(incident, role)
            if previous == user:
                raise UsageError(f"{mention(user)} is the {ROLE_NAMES[role]} already; nothing was changed.")
            tx.save(incident, **{role: user, "updated_at": tx.now})
            room.record(tx, incident, "role", origin.user, role=role, user=user, previous=previous)
            room.post(tx, incident, f":busts_in_silhouette: {mention(user)} is now the {ROLE_NAMES[role]} "
                                    f"(assigned by {mention(origin.user)}).")
            tx.slack.dm(user, render.duties(role, incident))
            return "role"
        return self._act(where, origin, "role", work, topic=role == "commander")

    def mitigate(self, where: Where, origin: Origin, note: str = "") -> IncidentView:
        """Record the mitigation: it meets (or misses) the response deadline and stops its reminders."""
        note = note.strip()[:3000]

        def work(tx: Tx, incident: Incident) -> str:
            tx.save(incident, status=next_status(incident.id, incident.status, "mitigate"), mitigated_at=tx.now,
                    response_reminder_at=None, updated_at=tx.now)
            room.record(tx, incident, "mitigated", origin.user, note)
            why = f": {escape(note)}" if note else "."
            room.post(tx, incident, f":large_orange_circle: Mitigated by {mention(origin.user)} after "
                                    f"{duration((tx.now - incident.declared_at).total_seconds())}{why}")
            return "mitigate"
        return self._act(where, origin, "mitigate", work, topic=True)

    def resolve(self, where: Where, origin: Origin, summary: str = "") -> IncidentView:
        """Stop status updates at once, record the time to resolve, post the post-mortem draft."""
        summary = summary.strip()[:3000]

        def work(tx: Tx, incident: Incident) -> str:
            status = next_status(incident.id, incident.status, "resolve")
            due = tx.now + timedelta(seconds=self.policy.postmortem.due_seconds)
            tx.save(incident, status=status, resolved_at=tx.now, resolution_summary=summary or None,
                    next_status_at=None, response_reminder_at=None, postmortem_due_at=due,
                    postmortem_reminder_at=next_postmortem_reminder(due, tx.now, self.policy.postmortem),
                    updated_at=tx.now)
            room.cancel_pending_status(tx, incident)
            room.record(tx, incident, "resolved", origin.user, summary)
            took = duration((tx.now - incident.declared_at).total_seconds())
            why = f" Summary: {escape(summary)}" if summary else ""
            room.post(tx, incident, f":white_check_mark: Resolved by {mention(origin.user)} after {took}. "
                                    f"Status updates have stopped.{why}")
            draft = prose.postmortem(view.load(tx.session, incident), self.policy, tx.now, self.template_dir)
            room.post(tx, incident, f"Post-mortem draft for incident #{incident.id}", render.chunks(draft))
            room.upload_timeline(tx, self.policy, incident)
            room.announce(tx, incident, f":white_check_mark: Resolved after {took}.")
            return "resolve"
        return self._act(where, origin, "resolve", work, topic=True)

    def postmortem_done(self, where: Where, origin: Origin, link: str | None = None) -> IncidentView:
        """Mark the post-mortem done; its reminders stop."""
        def work(tx: Tx, incident: Incident) -> str:
            tx.save(incident, status=next_status(incident.id, incident.status, "postmortem_done"),
                    postmortem_done_at=tx.now, postmortem_link=link, postmortem_reminder_at=None, updated_at=tx.now)
            room.record(tx, incident, "postmortem", origin.user, link or "")
            where_ = f": {escape(link)}" if link else "."
            room.post(tx, incident, f":tada: Post-mortem marked done by {mention(origin.user)}{where_}")
            room.announce(tx, incident, f":memo: Post-mortem done{where_}")
            return "postmortem_done"
        return self._act(where, origin, "postmortem_done", work)

    def export(self, where: Where, origin: Origin) -> IncidentView:
        """Post the timeline to the war room as a Markdown file."""
        def work(tx: Tx) -> IncidentView:
            tx.once(origin.request_id)
            incident = self._find(tx.session, where)
            room.upload_timeline(tx, self.policy, incident)
            return view.load(tx.session, incident)
        return self.db.run(work)

    def start_hotfix(self, where: Where, version: str, origin: Origin, fallback_channel: str) -> ReleaseView:
        """Open a hotfix release linked to the incident, on the path its severity allows."""
        incident = self.get(where).incident
        next_status(incident.id, incident.status, "hotfix")
        req = StartRelease.build(version=version, type=ReleaseType.HOTFIX, incident_id=incident.id,
                                 channel_id=incident.channel_id or fallback_channel,
                                 summary=f"Hotfix for incident #{incident.id}: {incident.title}")
        return self.releases.start(req, origin)  # on_release_event shows it on the summary

    # --- due work ----------------------------------------------------------------------
    def run_due(self) -> int:
        """Post due status updates and reminders; returns how many were done."""
        return self.cadence.run_due()

    # --- helpers -----------------------------------------------------------------------
    def _open(self, tx: Tx, origin: Origin, severity: Severity, title: str,
              invite: builtins.list[str] | None = None) -> IncidentView:
        response = response_schedule(tx.now, self.policy.severities[severity].response_seconds)
        return room.open_war_room(tx, self.policy, origin, severity=severity, title=title, response=response,
                                  invite=invite)

    def _find(self, s: Session, where: Where) -> Incident:
        if isinstance(where, int):
            found = s.get(Incident, where)
            if found is None:
                raise NotFound(f"There is no incident #{where}. `/incident list` shows recent ones.")
            return found
        row = s.exec(select(Incident).where(Incident.channel_id == where)).first() if where else None
        if row is None:
            raise UsageError(NOT_A_WAR_ROOM)
        return row

    def _act(self, where: Where, origin: Origin, action: str, change: Callable[[Tx, Incident], Any], *,
             topic: bool = False) -> IncidentView:
        """Find, check the transition, apply ``change``, audit, and refresh the pinned summary."""
        def work(tx: Tx) -> IncidentView:
            tx.once(origin.request_id)
            incident = self._find(tx.session, where)
            before = incident.status
            next_status(incident.id, before, action)
            change(tx, incident)
            tx.audit(origin, "incident", incident.id or 0, action, from_state=before, to_state=incident.status)
            return room.refresh(tx, self.policy, incident, topic=topic)
        return self.db.run(work)

    def on_release_event(self, tx: Tx, release: Release, action: str, origin: Origin) -> None:
        """Release listener: a hotfix linked to an incident shows on its summary; a critical release
        reaching production for the first time opens its own war room."""
        if action == "start" and release.incident_id:
            linked = tx.session.get(Incident, release.incident_id)
            if linked is not None:
                room.refresh(tx, self.policy, linked)
            return
        if action != "promote" or release.risk != Risk.CRITICAL or not self.policy.stage(release.stage).production:
            return
        key = f"war-room:release:{release.id}"
        if tx.session.get(ProcessedRequest, key) is not None:
            return
        tx.session.add(ProcessedRequest(key=key, at=tx.now))
        opened = self._open(tx, origin, RELEASE_WAR_ROOM_SEVERITY, f"Release {release.version} war room",
                            invite=[release.requested_by])
        i = opened.incident
        tx.slack.post(release.channel_id,
                      f":rotating_light: Critical release {release.version} reached "
                      f"{self.policy.stage(release.stage).label}: war room incident #{i.id} is open "
                      f"(#{i.channel_name}). Status: {describe(INVESTIGATING)}.")
