"""The team's policy: risk levels, stages, freeze windows, severities, cadence.

Shipped defaults live in ``bot/defaults/policy.yml``; a team's own YAML file is merged
over them key by key, then the whole is validated so a mistake names its field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from bot.errors import ConfigError
from bot.policy_executors import REPO_PATTERN, Executor, Strict
from storage.vocab import Risk, Severity, StageName, TaskPhase

DEFAULTS = Path(__file__).parent / "defaults" / "policy.yml"
PHASES = tuple(TaskPhase)  # in the order the phases happen
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RiskLevel(Strict):
    approvals: int = Field(ge=1, le=10)
    mitigations: list[str]
    # Minutes after production during which an alert on the release's service is its concern.
    monitor_minutes: int = Field(default=30, ge=0)
    # Minutes the canary runs before production 100% may be requested.
    bake_minutes: int = Field(default=0, ge=0)


class Stage(Strict):
    name: StageName
    label: str
    production: bool = False
    requires_approval: bool = False
    # Checklist sections that must be fully ticked before promotion into this stage.
    requires_checklist: list[str] = []
    # A firing alert during this stage requests the rollback without waiting for a person.
    auto_rollback: bool = False
    # The executor that deploys into this stage (a name under `executors:`); none: manual.
    executor: str | None = None
    # How long a deployment may go without a final report before it is marked timed out.
    timeout_seconds: int = Field(default=1800, ge=1)
    # Task phases (policy `tasks`) whose every task must be done before promotion into this stage.
    requires_tasks: list[TaskPhase] = []


class Task(Strict):
    """A coordination request sent when a release starts: to a person or user group (Slack ID)
    or to an executor (a `task.requested` webhook)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=150)
    owner: str = Field(min_length=1, max_length=64)
    # At most 40: Slack shows them as checkboxes, 10 to an element, and a message has 50 blocks.
    requirements: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default=[], max_length=40)

    @field_validator("requirements")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        # An owner or executor ticks a requirement by its text, so two alike could not be told apart.
        twice = sorted({r for r in value if value.count(r) > 1})
        if twice:
            raise ValueError(f"requirements must differ; listed twice: {', '.join(twice)}")
        return value


class ChecklistItem(Strict):
    """One checklist item; ticks are stored by ``id``, so items may be reordered or relabelled."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")
    label: str = Field(min_length=1, max_length=200)
    # Ticked by this check passing, not by hand.
    check: str | None = None


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:48] or "item"


def _with_id(item: Any) -> Any:
    # An item given as {label, check} without an id gets its label in snake_case, as a string does.
    if isinstance(item, dict) and "id" not in item and isinstance(item.get("label"), str):
        return {"id": _slug(item["label"]), **item}
    return item


class ChecklistSection(Strict):
    section: str
    items: list[ChecklistItem] = Field(min_length=1)

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any) -> Any:
        # A plain string is an item whose id is its label in snake_case.
        if isinstance(value, list):
            return [{"id": _slug(v), "label": v} if isinstance(v, str) else _with_id(v) for v in value]
        return value


class Check(Strict):
    """A named piece of evidence a stage waits for (a CI job, a scan, a smoke test)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    phase: Literal["pre_release", "post_deploy"] = "pre_release"
    # Glob over a check run, workflow or status-context name, or a generic reporter's name.
    match: str | None = None
    min: dict[str, float] = {}
    max: dict[str, float] = {}
    after: list[str] = []
    required_for: StageName | None = None
    # For post-deploy checks: the stage whose deployment they verify.
    stage: StageName | None = None


class Monitoring(Strict):
    open_incident_for: list[str] = ["critical"]
    incident_severity: Severity = Severity.P1


class Freeze(Strict):
    days: list[str] = ["fri"]
    emergency_severities: list[Severity] = [Severity.P0, Severity.P1]

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [d for d in value.split(",")]
        full = {name: name[:3] for name in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                            "saturday", "sunday")}
        days = [full.get(str(d).strip().lower(), str(d).strip().lower()) for d in value if str(d).strip()]
        for day in days:
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}; use mon, tue, wed, thu, fri, sat or sun")
        return days


class SeverityPolicy(Strict):
    label: str
    response_seconds: int | None = Field(default=None, ge=0)
    hotfix_start_stage: StageName = StageName.DEV
    status_interval_seconds: int | None = Field(default=None, ge=1)

    @field_validator("hotfix_start_stage")
    @classmethod
    def _before_production(cls, value: StageName) -> StageName:
        if value == StageName.PRODUCTION:
            raise ValueError("a hotfix starts before production (dev, staging or canary)")
        return value


class WarRoom(Strict):
    incidents_channel: str = "incidents"
    status_interval_seconds: int = Field(default=900, ge=1)
    responders: dict[Severity, list[str]] = {}


class Postmortem(Strict):
    due_seconds: int = Field(default=172800, ge=1)
    remind_before_seconds: list[int] = [86400, 14400]
    overdue_every_seconds: int = Field(default=86400, ge=1)


class Targets(Strict):
    """The delivery targets the metrics are judged against (the seed's defaults)."""

    deployments_per_month: float = Field(default=2, ge=0)  # at least; a month is 30 days
    lead_time_hours: float = Field(default=48, gt=0)  # under
    success_rate: float = Field(default=0.95, ge=0, le=1)  # over
    mttr_hours: float = Field(default=1, gt=0)  # under
    rollback_minutes: float = Field(default=15, gt=0)  # under


_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,31}$")
_CHANNEL_NAME = re.compile(r"^#?[a-z0-9][a-z0-9._-]{0,79}$")


class Digest(Strict):
    """Where and when the weekly metrics digest is posted (in the policy's time zone).

    ``channel``: an ID (C0123ABCD) or a name (#releases or releases), looked up when the
    digest is due (an upload needs the ID).
    """

    channel: str = Field(min_length=1)
    weekday: str = "mon"
    time: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        value = value.strip()
        if _CHANNEL_ID.match(value):
            return value
        if _CHANNEL_NAME.match(value):
            return "#" + value.removeprefix("#")
        raise ValueError(f"{value!r} is neither a channel ID (C0123ABCD) nor a channel name "
                         "(#releases: lowercase letters, digits, ., - and _, at most 80)")

    @property
    def channel_name(self) -> str | None:
        """The channel's name without '#' when it was given by name, else None (an ID)."""
        return self.channel[1:] if self.channel.startswith("#") else None

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        day = value.strip().lower()[:3]
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {value!r}; use mon, tue, wed, thu, fri, sat or sun")
        return day


class Policy(Strict):
    """The validated policy; every workflow reads its rules from here."""

    timezone: str = "UTC"
    risk_levels: dict[Risk, RiskLevel]
    stages: list[Stage] = Field(min_length=2)
    checklist: list[ChecklistSection]
    freeze: Freeze
    severities: dict[Severity, SeverityPolicy]
    war_room: WarRoom
    postmortem: Postmortem
    targets: Targets = Targets()
    digest: Digest | None = None
    checks: list[Check] = []
    monitoring: Monitoring = Monitoring()
    executors: dict[str, Executor] = {}
    tasks: dict[TaskPhase, list[Task]] = {}
    # What a release ships when `/release start` names no repo= or service=.
    default_service: str | None = Field(default=None, max_length=64)
    default_repo: str | None = Field(default=None, pattern=REPO_PATTERN)

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        missing = set(Risk) - set(self.risk_levels)
        if missing:
            raise ValueError(f"risk_levels lacks {sorted(str(m) for m in missing)}")
        ids = [item.id for sec in self.checklist for item in sec.items]
        doubled = sorted({i for i in ids if ids.count(i) > 1})
        if doubled:
            raise ValueError(f"checklist: each item id may appear once; {doubled} appear more often")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError("stages: each stage may appear once")
        sections = {c.section for c in self.checklist}
        for stage in self.stages:
            unknown = set(stage.requires_checklist) - sections
            if unknown:
                raise ValueError(f"stages.{stage.name}.requires_checklist names unknown sections {sorted(unknown)}")
            for phase in stage.requires_tasks:
                if not self.tasks.get(phase):
                    raise ValueError(f"stages.{stage.name}.requires_tasks names phase {phase.value!r}, "
                                     "which has no tasks")
            if stage.executor and stage.executor not in self.executors:
                known = ", ".join(sorted(self.executors)) or "none are defined"
                raise ValueError(f"stages.{stage.name}.executor names unknown executor {stage.executor!r} "
                                 f"(executors: {known})")
        for phase, tasks in self.tasks.items():
            for i, task in enumerate(tasks):
                owner = self.executors.get(task.owner)
                if owner is not None and owner.kind != "webhook":
                    raise ValueError(f"tasks.{phase}.{i}.owner: executor {task.owner!r} is {owner.kind}; "
                                     "only a webhook executor takes tasks")
                if owner is None and not re.match(r"^[UWS][A-Z0-9]{2,}$", task.owner):
                    raise ValueError(f"tasks.{phase}.{i}.owner: {task.owner!r} is neither a Slack user or "
                                     "user-group ID (U..., S...) nor an executor name")
        self._check_checks(names)
        return self

    def _check_checks(self, stages: Sequence[str]) -> None:
        names = [c.name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError("checks: each check name may appear once")
        for i, check in enumerate(self.checks):
            unknown = set(check.after) - set(names)
            if unknown:
                raise ValueError(f"checks.{i}.after names unknown checks {sorted(unknown)}")
            for stage in (check.required_for, check.stage):
                if stage and stage not in stages:
                    raise ValueError(f"checks.{i} names stage {stage!r}, which is not in stages")
            if check.phase == "post_deploy" and not check.stage:
                raise ValueError(f"checks.{i} ({check.name}) is post_deploy: say which stage it verifies (stage:)")
        for sec in self.checklist:
            for item in sec.items:
                if item.check and item.check not in names:
                    raise ValueError(f"checklist item {item.label!r} names unknown check {item.check!r}")

    def check(self, name: str) -> Check | None:
        """The check called ``name``, if the policy has one."""
        return next((c for c in self.checks if c.name == name), None)

    def checklist_item(self, item_id: str) -> ChecklistItem | None:
        """The checklist item with ``item_id``, if the policy lists it."""
        return next((i for sec in self.checklist for i in sec.items if i.id == item_id), None)

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        return next(s for s in self.stages if s.name == name)

    def next_stage(self, name: str) -> Stage | None:
        """The stage after ``name``, or None at the last one."""
        names: list[str] = [s.name for s in self.stages]
        i = names.index(name)
        return self.stages[i + 1] if i + 1 < len(self.stages) else None

    @property
    def final_stage(self) -> str:
        """The last stage's name: a deployment into it is a production deployment for the metrics."""
        return self.stages[-1].name

    def interval_for(self, severity: Severity) -> int:
        """Seconds between war-room status updates for this severity."""
        sev = self.severities.get(severity)
        return (sev and sev.status_interval_seconds) or self.war_room.status_interval_seconds


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return over


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"WARROOM_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"WARROOM_CONFIG: {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"WARROOM_CONFIG: {path} must hold a mapping at the top level")
    return data


def load_policy(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Policy:
    """Load the shipped defaults, merge the team's file and ``overrides``, then validate."""
    data = _read_yaml(DEFAULTS)
    if path:
        data = _merge(data, _read_yaml(Path(path)))
    if overrides:
        data = _merge(data, overrides)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "policy"
        source = f" in {path}" if path else ""
        raise ConfigError(f"policy field '{where}'{source}: {first['msg']}") from exc
