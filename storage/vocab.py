"""The one vocabulary of stored values: risk, severity, release type, stage, and the statuses of
releases and incidents. Requests, the policy, the state machines and the tables all use these
(they live in ``storage``, the lowest layer, because the tables store them)."""

from __future__ import annotations

from enum import StrEnum


class Risk(StrEnum):
    """How risky a release is; the policy sets approvals and mitigations per risk."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Severity(StrEnum):
    """How bad an incident is (P0 is the worst); a hotfix carries its incident's severity."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


class ReleaseType(StrEnum):
    """What kind of release it is; only a hotfix carries a severity."""

    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"
    HOTFIX = "hotfix"


class StageName(StrEnum):
    """The stages a policy may list, in the order of promotion it chooses."""

    DEV = "dev"
    STAGING = "staging"
    CANARY = "canary"
    PRODUCTION = "production"


class ReleaseStatus(StrEnum):
    """Where a release stands (see bot.releases.state for the allowed steps)."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"


class IncidentStatus(StrEnum):
    """Where an incident stands (see bot.incidents.state for the allowed steps)."""

    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TaskPhase(StrEnum):
    """When a release's coordination task is due (policy ``tasks``), in the order they happen."""

    PRE_RELEASE = "pre_release"
    PREPARATION = "preparation"
    DEPLOYMENT = "deployment"
    POST_DEPLOY = "post_deploy"


class TaskState(StrEnum):
    """Where a coordination task stands: asked, done, or blocked by its owner."""

    REQUESTED = "requested"
    DONE = "done"
    BLOCKED = "blocked"
