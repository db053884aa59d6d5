"""SQLModel tables. Every table carries created/updated times in UTC; rows that change
state carry ``row_version`` for compare-and-set updates."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Table, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.indexes import HOME_KEYS, PENDING, PENDING_FAST, SENT
from storage.types import UTCDateTime, Vocab
from storage.vocab import IncidentStatus, ReleaseStatus, ReleaseType, Risk, Severity, StageName, TaskPhase, TaskState


def _ts(**kw: Any) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), **kw))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


def _word(enum: type[StrEnum], length: int, *, nullable: bool = False, index: bool = False) -> Any:
    default = None if nullable else ...
    return Field(default=default, sa_column=Column(Vocab(enum, length), nullable=nullable, index=index))


class Release(SQLModel, table=True):
    """One release (or hotfix) on its way through the stages."""

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=64, unique=True, index=True)
    type: ReleaseType = _word(ReleaseType, 16)
    risk: Risk = _word(Risk, 16)
    severity: Severity | None = _word(Severity, 4, nullable=True)
    incident_id: int | None = Field(default=None, index=True)
    status: ReleaseStatus = _word(ReleaseStatus, 16, index=True)
    stage: StageName = _word(StageName, 16)
    requested_by: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    breaking_changes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    rollback_plan: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    checklist: dict[str, Any] = _json(dict)
    freeze_override: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    rollback_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rolled_back_by: str | None = Field(default=None, max_length=32)
    # What the release ships (set at start, or filled from a tag's push): see Deployment.
    ref: str | None = Field(default=None, max_length=100)
    sha: str | None = Field(default=None, max_length=64, index=True)
    repo: str | None = Field(default=None, max_length=140)
    service: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    production_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    row_version: int = Field(default=1)


class Approval(SQLModel, table=True):
    """One approver's yes for one release; unique per (release, user)."""

    __table_args__ = (UniqueConstraint("release_id", "user_id", name="uq_approval_release_user"),)
    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="release.id", index=True)
    user_id: str = Field(max_length=32)
    at: datetime = _ts(nullable=False)


class AuditEntry(SQLModel, table=True):
    """Append-only record of every state change: who, when, what, from which request, why."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_subject", "subject", "subject_id"),)
    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=16)
    subject_id: int
    actor: str = Field(max_length=32)
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source: str = Field(max_length=64)
    request_id: str | None = Field(default=None, max_length=128)
    detail: dict[str, Any] = _json(dict)
    at: datetime = _ts(nullable=False)


class ProcessedRequest(SQLModel, table=True):
    """Idempotency keys of requests already applied, so a re-delivery is a no-op."""

    __tablename__ = "processed_request"
    key: str = Field(primary_key=True, max_length=160)
    at: datetime = _ts(nullable=False)


class SlackRef(SQLModel, table=True):
    """Where a message the bot must find again lives (channel and ts), by a stable key."""

    __tablename__ = "slack_ref"
    # The opened Homes, read every 10 s: a small index, not a scan of every ref (queries use HOME_KEYS).
    __table_args__ = (Index("ix_slack_ref_home", "key", sqlite_where=HOME_KEYS, postgresql_where=HOME_KEYS),)
    key: str = Field(primary_key=True, max_length=96)
    channel: str = Field(max_length=32)
    ts: str | None = Field(default=None, max_length=32)


class OutboxMessage(SQLModel, table=True):
    """A Slack call recorded in the same transaction as the change that caused it."""

    __tablename__ = "outbox_message"
    # Only pending rows are indexed, in the order the sender takes them: its claim stays
    # cheap however many sent rows the table holds.
    __table_args__ = (Index("ix_outbox_due", "not_before", "id", **PENDING),
                      # "Is an earlier row of this channel still pending?" asked once per candidate.
                      Index("ix_outbox_order", "order_key", "id", **PENDING),
                      # The fast lane's claim (4 a second) reads its few rows, not every pending one.
                      Index("ix_outbox_fast", "fast", "not_before", "id", **PENDING_FAST),
                      Index("ix_outbox_sent", "sent_at", **SENT))  # the sweep drops rows sent a week ago
    id: int | None = Field(default=None, primary_key=True)
    op: str = Field(max_length=32)
    payload: dict[str, Any] = _json(dict)
    # Store the resulting channel/ts under this SlackRef key (e.g. "release:3:announcement").
    store_as: str | None = Field(default=None, max_length=96)
    # Of several pending rows with one key only the newest is sent (e.g. updates of one message).
    coalesce_key: str | None = Field(default=None, max_length=96, index=True)
    # The SlackRef key this row waits for; storing that key wakes the row (no polling).
    waits_for: str | None = Field(default=None, max_length=96, index=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts(nullable=False)
    not_before: datetime = _ts(nullable=False)
    claimed_until: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    failed: bool = Field(default=False)
    # Rows with one order key go out in id order (a channel, or target+id for other systems).
    order_key: str | None = Field(default=None, max_length=128)
    # Calls a user is waiting for (views.open, ephemeral replies) never queue behind the rest.
    fast: bool = Field(default=False)
    # Which sender holds the lease (claimed_until), renewed by its heartbeat.
    claimed_by: str | None = Field(default=None, max_length=64)
    # Set just before the call: a row found with it and no sent_at may have reached Slack.
    sending_at: datetime | None = _ts(nullable=True)


class SendPace(SQLModel, table=True):
    """A token bucket (GCRA) shared by every replica: per channel, and per workspace."""

    __tablename__ = "send_pace"
    key: str = Field(primary_key=True, max_length=140)
    # The theoretical arrival time of the next call (GCRA); earlier means tokens to spare.
    tat: datetime = _ts(nullable=False)


class Incident(SQLModel, table=True):
    """One incident and its war room; due times drive the scheduler."""

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    severity: Severity = _word(Severity, 4)
    status: IncidentStatus = _word(IncidentStatus, 16, index=True)
    declared_by: str = Field(max_length=32)
    commander: str = Field(max_length=32)
    comms: str | None = Field(default=None, max_length=32)
    scribe: str | None = Field(default=None, max_length=32)
    channel_id: str | None = Field(default=None, max_length=32, index=True)
    channel_name: str = Field(max_length=80)
    declared_at: datetime = _ts(nullable=False)
    mitigated_at: datetime | None = _ts(nullable=True)
    resolved_at: datetime | None = _ts(nullable=True)
    resolution_summary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    response_due_at: datetime | None = _ts(nullable=True)
    response_reminder_at: datetime | None = _ts(nullable=True, index=True)
    next_status_at: datetime | None = _ts(nullable=True, index=True)
    missed_updates: int = Field(default=0)
    last_human_update_at: datetime | None = _ts(nullable=True)
    last_status_at: datetime | None = _ts(nullable=True)
    postmortem_due_at: datetime | None = _ts(nullable=True)
    postmortem_reminder_at: datetime | None = _ts(nullable=True, index=True)
    postmortem_done_at: datetime | None = _ts(nullable=True)
    postmortem_link: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    service: str | None = Field(default=None, max_length=64)
    # The change that caused it (a release of ours, or an imported deployment's version).
    caused_by_release_id: int | None = Field(default=None, index=True)
    caused_by_version: str | None = Field(default=None, max_length=64)
    imported: bool = Field(default=False)
    updated_at: datetime = _ts(nullable=False)
    row_version: int = Field(default=1)


class TimelineEntry(SQLModel, table=True):
    """One line of an incident's timeline: an update, a decision, a role change..."""

    __tablename__ = "timeline_entry"
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    kind: str = Field(max_length=16)
    actor: str = Field(max_length=32)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    detail: dict[str, Any] = _json(dict)
    at: datetime = _ts(nullable=False)


# --- Delivery records shared by executors (issue 7), CI/monitoring hooks (issue 8) and the
# delivery metrics (issue 9). One table of deployments serves all three, so a rollback or a
# failed deploy is recorded once and counted exactly.


class Deployment(SQLModel, table=True):
    """One deploy (or rollback) of a version into one stage, recorded by warroom or imported.

    ``state`` follows the executor (requested -> in_progress -> succeeded | failed | timed_out);
    ``result`` is set when it finishes (success | failure) and is what the metrics read.
    """

    __table_args__ = (
        # Re-importing the same deployment changes nothing.
        UniqueConstraint("service", "version", "environment", "finished_at", name="uq_deployment_identity"),
        Index("ix_deployment_env_finished", "environment", "finished_at"),
        Index("ix_deployment_service_finished", "service", "finished_at"),
        # What ran before a version in one environment (records.previous_version, on every rollback).
        Index("ix_deployment_service_env_finished", "service", "environment", "finished_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    release_id: int | None = Field(default=None, foreign_key="release.id", index=True)
    service: str = Field(max_length=64)
    environment: str = Field(max_length=32)  # the stage's name
    version: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # planned | hotfix | rollback | fix_forward
    rolls_back: str | None = Field(default=None, max_length=64)  # the version a rollback undoes
    executor: str | None = Field(default=None, max_length=64)  # None: manual or imported
    state: str = Field(max_length=16, index=True)
    result: str | None = Field(default=None, max_length=16)  # success | failure, once finished
    automatic: bool = Field(default=False)  # requested by warroom itself (an alert's auto-rollback)
    imported: bool = Field(default=False)
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    requested_by: str = Field(default="", max_length=64)
    # The executor's handle (GitHub run or deployment id) and the callback token's SHA-256.
    external_id: str | None = Field(default=None, max_length=64, index=True)
    callback_token_hash: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = _json(dict)
    requested_at: datetime | None = _ts(nullable=True)
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    due_at: datetime | None = _ts(nullable=True, index=True)  # timeout of a deployment still waiting
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    row_version: int = Field(default=1)


class DeploymentCommit(SQLModel, table=True):
    """A commit a deployment shipped, with its commit time (lead time starts there)."""

    __tablename__ = "deployment_commit"
    __table_args__ = (UniqueConstraint("deployment_id", "sha", name="uq_deployment_commit"),)
    id: int | None = Field(default=None, primary_key=True)
    deployment_id: int = Field(foreign_key="deployment.id", index=True)
    sha: str = Field(max_length=64, index=True)
    committed_at: datetime = _ts(nullable=False)


class CommitRecord(SQLModel, table=True):
    """A commit seen in a push (or a release's ref), kept for lead time."""

    __tablename__ = "commit_record"
    sha: str = Field(primary_key=True, max_length=64)
    repo: str | None = Field(default=None, max_length=140)
    committed_at: datetime = _ts(nullable=False)


class InboundEvent(SQLModel, table=True):
    """One delivery to an inbound hook (GitHub, Alertmanager, Grafana, a CI reporter, an
    executor's callback), stored once by the provider's delivery id and processed off the
    request path like due work."""

    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id", name="uq_inbound_delivery"),
        Index("ix_inbound_pending", "received_at", "id",
              sqlite_where=text("processed_at IS NULL"), postgresql_where=text("processed_at IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    delivery_id: str = Field(max_length=128)
    event: str = Field(max_length=64)
    payload: dict[str, Any] = _json(dict)
    matched: bool | None = Field(default=None)  # None until processed
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempts: int = Field(default=0)
    received_at: datetime = _ts(nullable=False)
    claimed_until: datetime | None = _ts(nullable=True)
    processed_at: datetime | None = _ts(nullable=True)


class ApiToken(SQLModel, table=True):
    """A named API token with scopes; only its SHA-256 is stored (shown once at creation)."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = _json(list)
    created_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _ts(nullable=True)
    last_used_at: datetime | None = _ts(nullable=True)


# --- Evidence from CI and monitoring (issue 8).


class ReleaseCheck(SQLModel, table=True):
    """One policy check on one release: its state as last reported, and any override."""

    __tablename__ = "release_check"
    __table_args__ = (UniqueConstraint("release_id", "name", name="uq_release_check"),)
    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="release.id", index=True)
    name: str = Field(max_length=64)
    state: str = Field(default="pending", max_length=32)  # pending | running | passed | failed | skipped
    values: dict[str, Any] = _json(dict)
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    source: str | None = Field(default=None, max_length=200)  # e.g. "github:check_run:CI / test (3.12)"
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # why it failed
    # When the reporter says it happened: an older report never overwrites a newer one.
    at: datetime | None = _ts(nullable=True)
    override: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    updated_at: datetime = _ts(nullable=False)
    row_version: int = Field(default=1)


class ReleaseAlert(SQLModel, table=True):
    """An alert that fired on a release's service while the release was watched."""

    __tablename__ = "release_alert"
    __table_args__ = (UniqueConstraint("release_id", "fingerprint", "started_at", name="uq_release_alert"),)
    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="release.id", index=True)
    source: str = Field(max_length=16)  # alertmanager | grafana | slackbox
    fingerprint: str = Field(max_length=128)
    name: str = Field(max_length=200)
    severity: str | None = Field(default=None, max_length=32)
    status: str = Field(max_length=16, index=True)  # firing | resolved
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    labels: dict[str, Any] = _json(dict)
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    started_at: datetime = _ts(nullable=False)
    resolved_at: datetime | None = _ts(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    override: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    incident_id: int | None = Field(default=None)
    updated_at: datetime = _ts(nullable=False)
    row_version: int = Field(default=1)


class ReleaseTask(SQLModel, table=True):
    """A coordination task of one release phase, asked of an owner (a person, a user group or
    an executor), done or blocked by button or callback."""

    __tablename__ = "release_task"
    __table_args__ = (UniqueConstraint("release_id", "phase", "name", name="uq_release_task"),)
    id: int | None = Field(default=None, primary_key=True)
    release_id: int = Field(foreign_key="release.id", index=True)
    phase: TaskPhase = _word(TaskPhase, 16)
    name: str = Field(max_length=64)
    owner: str = Field(max_length=64)  # U... / S... / executor name
    requirements: list[str] = _json(list)
    # The requirements the owner has ticked (their texts, in requirement order); rows from before
    # ticks existed read as nothing ticked (the migration's server default).
    ticked: list[str] = Field(default_factory=list,
                              sa_column=Column(JSON, nullable=False, server_default=text("'[]'")))
    state: TaskState = _word(TaskState, 16)
    by: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    callback_token_hash: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)
    row_version: int = Field(default=1)


class ScheduledPost(SQLModel, table=True):
    """A recurring post (the weekly metrics digest): its next due time lives here, and one
    replica claims it by moving next_due_at on, so it is posted once across replicas."""

    __tablename__ = "scheduled_post"
    name: str = Field(primary_key=True, max_length=64)
    spec: str = Field(max_length=200)  # the schedule it was computed from; a change recomputes it
    next_due_at: datetime = _ts(nullable=False)
    last_done_at: datetime | None = _ts(nullable=True)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model (SQLModel does not declare ``__table__`` for type checkers)."""
    return SQLModel.metadata.tables[str(model.__tablename__)]
