"""Deployment rows: recording a manual step at once, or a request to an executor (queued in the
outbox in the same transaction), plus the small queries the workflows share."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, literal
from sqlmodel import Session, col, func, select

from bot.ops import Op
from bot.policy import Policy, Stage
from bot.policy_executors import GithubActionsExecutor, GithubDeploymentsExecutor
from bot.tx import Origin, Tx
from storage.models import CommitRecord, Deployment, DeploymentCommit, Release
from storage.rows import new_row
from storage.types import UTCDateTime

PENDING = ("requested", "in_progress")
FINISHED = ("succeeded", "failed", "timed_out")
REPORTS = ("in_progress", "succeeded", "failed")


def token_hash(token: str) -> str:
    """What is stored of a callback token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def kind_of(release: Release) -> str:
    """planned, or hotfix for a hotfix release or one started from an incident (unplanned work
    in the delivery metrics' rework rate)."""
    return "hotfix" if release.type == "hotfix" or release.incident_id else "planned"


def service_of(release: Release, policy: Policy) -> str:
    """The service a release deploys (its own, the policy's default, or "default")."""
    return release.service or policy.default_service or "default"


def pending(s: Session, release_id: int) -> Deployment | None:
    """The release's deployment still waiting for its executor, if any."""
    return s.exec(select(Deployment).where(Deployment.release_id == release_id,
                                           col(Deployment.state).in_(PENDING))
                  .order_by(col(Deployment.id).desc()).limit(1)).first()


# The reads of a promotion, built once: building a statement and its cache key on every call cost
# more than running it (a fifth of a delegated promotion's CPU went to previous_version alone).
_OF_RELEASE = select(Deployment).where(Deployment.release_id == bindparam("release_id")).order_by(col(Deployment.id))


def of_release(s: Session, release_id: int) -> list[Deployment]:
    """Every deployment of a release, oldest first."""
    return list(s.exec(_OF_RELEASE, params={"release_id": release_id}).all())


# One statement (a promotion runs it on its way to the executor): when ``version`` never shipped
# there, the bound is the end of time and every earlier success counts. A plain bound, not "NULL or
# before": that made the bound a filter, and a long history was read row by row down to it.
_SAME = (Deployment.service == bindparam("service"), Deployment.environment == bindparam("environment"),
         Deployment.result == "success", Deployment.kind != "rollback")
_SHIPPED = (select(func.max(Deployment.finished_at)).where(*_SAME, Deployment.version == bindparam("version"))
            .scalar_subquery())
_END_OF_TIME = literal(datetime.max.replace(tzinfo=UTC), UTCDateTime())
_PREVIOUS = (select(Deployment.version).where(*_SAME, Deployment.version != bindparam("version"))
             .where(col(Deployment.finished_at) < func.coalesce(_SHIPPED, _END_OF_TIME))
             .order_by(col(Deployment.finished_at).desc(), col(Deployment.id).desc()).limit(1))


def previous_version(s: Session, service: str, environment: str, version: str) -> str | None:
    """The version that ran in ``environment`` before ``version`` (what a rollback restores): deployed
    there before ``version`` was, so rolling back an older release never brings back a later one."""
    return s.exec(_PREVIOUS, params={"service": service, "environment": environment, "version": version}).first()


def pending_of(deployments: list[Deployment]) -> Deployment | None:
    """The latest deployment still waiting for its executor among ``deployments`` (oldest first)."""
    return next((d for d in reversed(deployments) if d.state in PENDING), None)


def _new(tx: Tx, release: Release, stage: Stage, kind: str, origin: Origin, **fields: Any) -> Deployment:
    row = new_row(Deployment, release_id=release.id, service=fields.pop("service"), environment=stage.name,
                  version=fields.pop("version", release.version), kind=kind, requested_by=origin.user[:64],
                  requested_at=tx.now, created_at=tx.now, updated_at=tx.now, **fields)
    tx.add(row)
    if release.sha and kind != "rollback":
        commit = tx.session.get(CommitRecord, release.sha)
        if commit is not None:
            tx.insert(DeploymentCommit(deployment_id=row.id or 0, sha=commit.sha, committed_at=commit.committed_at))
    return row


def record_manual(tx: Tx, policy: Policy, release: Release, stage: Stage, origin: Origin, *,
                  kind: str | None = None, rolls_back: str | None = None, version: str | None = None,
                  automatic: bool = False, description: str | None = None) -> Deployment:
    """A step a person made (no executor): succeeded the moment it is recorded (a rollback's
    ``description`` is its reason)."""
    return _new(tx, release, stage, kind or kind_of(release), origin, service=service_of(release, policy),
                version=version or release.version, rolls_back=rolls_back, state="succeeded", result="success",
                started_at=tx.now, finished_at=tx.now, automatic=automatic,
                description=description[:1000] if description else None)


def request(tx: Tx, policy: Policy, release: Release, stage: Stage, origin: Origin, *,
            kind: str | None = None, automatic: bool = False, retry_of: int | None = None) -> Deployment:
    """Record a deployment in state ``requested`` and queue the request to the stage's executor."""
    assert stage.executor
    kind = kind or kind_of(release)
    service = service_of(release, policy)
    previous = previous_version(tx.session, service, stage.name, release.version)
    rollback = kind == "rollback"
    token = secrets.token_urlsafe(32)
    detail: dict[str, Any] = {"previous_version": previous}
    if retry_of:
        detail["retry_of"] = retry_of
    row = _new(tx, release, stage, kind, origin, service=service,
               version=(previous or release.version) if rollback else release.version,
               rolls_back=release.version if rollback else None, executor=stage.executor, state="requested",
               automatic=automatic, callback_token_hash=token_hash(token), detail=detail,
               # A rollback's clock starts when it is decided; a deploy's when the executor starts.
               started_at=tx.now if rollback else None,
               due_at=tx.now + timedelta(seconds=stage.timeout_seconds))
    assert row.id is not None
    _queue(tx, policy, release, stage, row, previous, token)
    return row


def _queue(tx: Tx, policy: Policy, release: Release, stage: Stage, row: Deployment, previous: str | None,
           token: str) -> None:
    spec = policy.executors[stage.executor or ""]
    rollback = row.kind == "rollback"
    common: dict[str, Any] = {"executor": stage.executor, "deployment_id": row.id, "secret": {"callback_token": token}}
    if isinstance(spec, GithubActionsExecutor):
        inputs = {"version": row.version, "stage": stage.name, "deployment_id": str(row.id)}
        tx.send(Op.GITHUB, action="dispatch", **common,
                path=f"/repos/{spec.repo}/actions/workflows/{spec.workflow}/dispatches",
                body={"ref": spec.ref or release.ref or "main", "inputs": inputs, "return_run_details": True})
        return
    if isinstance(spec, GithubDeploymentsExecutor):
        ref = (previous or release.version) if rollback else (release.ref or release.sha or release.version)
        what = f"Roll back {release.version} to {previous or 'the previous version'}" if rollback \
            else f"Deploy {release.version}"
        tx.send(Op.GITHUB, action="deployment", **common, path=f"/repos/{spec.repo}/deployments",
                body={"ref": ref, "environment": stage.name, "auto_merge": False,
                      "production_environment": stage.production, "description": f"{what} (warroom)"[:140],
                      "payload": {"warroom_deployment": row.id, "kind": row.kind, "version": row.version}})
        return
    body = {
        "type": "rollback.requested" if rollback else "deploy.requested", "deployment_id": row.id,
        "release": {"version": release.version, "risk": release.risk, "type": release.type, "ref": release.ref,
                    "sha": release.sha, "repo": release.repo, "service": row.service},
        "stage": stage.name, "previous_version": previous,
    }
    tx.send(Op.WEBHOOK, **common, body=body)
