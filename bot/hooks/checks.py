"""Deliveries from a generic CI reporter (POST /hooks/checks, Standard Webhooks signed)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlmodel import select

from bot.checks import rules
from bot.checks.rules import Report
from bot.checks.service import ChecksService
from bot.errors import UsageError
from bot.hooks.common import open_release_for, parse_time
from bot.releases.state import ACTIVE
from bot.tx import Duplicate, Origin, Tx
from storage.models import InboundEvent, Release, ReleaseCheck


class CheckReport(BaseModel):
    """A check result from any CI: which release (by version or head sha), which check, its state."""

    model_config = ConfigDict(extra="ignore")

    release: str | None = Field(default=None, max_length=64, description="The release's version")
    sha: str | None = Field(default=None, max_length=64, description="Or the head commit it ships")
    repo: str | None = Field(default=None, max_length=140)
    check: str = Field(min_length=1, max_length=200, description="A policy check name (or one its glob takes)")
    state: str = Field(min_length=1, max_length=40, description="pending | running | passed | failed | skipped")
    values: dict[str, float] = Field(default_factory=dict, description="e.g. {\"coverage\": 97.4}")
    url: str | None = Field(default=None, max_length=1000)
    at: str | None = Field(default=None, description="When it happened (ISO-8601); default: when received")

    @model_validator(mode="after")
    def _target(self) -> CheckReport:
        if not self.release and not self.sha:
            raise ValueError("name the release (\"release\": version) or its head commit (\"sha\")")
        return self

    @classmethod
    def parse(cls, data: Any) -> CheckReport:
        """Validate, or UsageError naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "body"
            raise UsageError(f"{where}: {err['msg']}") from None

    def to_report(self, source: str) -> Report:
        """The report the checks service applies."""
        state, note = rules.normalize_state(self.state)
        return Report(name=self.check, state=state, values=self.values, url=self.url, source=source,
                      at=parse_time(self.at), note=note)


class CheckReportProcessor:
    """Applies a stored generic report; True when it concerned a release."""

    def __init__(self, checks: ChecksService) -> None:
        self.checks = checks

    def __call__(self, tx: Tx, event: InboundEvent) -> bool:
        try:
            body = CheckReport.parse(event.payload)
        except UsageError:
            return False  # validated on the way in; a row stored by an older version may differ
        return self.apply(tx, body, "hook:checks")

    def apply(self, tx: Tx, body: CheckReport, source: str) -> bool:
        """Find the release and apply the report to its matching checks."""
        if body.release:
            release = tx.session.exec(select(Release).where(Release.version == body.release,
                                                            Release.status == ACTIVE)).first()
        else:
            release = open_release_for(tx, body.sha or "", body.repo)
        if release is None or not rules.matching(self.checks.policy, body.check):
            return False
        self.checks.apply(tx, release, body.to_report(f"{source}:{body.check}"))
        return True


def report_now(checks: ChecksService, version: str, body: CheckReport, origin: Origin) -> list[ReleaseCheck]:
    """Apply a report given through the API at once; NotFound for an unknown release, UsageError
    for a check the policy does not name. Returns the release's checks after it."""

    def work(tx: Tx) -> None:
        tx.once(origin.request_id)
        release = checks.releases.find(tx.session, version)
        if release.status != ACTIVE:
            raise UsageError(f"Release {release.version} is not in progress; its checks are closed.")
        if not rules.matching(checks.policy, body.check):
            names = ", ".join(c.name for c in checks.policy.checks) or "none: the policy lists no checks"
            raise UsageError(f"No policy check takes {body.check!r}; checks are {names}.")
        checks.apply(tx, release, body.to_report(f"{origin.source}:{origin.user}"))
    with suppress(Duplicate):  # the same Idempotency-Key again: applied already
        checks.db.run(work)
    return checks.listed(version)
