"""Deployments after they are requested: executor reports (callback or GitHub), time-outs,
retries, and the list the API shows. The release moves only on a ``succeeded`` report."""

from __future__ import annotations

import contextlib
import hmac
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select

from bot.database import Database
from bot.errors import DeploymentFinished, InvalidTransition, NotFound, PermissionDenied, Unauthorized, UsageError
from bot.releases import delivery, records
from bot.releases.service import ReleaseService
from bot.releases.state import ACTIVE
from bot.tx import Origin, Tx
from storage.models import Deployment, Release

log = logging.getLogger(__name__)
DUE_BATCH = 100


def executor_origin(executor: str | None, source: str = "hook:deployment") -> Origin:
    """Who a report comes from: the executor itself (the deployment's ``executor``)."""
    return Origin(user=f"executor:{executor or 'unknown'}"[:32], source=source)


# A deployment and its release in one statement, built once: an executor's callback reads both.
_WITH_RELEASE = (select(Deployment, Release).outerjoin(Release, col(Release.id) == col(Deployment.release_id))
                 .where(Deployment.id == bindparam("id")))


# The callback token's check, built once: the hash and the executor, by primary key.
_TOKEN = select(Deployment.callback_token_hash, Deployment.executor).where(Deployment.id == bindparam("id"))


class DeploymentService:
    """Every change to a deployment after its request; one transaction each, compare-and-set."""

    def __init__(self, db: Database, releases: ReleaseService) -> None:
        self.db = db
        self.releases = releases
        self.policy = releases.policy

    # --- reads -------------------------------------------------------------------------
    def list(self, *, since: datetime | None = None, stage: str | None = None, limit: int = 500) -> list[Deployment]:
        """Deployments requested (or recorded) since ``since``, optionally of one stage, oldest first."""
        query = select(Deployment)
        if since is not None:
            query = query.where(col(Deployment.created_at) >= since)
        if stage:
            query = query.where(Deployment.environment == stage)
        with self.db.read() as s:
            return list(s.exec(query.order_by(col(Deployment.id)).limit(limit)).all())

    def get(self, deployment_id: int) -> Deployment:
        """One deployment, or NotFound."""
        with self.db.read() as s:
            row = s.get(Deployment, deployment_id)
        if row is None:
            raise NotFound(f"There is no deployment {deployment_id}.")
        return row

    # --- reports -----------------------------------------------------------------------
    def callback(self, deployment_id: int, token: str, body: dict[str, Any]) -> Deployment:
        """An executor's callback: check its token (valid for this deployment only), then report."""
        # A plain read, before any write transaction: a caller without the token never takes
        # SQLite's writer gate, which the acks of real requests queue on. Two columns through
        # Core: loading the whole row through the ORM was a fifth of a callback's CPU.
        row = self.db.first(_TOKEN, {"id": deployment_id})
        expected = row.callback_token_hash if row else None
        # Compared in constant time; an unknown deployment looks the same as a wrong token.
        if not token or not expected or not hmac.compare_digest(records.token_hash(token), expected):
            raise Unauthorized("missing or wrong callback token for this deployment")
        assert row is not None
        state = body.get("state")
        url, description = body.get("url"), body.get("description")
        if state not in records.REPORTS:
            raise UsageError(f"state must be one of {', '.join(records.REPORTS)}")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))
                                or len(url) > 2000):
            raise UsageError("url must be an http(s) URL of at most 2,000 characters")
        if description is not None and (not isinstance(description, str) or len(description) > 1000):
            raise UsageError("description must be text of at most 1,000 characters")
        return self.report(deployment_id, state, url=url, description=description,
                           origin=executor_origin(row.executor))

    def report(self, deployment_id: int, state: str, *, url: str | None = None, description: str | None = None,
               origin: Origin) -> Deployment:
        """Apply an executor's report (in_progress | succeeded | failed). A repeat of the state the
        deployment is in changes nothing; any report on a finished deployment raises DeploymentFinished."""
        if state not in records.REPORTS:
            raise UsageError(f"state must be one of {', '.join(records.REPORTS)}")

        def work(tx: Tx) -> Deployment:
            found = tx.session.exec(_WITH_RELEASE, params={"id": deployment_id}).first()
            if found is None:
                raise NotFound(f"There is no deployment {deployment_id}.")
            d, release = found
            if d.state == state:
                return d  # the same report again: one effect
            if d.state in records.FINISHED:
                raise DeploymentFinished(f"deployment {deployment_id} is {d.state} already", state=d.state)
            changes: dict[str, Any] = {"state": state, "updated_at": tx.now}
            if url:
                changes["url"] = url
            if description:
                changes["description"] = description
            if d.started_at is None:
                changes["started_at"] = tx.now
            if state != "in_progress":
                changes.update(result="success" if state == "succeeded" else "failure", finished_at=tx.now,
                               due_at=None)
            before = d.state
            tx.save(d, **changes)
            tx.audit(origin, "deployment", d.id or 0, state, from_state=before, to_state=state,
                     reason=description, release=d.version, stage=d.environment)
            if release is not None:
                self._effect(tx, release, d, state, origin)
            return d
        # Read, decide, one compare-and-set batch: a busy executor's callbacks cost one statement each
        # on PostgreSQL (a report that opens a war room runs as a plain transaction, see bot.tx).
        return self.db.run(work, deferred=True)

    def _effect(self, tx: Tx, release: Release, d: Deployment, state: str, origin: Origin) -> None:
        if state == "in_progress":
            delivery.progress(self.releases, tx, release, d)
        elif state == "succeeded":
            delivery.deployed(self.releases, tx, release, d, origin)
        else:
            delivery.failed(self.releases, tx, release, d)

    # --- due work ----------------------------------------------------------------------
    def expire_due(self) -> int:
        """Mark deployments without a final report past their stage's timeout as timed out."""
        now = self.db.clock.now()
        with self.db.read() as s:
            due = list(s.exec(select(col(Deployment.id)).where(col(Deployment.due_at) <= now,
                                                          col(Deployment.state).in_(records.PENDING))
                              .order_by(col(Deployment.due_at)).limit(DUE_BATCH)).all())
        done = 0
        for deployment_id in due:
            done += self._expire_one(deployment_id or 0)
        return done

    def _expire_one(self, deployment_id: int) -> int:
        return self.db.run(lambda tx: self._expire(tx, deployment_id))

    def _expire(self, tx: Tx, deployment_id: int) -> int:
        d = tx.session.get(Deployment, deployment_id)
        if d is None or d.state not in records.PENDING or d.due_at is None or d.due_at > tx.now:
            return 0  # reported meanwhile, or another replica took it
        tx.save(d, state="timed_out", finished_at=tx.now, due_at=None, updated_at=tx.now)
        tx.audit(Origin("warroom", "scheduler"), "deployment", d.id or 0, "timed_out", from_state="requested",
                 to_state="timed_out", release=d.version, stage=d.environment)
        release = tx.session.get(Release, d.release_id) if d.release_id else None
        if release is not None:
            delivery.timed_out(self.releases, tx, release, d, self.policy.stage(d.environment).timeout_seconds)
        return 1

    def retry(self, deployment_id: int, origin: Origin) -> Deployment:
        """Request a failed or timed-out deployment again (a new deployment with a new token)."""
        # Asked before the transaction (it may ask Slack), never under the write lock.
        approver = self.releases.is_approver(origin.user)

        def work(tx: Tx) -> Deployment:
            tx.once(origin.request_id)
            d = tx.session.get(Deployment, deployment_id)
            if d is None or d.release_id is None:
                raise NotFound(f"There is no deployment {deployment_id}.")
            if d.state not in ("failed", "timed_out"):
                raise InvalidTransition(f"That deployment is {d.state}; only a failed or timed-out one is retried.")
            release = tx.session.get(Release, d.release_id)
            assert release is not None
            waiting = records.pending(tx.session, release.id or 0)
            if waiting is not None:
                raise InvalidTransition(f"Release {release.version} is waiting for *{waiting.executor}* already.")
            stage = self.policy.stage(d.environment)
            if d.kind == "rollback":
                if not approver:
                    raise PermissionDenied("Only an approver may roll back a release.")
                if release.status not in (ACTIVE, "completed") or release.stage != stage.name:
                    raise InvalidTransition(f"Release {release.version} is not at {stage.label} any more.")
            else:
                nxt = self.policy.next_stage(release.stage)
                if release.status != ACTIVE or nxt is None or nxt.name != stage.name:
                    raise InvalidTransition(f"Release {release.version} is at {release.stage}; "
                                            f"{stage.label} is not its next stage.")
            if stage.executor is None:
                raise InvalidTransition(f"{stage.label} has no executor any more; promote it by hand.")
            tx.save(release, updated_at=tx.now)
            row = records.request(tx, self.policy, release, stage, origin, kind=d.kind, automatic=d.automatic,
                                  retry_of=d.id)
            tx.audit(origin, "release", release.id or 0, "deploy_retried", deployment_id=row.id, retry_of=d.id)
            self.releases.announce(tx, release, f"Retrying the {'rollback' if d.kind == 'rollback' else 'deploy'} "
                                                f"to *{stage.label}* through *{stage.executor}*.")
            return row
        return self.db.run(work)

    # --- the outbox target's view ------------------------------------------------------
    def wanted(self, deployment_id: int) -> bool:
        """Whether a queued request is still worth sending (its deployment still waits)."""
        with self.db.read() as s:
            d = s.get(Deployment, deployment_id)
        return d is not None and d.state in records.PENDING

    def accepted(self, deployment_id: int, external_id: str | None, url: str | None) -> None:
        """Record the run or deployment id (and link) the executor answered with."""
        def work(tx: Tx) -> None:
            d = tx.session.get(Deployment, deployment_id)
            if d is None:
                return
            changes: dict[str, Any] = {"updated_at": tx.now}
            if external_id:
                changes["external_id"] = external_id[:64]
            if url and not d.url and url.startswith(("http://", "https://")):
                changes["url"] = url
            tx.save(d, **changes)
        self.db.run(work)

    def refused(self, deployment_id: int, reason: str) -> None:
        """The executor refused the request for good: the deployment failed."""
        d = self.get(deployment_id)
        with contextlib.suppress(DeploymentFinished):
            self.report(deployment_id, "failed", description=reason, origin=executor_origin(d.executor, "outbox"))
