"""Typed requests for the release workflow, validated before anything is stored."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import UsageError
from bot.ids import RowId
from bot.text import clip, escape
from storage.vocab import ReleaseType, Risk, Severity

VERSION_MAX = 64
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
FORMATS = {"ref": "a git sha, tag or branch such as `v2.4.0` or `main`", "sha": "a commit's hex sha (7 to 64 digits)",
           "repo": "`owner/name`, such as `acme/shop`", "service": "a name of letters, digits and `. _ -`"}
RISKS = tuple(Risk)
TYPES = tuple(ReleaseType)
SEVERITIES = tuple(Severity)


def check_version(value: str) -> str:
    """A version string fit to store and show, or UsageError naming the problem."""
    value = value.strip()
    if not value:
        raise UsageError("Give a version, e.g. `/release start v2.4.0`.")
    if len(value) > VERSION_MAX:
        raise UsageError(f"That version is {len(value):,} characters long; at most {VERSION_MAX} are allowed.")
    if not _VERSION.match(value):
        raise UsageError(
            "A version may hold letters, digits and `. _ + -`, starting with a letter or digit (e.g. v2.4.0)."
        )
    return value


class StartRelease(BaseModel):
    """What `/release start` or the start modal asks for."""

    model_config = ConfigDict(frozen=True)

    version: str
    type: ReleaseType = ReleaseType.MINOR
    risk: Risk = Risk.MEDIUM
    severity: Severity | None = None
    incident_id: RowId | None = None
    summary: str = Field(default="", max_length=2000)
    breaking_changes: str = Field(default="", max_length=1000)
    rollback_plan: str = Field(default="", max_length=1000)
    channel_id: str
    # What the release ships: a git ref (sha, tag or branch), the repository and the service.
    ref: str | None = Field(default=None, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$")
    repo: str | None = Field(default=None, max_length=140, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    service: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    # The commit CI reports on: given as sha=, else the ref when it is one (40 hex digits).
    sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,64}$")

    @field_validator("ref", "repo", "service", "sha", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return value.strip() or None if isinstance(value, str) else value

    @model_validator(mode="after")
    def _sha_from_ref(self) -> StartRelease:
        if self.sha is None and self.ref and _SHA.match(self.ref):
            # Frozen model: set the derived field once, during validation.
            object.__setattr__(self, "sha", self.ref.lower())
        return self

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        return check_version(value)

    @classmethod
    def build(cls, **fields: object) -> StartRelease:
        """Validate, turning pydantic's error into a UsageError that names the field."""
        try:
            return cls.model_validate(fields)
        except UsageError:
            raise
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "request"
            if isinstance(err.get("ctx", {}).get("error"), UsageError):
                raise err["ctx"]["error"] from None
            choices = {"risk": RISKS, "type": TYPES, "severity": SEVERITIES}.get(name)
            if choices:
                given = escape(clip(str(fields.get(name)), 40))
                raise UsageError(f"Unknown {name} `{given}`; use one of {', '.join(choices)}.") from None
            if name in FORMATS:
                given = escape(clip(str(fields.get(name)), 60))
                raise UsageError(f"`{name}={given}` is not valid; use {FORMATS[name]}.", field=name) from None
            raise UsageError(f"{name}: {err['msg']}") from None
