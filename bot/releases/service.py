"""The release workflow: start, approve, promote, roll back, with policy gates and audit.

Slack-free: it records state and queues messages through ``Tx``; handlers render replies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.database import Database
from bot.errors import GateBlocked, InvalidTransition, NotFound, PermissionDenied, UsageError
from bot.policy import Policy, Stage
from bot.releases import delivery, gates, records, tasks, view
from bot.releases.known import KnownReleases, Rows, decided
from bot.releases.render import Section
from bot.releases.requests import StartRelease, check_version
from bot.releases.state import ACTIVE, COMPLETED, next_status
from bot.releases.view import ANNOUNCEMENT, ReleaseView, announcement_key, load
from bot.text import escape, mention
from bot.tx import Origin, Tx, ref
from storage.models import Approval, AuditEntry, Incident, OutboxMessage, Release, table_of
from storage.rows import new_row
from storage.vocab import ReleaseType

# fn(tx, release, action, origin), run inside the release's transaction.
ReleaseListener = Callable[[Tx, Release, str, Origin], None]


def _no_release(version: str) -> NotFound:
    return NotFound(f"There is no release {version}. `/release list` shows recent ones.")


# Built once: every CI report on a release asks it (see _update_pending).
_OUTBOX = table_of(OutboxMessage)
_PENDING_UPDATE = (select(_OUTBOX.c.id).where(_OUTBOX.c.coalesce_key == bindparam("key"), _OUTBOX.c.sent_at.is_(None),
                                              _OUTBOX.c.claimed_until.is_(None),
                                              _OUTBOX.c.not_before > bindparam("soon")).limit(1))


def _update_pending(tx: Tx, key: str) -> bool:
    """An update of ``key`` is queued for a moment from now: it renders the state as it is when
    sent, so it carries this change too (the margin keeps clear of one being sent right now)."""
    soon = tx.now + timedelta(seconds=0.5)
    return tx.session.connection().execute(_PENDING_UPDATE, {"key": key, "soon": soon}).first() is not None


class ReleaseService:
    """Every release action; each runs in one transaction with compare-and-set."""

    def __init__(self, db: Database, policy: Policy, is_approver: Callable[[str], bool]) -> None:
        self.db = db
        self.policy = policy
        # May ask Slack (members of a user group, cached briefly): asked before a transaction
        # starts, never while it holds the write lock.
        self.is_approver = is_approver
        # Other workflows react to release events inside the same transaction (e.g. a critical
        # release reaching production opens a war room): fn(tx, release, action, origin).
        self.listeners: list[ReleaseListener] = []
        # Further gates (checks, alerts, bake time): fn(tx, release, target) -> why not, or None.
        self.gates: list[Callable[[Tx, Release, Stage], str | None]] = []
        # Announcement sections from other workflows (checks' live validation status, alerts, bake).
        self.sections: list[Section] = []
        # Releases as last written here: an approval decides from them, then writes with compare-and-set.
        self.known = KnownReleases()
        db.after_commit.append(self._forget_saved)

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
            severity, stage = req.severity, self.policy.stages[0].name
            if req.incident_id is not None:
                incident = tx.session.get(Incident, req.incident_id)
                if incident is None:
                    raise NotFound(f"There is no incident {req.incident_id}.")
                severity = severity or incident.severity
            if req.type == ReleaseType.HOTFIX:
                if severity is None:
                    raise UsageError("A hotfix needs a severity: add `severity=P0..P3` or `incident=<id>`.")
                stage = self.policy.severities[severity].hotfix_start_stage
            elif severity is not None:
                raise UsageError("Only a hotfix carries a severity; add `type=hotfix`.")
            begins, stage = delivery.starting_point(self.policy, stage)
            release = new_row(
                Release, version=req.version, type=req.type, risk=req.risk, severity=severity,
                incident_id=req.incident_id, status=ACTIVE, stage=stage, requested_by=origin.user,
                channel_id=req.channel_id, summary=req.summary, breaking_changes=req.breaking_changes,
                rollback_plan=req.rollback_plan, checklist={}, created_at=tx.now, updated_at=tx.now,
                ref=req.ref, sha=req.sha, repo=req.repo or self.policy.default_repo,
                service=req.service or self.policy.default_service,
            )
            if begins is not None and not begins.executor:
                if begins.production:
                    release.production_at = tx.now
                if self.policy.next_stage(stage) is None:  # deployed to the last stage: complete
                    release.status, release.finished_at = next_status(release.version, ACTIVE, "complete"), tx.now
            if not tx.insert_new(release, "version"):
                raise UsageError(f"Release {req.version} exists already; see `/release status {req.version}`.")
            assert release.id is not None
            tx.audit(origin, "release", release.id, "start", to_state=f"{release.status}:{stage}",
                     version=release.version, risk=release.risk, type=release.type, ref=release.ref,
                     repo=release.repo, service=release.service)
            self.emit(tx, release, "start", origin)
            tx.slack.render(ANNOUNCEMENT, store_as=announcement_key(release.id), release_id=release.id,
                            channel=release.channel_id)
            self.thread(tx, release, f"Release started by {mention(origin.user)} at stage *{stage}*.")
            if begins is not None:
                delivery.begin_at(self, tx, release, begins, origin)
            requested = tasks.request_all(tx, self.policy, release)
            if begins is not None:  # a hotfix starting at a later stage has a deployment already
                return self._view(tx.session, release)
            return ReleaseView(release, [], gates.approvals_needed(self.policy, release.risk), tasks=requested)
        # On the ack path: on PostgreSQL one read (the version is free, and the release's id) and one
        # write statement, where a transaction took four round trips. A start that must flush (tasks,
        # a hotfix's deployment) runs again in a plain transaction.
        started = self.db.run(work, deferred=True)
        self.known.put(started.release, started.approvals)
        return started

    def promote(self, version: str, origin: Origin, *, expected_stage: str | None = None) -> ReleaseView:
        """Move to the next stage when its gates allow; the last stage completes the release."""
        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            # Each list is read once here and reused by the view: on PostgreSQL a promotion's
            # cost is mostly its round trips.
            release, approved = self._find_with_approvals(tx.session, version)
            if expected_stage and release.stage != expected_stage:
                raise InvalidTransition(f"Release {release.version} is at {release.stage} already; "
                                        "nothing was changed.")
            target = self.policy.next_stage(release.stage)
            if target is None:
                raise InvalidTransition(f"Release {release.version} is at the last stage already.")
            final = self.policy.next_stage(target.name) is None
            next_status(release.version, release.status, "complete" if final else "promote")
            deployments = records.of_release(tx.session, release.id or 0)
            waiting = records.pending_of(deployments)
            if waiting is not None:
                raise InvalidTransition(f"Release {release.version} is waiting for *{waiting.executor}* to report "
                                        f"on {waiting.environment}; the stage changes when it does.")
            why = (gates.blocked_by(self.policy, release, target, len(approved), tx.now)
                   or tasks.blocking(tx.session, self.policy, release, target))
            for gate in self.gates:  # checks, alerts, bake time
                why = why or gate(tx, release, target)
            if why:
                raise GateBlocked(why)
            if target.executor is None:
                records.record_manual(tx, self.policy, release, target, origin)
                delivery.move(self, tx, release, target, origin)
                return load(tx.session, release, self.policy, approvals=approved)
            # Bump the row so concurrent clicks serialise: only one request per stage.
            tx.save(release, updated_at=tx.now)
            deployment = records.request(tx, self.policy, release, target, origin)
            tx.audit(origin, "release", release.id or 0, "deploy_requested", from_state=release.stage,
                     to_state=release.stage, deployment_id=deployment.id, executor=target.executor,
                     stage=target.name)
            self.announce(tx, release, f":hourglass_flowing_sand: Deploying to *{target.label}*: requested from "
                                       f"*{target.executor}* by {mention(origin.user)}. The stage changes when "
                                       "it reports success.")
            return load(tx.session, release, self.policy, approvals=approved, deployments=[*deployments, deployment])
        return self.db.run(work)

    def approve(self, version: str, origin: Origin) -> ReleaseView:
        """Record one approval; the requester and non-approvers are refused."""
        approver = self.is_approver(origin.user)

        def work(tx: Tx, known: Rows | None) -> ReleaseView:
            tx.once(origin.request_id)
            release, approvals = known or self._find_with_approvals(tx.session, version)
            self._check_approver(release, origin.user, approver, "approve")
            next_status(release.version, release.status, "approve")
            if self._past_approval(release):
                raise InvalidTransition(f"Release {release.version} is in production already; "
                                        "approvals are given before production.")
            if any(a.user_id == origin.user for a in approvals):
                raise InvalidTransition(f"You approved {release.version} already.")
            approval = new_row(Approval, release_id=release.id or 0, user_id=origin.user, at=tx.now)
            tx.insert(approval)
            # Bump the row so two approvals at once serialise through compare-and-set.
            tx.save(release, updated_at=tx.now)
            tx.audit(origin, "release", release.id or 0, "approve", from_state=release.stage,
                     to_state=release.stage)
            self.announce(tx, release, f"Approved by {mention(origin.user)}.")
            return ReleaseView(release, [*approvals, approval], gates.approvals_needed(self.policy, release.risk))
        # On the ack path: read (or take the release as this process last wrote it), decide, then one
        # compare-and-set batch (one statement on PostgreSQL).
        return decided(self.known, check_version(version), lambda known, attempts: self.db.run(
            partial(work, known=known), deferred=True, attempts=attempts))

    def reject(self, version: str, origin: Origin, reason: str = "") -> ReleaseView:
        """An approver stops the release before production."""
        approver = self.is_approver(origin.user)

        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            self._check_approver(release, origin.user, approver, "reject")
            status = next_status(release.version, release.status, "reject")
            if self._past_approval(release):
                raise InvalidTransition(f"Release {release.version} is in production; roll it back instead.")
            tx.save(release, status=status, finished_at=tx.now, updated_at=tx.now)
            tx.audit(origin, "release", release.id or 0, "reject", from_state=ACTIVE, to_state=status,
                     reason=reason or None)
            why = f" Reason: {escape(reason)}" if reason else ""
            self.announce(tx, release, f"Rejected by {mention(origin.user)}.{why}")
            return self._view(tx.session, release)
        return self.db.run(work)

    def rollback(self, version: str, origin: Origin, reason: str, *, automatic: bool = False,
                 authorized: bool = False) -> ReleaseView:
        """An approver (or warroom itself, ``automatic``: no approver involved, audited as automatic) rolls
        the release back, with a reason the channel is told; a stage with an executor is rolled back
        when the executor reports success. ``authorized``: the caller's right was checked already (an
        API token holding ``releases:write``, which is no Slack user to look up among the approvers)."""
        reason = reason.strip()
        if not reason:
            raise UsageError(f"A rollback needs a reason: `/release rollback {version} <reason>`.")
        if len(reason) > 1000:
            raise UsageError("Keep the rollback reason under 1,000 characters.")

        # Asked before the transaction (it may ask Slack), never under the write lock; warroom's own
        # rollback needs no approver.
        approver = automatic or authorized or self.is_approver(origin.user)

        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            if not approver:
                raise PermissionDenied("Only an approver may roll back a release.")
            next_status(release.version, release.status, "rollback")
            stage = self.policy.stage(release.stage)
            if stage.executor:
                delivery.request_rollback(self, tx, release, stage, origin, reason, automatic=automatic)
            else:
                delivery.roll_back(self, tx, release, stage, origin, reason, automatic=automatic)
            return self._view(tx.session, release)
        return self.db.run(work)

    def override_freeze(self, version: str, origin: Origin, reason: str) -> ReleaseView:
        """An approver lets this release past the freeze, with a written reason (audited)."""
        reason = reason.strip()
        if not reason:
            raise UsageError(f"An override needs a reason: `/release override {version} <reason>`.")

        approver = self.is_approver(origin.user)

        def work(tx: Tx) -> ReleaseView:
            tx.once(origin.request_id)
            release = self._find(tx.session, version)
            self._check_approver(release, origin.user, approver, "override the freeze for")
            next_status(release.version, release.status, "override_freeze")
            override = {"by": origin.user, "reason": reason[:1000], "at": tx.now.isoformat()}
            tx.save(release, freeze_override=override, updated_at=tx.now)
            tx.audit(origin, "release", release.id or 0, "override_freeze", reason=reason)
            self.announce(tx, release, f"Freeze overridden by {mention(origin.user)}: {escape(reason)}")
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
            self.announce(tx, release, f"Checklist updated by {mention(origin.user)}: ticked {done}.")
            return self._view(tx.session, release)
        return self.db.run(work)

    def check_reasoned(self, action: str, version: str, origin: Origin) -> ReleaseView:
        """Whether ``origin.user`` may roll back, reject or override ``version`` now (raises if not):
        asked before the reason form opens, so nobody writes a reason for nothing."""
        verbs = {"rollback": "rollback", "reject": "reject", "override": "override_freeze"}
        if action not in verbs:
            raise UsageError("That button is out of date; run the command again.")
        approver = self.is_approver(origin.user)
        with self.db.read() as s:
            release = self._find(s, version)
            if action == "rollback":
                if not approver:
                    raise PermissionDenied("Only an approver may roll back a release.")
            else:
                self._check_approver(release, origin.user, approver, action)
            next_status(release.version, release.status, verbs[action])
            return self._view(s, release)

    # --- helpers -----------------------------------------------------------------------
    def find(self, s: Session, version: str) -> Release:
        """The release called ``version`` in this session, or NotFound."""
        return self._find(s, version)

    def check_approver(self, release: Release, user: str, approver: bool, verb: str) -> None:
        """PermissionDenied unless ``user`` is an approver (``approver``, asked before the
        transaction) other than the requester."""
        self._check_approver(release, user, approver, verb)

    def _find(self, s: Session, version: str) -> Release:
        version = check_version(version)
        release = view.by_version(s, version)
        if release is None:
            raise _no_release(version)
        return release

    def _find_with_approvals(self, s: Session, version: str) -> tuple[Release, list[Approval]]:
        checked = check_version(version)
        found = view.with_approvals(s, checked)
        if found is None:
            raise _no_release(checked)
        return found

    def _view(self, s: Session, release: Release) -> ReleaseView:
        return load(s, release, self.policy)

    def _past_approval(self, release: Release) -> bool:
        return self.policy.stage(release.stage).production or release.status == COMPLETED

    def _check_approver(self, release: Release, user: str, approver: bool, verb: str) -> None:
        if user == release.requested_by:
            raise PermissionDenied(f"You started {release.version}, so you cannot {verb} it; "
                                   "another approver must (four eyes).")
        if not approver:
            raise PermissionDenied(f"Only approvers may {verb} a release; you are not in WARROOM_APPROVERS.")

    def _forget_saved(self, tx: Tx) -> None:
        changed = {row_id for table, row_id in tx.saved if table == "release"}
        if changed:
            self.known.forget(changed)

    def emit(self, tx: Tx, release: Release, action: str, origin: Origin) -> None:
        """Tell the listeners about a release event, inside its transaction."""
        for listener in self.listeners:
            listener(tx, release, action, origin)

    def thread(self, tx: Tx, release: Release, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Post in the release's thread (after the announcement exists)."""
        key = announcement_key(release.id or 0)
        tx.slack.post(ref(key, "channel"), text, blocks or None, thread_ts=ref(key, "ts"))

    def announce(self, tx: Tx, release: Release, event: str | None = None, *, delay: float = 0) -> None:
        """Queue the in-place (coalesced) update of the announcement and a timeline line (if any) in its
        thread; ``delay`` lets a burst of changes (CI reports) become one update."""
        key = announcement_key(release.id or 0)
        if not (delay and _update_pending(tx, key)):
            tx.slack.render(ANNOUNCEMENT, release_id=release.id, channel=ref(key, "channel"), ts=ref(key, "ts"),
                            coalesce=key, delay=delay)
        if event:
            self.thread(tx, release, event)
