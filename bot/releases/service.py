"""The release workflow: start, approve, promote, roll back, with policy gates and audit.

Slack-free: it records state and queues messages through ``Tx``; handlers render replies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from bot.errors import GateBlocked, InvalidTransition, NotFound, PermissionDenied, UsageError
from bot.policy import Policy, Stage
from bot.releases import gates, modals, render
from bot.releases.requests import StartRelease, check_version
from bot.releases.state import ACTIVE, COMPLETED, next_status
from bot.text import escape, mention
from bot.tx import Database, Origin, Tx, ref
from storage.models import Approval, AuditEntry, Incident, OutboxMessage, Release


@dataclass(frozen=True)
class ReleaseView:
    """A release with its approvals, as shown in Slack and the API."""

    release: Release
    approvals: list[Approval]
    needed: int


ANNOUNCEMENT = "release_announcement"


def announcement_key(release_id: int) -> str:
    """The SlackRef key of a release's announcement message."""
    return f"release:{release_id}:announcement"


def _update_pending(tx: Tx, key: str) -> bool:
    """An update of ``key`` is queued for a moment from now: it renders the state as it is when
    sent, so it carries this change too (the margin keeps clear of one being sent right now)."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    soon = tx.now + timedelta(seconds=0.5)
    return tx.session.connection().execute(
        select(table.c.id).where(table.c.coalesce_key == key, table.c.sent_at.is_(None),
                                 table.c.claimed_until.is_(None), table.c.not_before > soon).limit(1)
    ).first() is not None


class ReleaseService:
    """Every release action; each runs in one transaction with compare-and-set."""

    def __init__(self, db: Database, policy: Policy, is_approver: Callable[[str], bool]) -> None:
        self.db = db
        self.policy = policy
        self.is_approver = is_approver
        # Other workflows react to release events inside the same transaction (e.g. a critical
        # release reaching production opens a war room): fn(tx, release, action, origin).
        self.listeners: list[Callable[[Tx, Release, str, Origin], None]] = []
        # Further gates (checks, alerts, bake time): fn(tx, release, target) -> why not, or None.
        self.gates: list[Callable[[Tx, Release, Stage], str | None]] = []
        # Announcement sections from other workflows (checks' live validation status).
        self.sections: list[Callable[[Session, Release, datetime], list[str]]] = []

    # --- reads -------------------------------------------------------------------------
    def get(self, version: str) -> ReleaseView:
        """One release by version, or NotFound."""
        with self.db.read() as s:
            return self._view(s, self._find(s, version))

    def audit(self, version: str) -> list[AuditEntry]:
        """The release's audit trail, oldest first."""
        with self.db.read() as s:
            release = self._find(s, version)
            return list(s.exec(select(AuditEntry).where(AuditEntry.subject == "release",
                                                        AuditEntry.subject_id == release.id)
                               .order_by(col(AuditEntry.id))).all())

    def recent(self, limit: int = 10) -> list[ReleaseView]:
        """The most recently started releases, newest first."""
        with self.db.read() as s:
            rows = s.exec(select(Release).order_by(col(Release.id).desc()).limit(limit)).all()
            return [self._view(s, r) for r in rows]

    def latest_in(self, channel_id: str) -> ReleaseView | None:
        """The newest release started in ``channel_id``, if any."""
        with self.db.read() as s:
            row = s.exec(select(Release).where(Release.channel_id == channel_id)
                         .order_by(col(Release.id).desc()).limit(1)).first()
            return self._view(s, row) if row else None

    # --- writes ------------------------------------------------------------------------
    def start(self, req: StartRelease, origin: Origin) -> ReleaseView:
        """Open a release and post its announcement in the channel it was started from."""
        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            s = tx.session
            if s.exec(select(Release).where(Release.version == req.version)).first():
                raise UsageError(f"Release {req.version} exists already; see `/release status {req.version}`.")
            severity, stage = req.severity, self.policy.stages[0].name
            if req.incident_id is not None:
                incident = s.get(Incident, req.incident_id)
                if incident is None:
                    raise NotFound(f"There is no incident {req.incident_id}.")
                severity = severity or incident.severity
            if req.type == "hotfix":
                if severity is None:
                    raise UsageError("A hotfix needs a severity: add `severity=P0..P3` or `incident=<id>`.")
                stage = self.policy.severities[severity].hotfix_start_stage  # type: ignore[index]
            elif severity is not None:
                raise UsageError("Only a hotfix carries a severity; add `type=hotfix`.")
            release = Release(
                version=req.version, type=req.type, risk=req.risk, severity=severity,
                incident_id=req.incident_id, status=ACTIVE, stage=stage, requested_by=origin.user,
                channel_id=req.channel_id, summary=req.summary, breaking_changes=req.breaking_changes,
                rollback_plan=req.rollback_plan, checklist={}, created_at=tx.now, updated_at=tx.now,
                service=req.service or self.policy.monitoring.default_service, sha=req.sha, repo=req.repo,
                ref=req.ref,
            )
            s.add(release)
            s.flush()
            assert release.id is not None
            tx.audit(origin, "release", release.id, "start", to_state=f"{ACTIVE}:{stage}",
                     version=release.version, risk=release.risk, type=release.type)
            self._emit(tx, release, "start", origin)
            tx.send(ANNOUNCEMENT, store_as=announcement_key(release.id), release_id=release.id,
                    channel=release.channel_id)
            self._thread(tx, release, f"Release started by {mention(origin.user)} at stage *{stage}*.")
            return ReleaseView(release, [], gates.approvals_needed(self.policy, release.risk))
        return self.db.run(work)

    def promote(self, version: str, origin: Origin, *, expected_stage: str | None = None) -> ReleaseView:
        """Move to the next stage when its gates allow; the last stage completes the release."""
        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            if expected_stage and release.stage != expected_stage:
                raise InvalidTransition(f"Release {release.version} is at {release.stage} already; "
                                        "nothing was changed.")
            target = self.policy.next_stage(release.stage)
            if target is None:
                raise InvalidTransition(f"Release {release.version} is at the last stage already.")
            final = self.policy.next_stage(target.name) is None
            status = next_status(release.version, release.status, "complete" if final else "promote")
            approvals = len(self._approvals(tx.session, release))
            why = gates.blocked_by(self.policy, release, target, approvals, tx.now)
            for gate in self.gates:
                why = why or gate(tx, release, target)
            if why:
                raise GateBlocked(why)
            before = f"{release.status}:{release.stage}"
            changes: dict[str, object] = {"stage": target.name, "status": status, "updated_at": tx.now}
            if target.production and release.production_at is None:
                changes["production_at"] = tx.now
            if final:
                changes["finished_at"] = tx.now
            tx.save(release, **changes)
            tx.audit(origin, "release", release.id or 0, "promote", from_state=before,
                     to_state=f"{status}:{target.name}")
            note = " The release is complete." if final else ""
            self._emit(tx, release, "promote", origin)
            self._announce(tx, release, f"Promoted to *{target.label}* by {mention(origin.user)}.{note}")
            return self._view(tx.session, release)
        return self.db.run(work)

    def approve(self, version: str, origin: Origin) -> ReleaseView:
        """Record one approval; the requester and non-approvers are refused."""
        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            self._check_approver(release, origin.user, "approve")
            next_status(release.version, release.status, "approve")
            if self._past_approval(release):
                raise InvalidTransition(f"Release {release.version} is in production already; "
                                        "approvals are given before production.")
            approvals = self._approvals(tx.session, release)
            if any(a.user_id == origin.user for a in approvals):
                raise InvalidTransition(f"You approved {release.version} already.")
            approval = Approval(release_id=release.id or 0, user_id=origin.user, at=tx.now)
            tx.insert(approval)
            # Bump the row so two approvals at once serialise through compare-and-set.
            tx.save(release, updated_at=tx.now)
            tx.audit(origin, "release", release.id or 0, "approve", from_state=release.stage,
                     to_state=release.stage)
            self._announce(tx, release, f"Approved by {mention(origin.user)}.")
            return ReleaseView(release, [*approvals, approval], gates.approvals_needed(self.policy, release.risk))
        return self.db.run(work)

    def reject(self, version: str, origin: Origin, reason: str = "") -> ReleaseView:
        """An approver stops the release before production."""
        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            self._check_approver(release, origin.user, "reject")
            status = next_status(release.version, release.status, "reject")
            if self._past_approval(release):
                raise InvalidTransition(f"Release {release.version} is in production; roll it back instead.")
            tx.save(release, status=status, finished_at=tx.now, updated_at=tx.now)
            tx.audit(origin, "release", release.id or 0, "reject", from_state=ACTIVE, to_state=status,
                     reason=reason or None)
            why = f" Reason: {escape(reason)}" if reason else ""
            self._announce(tx, release, f"Rejected by {mention(origin.user)}.{why}")
            return self._view(tx.session, release)
        return self.db.run(work)

    def rollback(self, version: str, origin: Origin, reason: str, *, automatic: bool = False) -> ReleaseView:
        """An approver rolls the release back, with a reason the channel is told; ``automatic``
        marks warroom's own rollback on a firing alert (no approver involved)."""
        reason = reason.strip()
        if not reason:
            raise UsageError(f"A rollback needs a reason: `/release rollback {version} <reason>`.")
        if len(reason) > 1000:
            raise UsageError("Keep the rollback reason under 1,000 characters.")

        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            if not automatic and not self.is_approver(origin.user):
                raise PermissionDenied("Only an approver may roll back a release.")
            before = release.status
            status = next_status(release.version, release.status, "rollback")
            tx.save(release, status=status, rollback_reason=reason, rolled_back_by=origin.user,
                    finished_at=tx.now, updated_at=tx.now)
            tx.audit(origin, "release", release.id or 0, "rollback", from_state=before, to_state=status,
                     reason=reason, automatic=automatic)
            who = "warroom (automatic)" if automatic else mention(origin.user)
            text = f":rewind: Release {release.version} was rolled back by {who}: {escape(reason)}"
            tx.send("post", channel=release.channel_id, text=text)
            self._emit(tx, release, "rollback", origin)
            self._announce(tx, release, f"Rolled back by {who}. Reason: {escape(reason)}")
            return self._view(tx.session, release)
        return self.db.run(work)

    def override_freeze(self, version: str, origin: Origin, reason: str) -> ReleaseView:
        """An approver lets this release past the freeze, with a written reason (audited)."""
        reason = reason.strip()
        if not reason:
            raise UsageError(f"An override needs a reason: `/release override {version} <reason>`.")

        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            self._check_approver(release, origin.user, "override the freeze for")
            next_status(release.version, release.status, "override_freeze")
            override = {"by": origin.user, "reason": reason[:1000], "at": tx.now.isoformat()}
            tx.save(release, freeze_override=override, updated_at=tx.now)
            tx.audit(origin, "release", release.id or 0, "override_freeze", reason=reason)
            self._announce(tx, release, f"Freeze overridden by {mention(origin.user)}: {escape(reason)}")
            return self._view(tx.session, release)
        return self.db.run(work)

    def set_checklist(self, version: str, origin: Origin, ticked: list[str]) -> ReleaseView:
        """Replace the ticked checklist items with ``ticked`` (keys from gates.checklist_keys)."""
        known = set(gates.checklist_keys(self.policy))
        unknown = set(ticked) - known
        if unknown:
            raise UsageError(f"Unknown checklist item(s): {', '.join(sorted(escape(u) for u in unknown))}.")

        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            next_status(release.version, release.status, "checklist")
            # Items a check ticks follow the check, whatever the form says.
            bound = gates.check_bound(self.policy)
            wanted = [k for k in ticked if k not in bound] + [k for k in release.checklist if k in bound]
            kept = {k: v for k, v in release.checklist.items() if k in wanted}
            added = [k for k in wanted if k not in kept]
            for key in added:
                kept[key] = {"by": origin.user, "at": tx.now.isoformat()}
            removed = [k for k in release.checklist if k not in kept]
            if not added and not removed:
                return self._view(tx.session, release)
            tx.save(release, checklist=kept, updated_at=tx.now)
            tx.audit(origin, "release", release.id or 0, "checklist", ticked=added, unticked=removed)
            done = ", ".join(gates.checklist_label(self.policy, k) for k in added) or "nothing new"
            self._announce(tx, release, f"Checklist updated by {mention(origin.user)}: ticked {done}.")
            return self._view(tx.session, release)
        return self.db.run(work)

    def ask_reason(self, action: str, version: str, origin: Origin, trigger_id: str) -> None:
        """Open the reason form for a rollback, rejection or override, if this user may do it."""
        verbs = {"rollback": "rollback", "reject": "reject", "override": "override_freeze"}
        with self.db.transaction() as tx:
            release = self._find(tx.session, version)
            if action == "rollback":
                if not self.is_approver(origin.user):
                    raise PermissionDenied("Only an approver may roll back a release.")
            else:
                self._check_approver(release, origin.user, action)
            next_status(release.version, release.status, verbs[action])
            tx.send("open_view", trigger_id=trigger_id, view=modals.reason_modal(action, release.version))

    # --- helpers -----------------------------------------------------------------------
    def find(self, s: Session, version: str) -> Release:
        """The release called ``version`` in this session, or NotFound."""
        return self._find(s, version)

    def check_approver(self, release: Release, user: str, verb: str) -> None:
        """PermissionDenied unless ``user`` is an approver other than the requester."""
        self._check_approver(release, user, verb)

    def refresh(self, tx: Tx, release: Release, event: str | None = None, *, delay: float = 0) -> None:
        """Queue the in-place (coalesced) update of the announcement, and a thread line if given;
        ``delay`` lets a burst of changes (CI reports) become one update."""
        key = announcement_key(release.id or 0)
        if not (delay and _update_pending(tx, key)):
            tx.send(ANNOUNCEMENT, release_id=release.id, channel=ref(key, "channel"), ts=ref(key, "ts"),
                    coalesce=key, delay=delay)
        if event:
            self._thread(tx, release, event)

    def thread(self, tx: Tx, release: Release, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Post in the release's thread (after the announcement exists)."""
        key = announcement_key(release.id or 0)
        extra = {"blocks": blocks} if blocks else {}
        tx.send("post", channel=ref(key, "channel"), thread_ts=ref(key, "ts"), text=text, **extra)

    def _find(self, s: Session, version: str) -> Release:
        version = check_version(version)
        release = s.exec(select(Release).where(Release.version == version)).first()
        if release is None:
            raise NotFound(f"There is no release {version}. `/release list` shows recent ones.")
        return release

    def _approvals(self, s: Session, release: Release) -> list[Approval]:
        return list(s.exec(select(Approval).where(Approval.release_id == release.id)
                           .order_by(col(Approval.at), col(Approval.id))).all())

    def _view(self, s: Session, release: Release) -> ReleaseView:
        return ReleaseView(release, self._approvals(s, release), gates.approvals_needed(self.policy, release.risk))

    def _past_approval(self, release: Release) -> bool:
        return self.policy.stage(release.stage).production or release.status == COMPLETED

    def _check_approver(self, release: Release, user: str, verb: str) -> None:
        if user == release.requested_by:
            raise PermissionDenied(f"You started {release.version}, so you cannot {verb} it; "
                                   "another approver must (four eyes).")
        if not self.is_approver(user):
            raise PermissionDenied(f"Only approvers may {verb} a release; you are not in WARROOM_APPROVERS.")

    def _emit(self, tx: Tx, release: Release, action: str, origin: Origin) -> None:
        for listener in self.listeners:
            listener(tx, release, action, origin)

    def _thread(self, tx: Tx, release: Release, text: str) -> None:
        key = announcement_key(release.id or 0)
        tx.send("post", channel=ref(key, "channel"), thread_ts=ref(key, "ts"), text=text)

    def _announce(self, tx: Tx, release: Release, event: str) -> None:
        """Queue the in-place update of the announcement and a timeline line in its thread."""
        key = announcement_key(release.id or 0)
        tx.send(ANNOUNCEMENT, release_id=release.id, channel=ref(key, "channel"), ts=ref(key, "ts"),
                coalesce=key)
        self._thread(tx, release, event)

    def render_announcement(self, s: Session, args: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Outbox renderer: the announcement as it stands when sent (post, or update in place)."""
        release = s.get(Release, args["release_id"])
        if release is None:
            return None
        now = self.db.clock.now()
        extra = [line for section in self.sections for line in section(s, release, now)]
        text, blocks = render.announcement(self._view(s, release), self.policy, now, extra)
        if args.get("ts"):
            return "update", {"channel": args["channel"], "ts": args["ts"], "text": text, "blocks": blocks}
        return "post", {"channel": args["channel"], "text": text, "blocks": blocks}

