"""The shapes of the answers the /api and /hooks routes give, for the OpenAPI document: each model
lists exactly the keys its handler writes (a test checks real answers against them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from storage.vocab import ReleaseStatus, ReleaseType, Risk, Severity, StageName, TaskPhase, TaskState


class Strict(BaseModel):
    """A response shape: exactly these keys (``additionalProperties: false``), each always present."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Strict):
    """Every 4xx answer: what was wrong."""

    error: str


class FinishedBody(Strict):
    """A report on a deployment that has finished already: the state it finished in."""

    error: str
    state: str


class Accepted(Strict):
    """A hook's 202: the delivery is stored (or was already) and will be processed."""

    stored: bool
    duplicate: bool
    delivery: str = Field(max_length=128, description="the provider's delivery id, or the body's SHA-256")


class GitHubPing(Strict):
    """GitHub's ``ping`` event, answered at once (nothing is stored)."""

    ok: Literal[True]
    zen: str = Field(max_length=200)


class DeploymentAck(Strict):
    """An executor's deployment report applied: the deployment's state now."""

    deployment_id: int
    state: str


class TaskAck(Strict):
    """An executor's task report applied: the task's state now."""

    task_id: int
    state: TaskState


class CheckOverride(Strict):
    """Who waived a check (``/release bypass``), why and when."""

    by: str
    reason: str
    at: datetime


class Check(Strict):
    """One policy check of a release as last reported."""

    name: str
    state: str = Field(description="pending | running | passed | failed | skipped")
    values: dict[str, float]
    url: str | None
    source: str | None = Field(description="who reported it, e.g. github:check_run:CI / test")
    note: str | None = Field(description="why it failed")
    at: datetime | None = Field(description="when the reporter says it happened")
    override: CheckOverride | None


class CheckList(Strict):
    """A release's checks in policy order."""

    checks: list[Check]


class Event(Strict):
    """One stored inbound delivery (not its payload)."""

    id: int
    source: str = Field(description="github | alertmanager | grafana | checks")
    delivery_id: str
    event: str
    matched: bool | None = Field(description="null until processed; false: no release took it")
    error: str | None
    attempts: int
    received_at: datetime
    processed_at: datetime | None


class EventList(Strict):
    """Inbound deliveries, newest first."""

    events: list[Event]


class ApprovalOut(Strict):
    """One approver's yes."""

    user: str
    at: datetime


class TaskOut(Strict):
    """A coordination task of a release phase."""

    id: int
    phase: TaskPhase
    name: str
    owner: str
    requirements: list[str]
    ticked: list[str] = Field(description="the requirements ticked so far, in requirement order")
    state: TaskState
    by: str | None
    note: str | None
    updated_at: datetime


class DeploymentOut(Strict):
    """A deploy (or rollback) of a version into one stage."""

    id: int
    release_id: int | None
    version: str
    service: str
    stage: str
    kind: str
    rolls_back: str | None
    executor: str | None
    state: str
    result: str | None
    automatic: bool
    url: str | None
    description: str | None
    requested_by: str
    external_id: str | None
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    due_at: datetime | None
    seconds: float | None


class Release(Strict):
    """A release with its deployments, tasks and approvals."""

    version: str
    status: ReleaseStatus
    stage: StageName
    risk: Risk
    type: ReleaseType
    severity: Severity | None
    incident_id: int | None
    requested_by: str
    channel_id: str
    ref: str | None
    sha: str | None
    repo: str | None
    service: str | None
    deployments: list[DeploymentOut]
    tasks: list[TaskOut]
    approvals_needed: int
    approvals: list[ApprovalOut]
    checklist: list[str]
    freeze_override: dict[str, Any] | None
    rollback_reason: str | None
    rolled_back_by: str | None
    created_at: datetime
    updated_at: datetime
    production_at: datetime | None
    finished_at: datetime | None


class ReleaseList(Strict):
    """Recent releases."""

    releases: list[Release]


ANSWERS = (ErrorBody, FinishedBody, Accepted, GitHubPing, DeploymentAck, TaskAck, CheckList, EventList, Release,
           ReleaseList)
