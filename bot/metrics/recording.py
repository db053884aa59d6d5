"""The minimal deployment records the release workflow writes (a manual promotion into the
final stage, a rollback) and an incident's cause, so the metrics see what happened in Slack.

Executors (their own recording) report deployments with real start and finish times; these
records are for releases promoted and rolled back by hand.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.tx import Origin, Tx
from storage.models import CommitRecord, Deployment, DeploymentCommit, Incident, Release

DEFAULT_SERVICE = "default"  # a release that names no service


def _service(release: Release) -> str:
    return release.service or DEFAULT_SERVICE


def _insert(tx: Tx, **values: Any) -> int:
    dep = Deployment(state="succeeded", result="success", created_at=tx.now, updated_at=tx.now,
                     requested_at=values["started_at"], **values)
    tx.session.add(dep)
    tx.session.flush()
    assert dep.id is not None
    return dep.id


def record_promotion(tx: Tx, release: Release, stage: str, origin: Origin) -> int:
    """A manual promotion into ``stage`` (the final one): a successful deployment of the release
    (kind hotfix for a hotfix or a release started from an incident, else planned)."""
    kind = "hotfix" if release.type == "hotfix" or release.incident_id else "planned"
    dep_id = _insert(tx, release_id=release.id, service=_service(release), environment=stage,
                     version=release.version, kind=kind, requested_by=origin.user[:64],
                     started_at=tx.now, finished_at=tx.now)
    if release.sha:
        committed = tx.session.execute(select(CommitRecord.committed_at)  # type: ignore[call-overload]
                                       .where(CommitRecord.sha == release.sha)).scalar()
        if committed is not None:
            tx.session.add(DeploymentCommit(deployment_id=dep_id, sha=release.sha, committed_at=committed))
    return dep_id


def record_rollback(tx: Tx, release: Release, reason: str, origin: Origin) -> int:
    """A rollback of the release in the stage it was in: decided and finished now. It names the
    release's version, which makes that change a failed one (see bot.metrics.definitions)."""
    service = _service(release)
    same = [Deployment.service == service, Deployment.environment == release.stage]
    shipped = tx.session.execute(select(func.max(Deployment.finished_at)).where(  # type: ignore[call-overload]
        *same, Deployment.version == release.version)).scalar()
    # What the rollback brings back: the version deployed there before this release.
    before = [Deployment.finished_at < shipped] if shipped else []  # type: ignore[operator]
    previous = tx.session.execute(
        select(Deployment.version).where(  # type: ignore[call-overload]
            *same, *before, Deployment.version != release.version, Deployment.result == "success")
        .order_by(Deployment.finished_at.desc(), Deployment.id.desc()).limit(1)).scalar()  # type: ignore[union-attr]
    return _insert(tx, release_id=release.id, service=service, environment=release.stage,
                   version=previous or f"before-{release.version}"[:64], kind="rollback",
                   rolls_back=release.version, requested_by=origin.user[:64], started_at=tx.now,
                   finished_at=tx.now, description=reason[:1000])


def set_cause(tx: Tx, incident: Incident, version: str, origin: Origin) -> Release | None:
    """Name the change that caused the incident (a release of ours when one has that version);
    audited. Returns the release, if any."""
    release = tx.session.execute(select(Release).where(Release.version == version)).scalar()  # type: ignore[arg-type]
    changes: dict[str, Any] = {"caused_by_version": version, "caused_by_release_id": release.id if release else None,
                               "updated_at": tx.now}
    if release is not None and incident.service is None:
        changes["service"] = _service(release)
    before = incident.caused_by_version
    tx.save(incident, **changes)
    tx.audit(origin, "incident", incident.id or 0, "cause", from_state=before, to_state=version,
             release_id=changes["caused_by_release_id"])
    return release
