"""The release read model: a release with its approvals, and the SlackRef key of its announcement."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.policy import Policy
from bot.releases.gates import approvals_needed
from storage.models import Approval, Release

# The outbox renderer of the announcement (registered by bot.app, rendered at send time).
ANNOUNCEMENT = "release_announcement"


@dataclass(frozen=True)
class ReleaseView:
    """A release with its approvals, as shown in Slack and the API."""

    release: Release
    approvals: list[Approval]
    needed: int


def approvals_of(s: Session, release: Release) -> list[Approval]:
    """The release's approvals, oldest first."""
    return list(s.exec(select(Approval).where(Approval.release_id == release.id)
                       .order_by(col(Approval.at), col(Approval.id))).all())


def load(s: Session, release: Release, policy: Policy) -> ReleaseView:
    """Read the approvals of ``release``."""
    return ReleaseView(release, approvals_of(s, release), approvals_needed(policy, release.risk))


def announcement_key(release_id: int | None) -> str:
    """The SlackRef key of a release's announcement message."""
    return f"release:{release_id}:announcement"
