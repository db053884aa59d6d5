"""Bake time: production 100% waits until the canary has run its risk level's ``bake_minutes``."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from bot.policy import Policy, Stage
from bot.releases.state import ACTIVE
from bot.text import duration
from bot.tx import Tx
from storage.models import Release


def remaining(policy: Policy, release: Release, target: Stage, now: datetime) -> float:
    """Seconds the release must still bake before ``target`` (0 when it may go)."""
    here = policy.stage(release.stage)
    minutes = policy.risk_levels[release.risk].bake_minutes
    # No bake time is no wait, even when the canary landed after ``now`` was read (a transaction
    # that began a moment before it, a replica whose clock runs behind).
    if not minutes or not (target.production and here.production) or release.production_at is None:
        return 0.0
    return max((release.production_at + timedelta(minutes=minutes) - now).total_seconds(), 0.0)


class Bake:
    """The bake-time gate and its line on the announcement."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def gate(self, tx: Tx, release: Release, target: Stage) -> str | None:
        """Why ``target`` must wait for the canary to bake, or None."""
        left = remaining(self.policy, release, target, tx.now)
        if not left:
            return None
        minutes = self.policy.risk_levels[release.risk].bake_minutes
        return (f"{target.label} waits for the {self.policy.stage(release.stage).label} to bake "
                f"{minutes} minutes ({release.risk} risk): {_up(left)} to go.")

    def section(self, s: Session, release: Release, now: datetime) -> list[str]:
        """The remaining bake time, while there is some."""
        target = self.policy.next_stage(release.stage)
        if release.status != ACTIVE or target is None:
            return []
        left = remaining(self.policy, release, target, now)
        return [f":hourglass: Baking: {target.label} possible in {_up(left)}"] if left else []


def _up(seconds: float) -> str:
    # Rounded up to the minute: "29m to go" with 29m59s left would invite a refused click.
    return duration(-(-seconds // 60) * 60)
