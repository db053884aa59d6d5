"""Importing past deployments and incidents, so a team starts with its history.

Imported rows are marked ``imported`` and count like recorded ones; re-importing the same
deployment (service + version + environment + finished_at) changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import insert
from sqlmodel import col, select

from bot.errors import UsageError
from bot.tx import Origin, Tx
from storage.models import Deployment, DeploymentCommit, Incident, table_of
from storage.vocab import IncidentStatus, Severity

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._/@+-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2026-01-31T12:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before the first instant a datetime holds
        raise ValueError("that time is out of range") from None


class CommitIn(_Strict):
    sha: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z]+$")
    committed_at: datetime
    _tz = field_validator("committed_at")(_aware)


class DeploymentIn(_Strict):
    """POST /api/deployments."""

    service: str = Field(min_length=1, max_length=64, pattern=_NAME)
    environment: str = Field(min_length=1, max_length=32, pattern=_NAME)
    version: str = Field(min_length=1, max_length=64, pattern=_NAME)
    kind: Literal["planned", "hotfix", "rollback", "fix_forward"]
    result: Literal["success", "failure"]
    started_at: datetime
    finished_at: datetime
    rolls_back: str | None = Field(default=None, min_length=1, max_length=64, pattern=_NAME)
    commits: list[CommitIn] = Field(default_factory=list, max_length=1000)
    # An incident this deployment caused, recorded with it.
    caused_incident: IncidentIn | None = None
    _tz = field_validator("started_at", "finished_at")(_aware)

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentIn:
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        if self.kind == "rollback" and not self.rolls_back:
            raise ValueError("a rollback names the version it rolls back: add rolls_back")
        if self.kind != "rollback" and self.rolls_back:
            raise ValueError("only a rollback has rolls_back")
        if len({c.sha for c in self.commits}) != len(self.commits):
            raise ValueError("commits: each sha once")
        return self


class IncidentIn(_Strict):
    """POST /api/incidents/import (and a deployment's caused_incident)."""

    title: str = Field(min_length=1, max_length=200)
    severity: Severity
    declared_at: datetime
    resolved_at: datetime | None = None
    caused_by_version: str | None = Field(default=None, min_length=1, max_length=64, pattern=_NAME)
    service: str | None = Field(default=None, min_length=1, max_length=64, pattern=_NAME)
    _tz = field_validator("declared_at", "resolved_at")(lambda v: None if v is None else _aware(v))

    @model_validator(mode="after")
    def _order(self) -> IncidentIn:
        if self.resolved_at is not None and self.resolved_at < self.declared_at:
            raise ValueError("resolved_at is before declared_at")
        return self


DeploymentIn.model_rebuild()


Body = TypeVar("Body", bound=BaseModel)


def parse(model: type[Body], data: object) -> Body:
    """Validate a JSON body; the first problem becomes a UsageError naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise UsageError(f"{where}: {first['msg']}") from exc


def import_incident(tx: Tx, body: IncidentIn, origin: Origin, *, service: str | None = None) -> tuple[int, bool]:
    """Store a past incident (closed when resolved_at is given); (id, created). The same
    title, service and declared_at again is the same incident."""
    svc = body.service or service
    found = tx.session.exec(select(Incident.id).where(
        Incident.title == body.title, Incident.declared_at == body.declared_at,
        Incident.service == svc, col(Incident.imported).is_(True))).first()
    if found is not None:
        return found, False
    status = IncidentStatus.CLOSED if body.resolved_at else IncidentStatus.INVESTIGATING
    incident = Incident(
        title=body.title, severity=body.severity, status=status,
        declared_by=origin.user[:32], commander=origin.user[:32], channel_name="imported",
        declared_at=body.declared_at, resolved_at=body.resolved_at, mitigated_at=body.resolved_at,
        service=svc, caused_by_version=body.caused_by_version, imported=True, updated_at=tx.now)
    tx.session.add(incident)
    tx.session.flush()
    assert incident.id is not None
    tx.audit(origin, "incident", incident.id, "import", to_state=incident.status,
             caused_by_version=body.caused_by_version, service=svc)
    return incident.id, True


def import_deployment(tx: Tx, body: DeploymentIn, origin: Origin) -> tuple[int, bool]:
    """Store a past deployment with its commits; (id, created). Idempotent by identity."""
    found = tx.session.exec(select(Deployment.id).where(
        Deployment.service == body.service, Deployment.version == body.version,
        Deployment.environment == body.environment, Deployment.finished_at == body.finished_at,
    )).first()
    if found is not None:
        return found, False
    dep = Deployment(
        service=body.service, environment=body.environment, version=body.version, kind=body.kind,
        rolls_back=body.rolls_back, state="succeeded" if body.result == "success" else "failed",
        result=body.result, imported=True, requested_by=origin.user[:64], started_at=body.started_at,
        finished_at=body.finished_at, requested_at=body.started_at, created_at=tx.now, updated_at=tx.now)
    tx.session.add(dep)
    tx.session.flush()
    assert dep.id is not None
    if body.commits:
        tx.session.execute(insert(table_of(DeploymentCommit)),
                           [{"deployment_id": dep.id, "sha": c.sha, "committed_at": c.committed_at}
                            for c in body.commits])
    if body.caused_incident is not None:
        cause = body.caused_incident.model_copy(update={"caused_by_version": body.version})
        import_incident(tx, cause, origin, service=body.service)
    return dep.id, True
