"""The release state machine: an explicit table of allowed steps and one function to apply them."""

from __future__ import annotations

from bot.errors import InvalidTransition
from storage.vocab import ReleaseStatus

ACTIVE, COMPLETED, ROLLED_BACK, REJECTED = (ReleaseStatus.ACTIVE, ReleaseStatus.COMPLETED, ReleaseStatus.ROLLED_BACK,
                                            ReleaseStatus.REJECTED)

# (status, action) -> status after the action. Anything missing is refused.
TRANSITIONS: dict[tuple[ReleaseStatus, str], ReleaseStatus] = {
    (ACTIVE, "promote"): ACTIVE,
    (ACTIVE, "complete"): COMPLETED,
    (ACTIVE, "approve"): ACTIVE,
    (ACTIVE, "reject"): REJECTED,
    (ACTIVE, "override_freeze"): ACTIVE,
    (ACTIVE, "checklist"): ACTIVE,
    (ACTIVE, "rollback"): ROLLED_BACK,
    (COMPLETED, "rollback"): ROLLED_BACK,
}

_WORDS = {
    "promote": "promoted", "complete": "promoted", "approve": "approved", "reject": "rejected",
    "override_freeze": "given a freeze override", "checklist": "ticked off", "rollback": "rolled back",
}
_STATUS = {ACTIVE: "in progress", COMPLETED: "completed", ROLLED_BACK: "rolled back", REJECTED: "rejected"}


def describe(status: ReleaseStatus) -> str:
    """The status in words."""
    return _STATUS.get(status, status)


def next_status(version: str, status: ReleaseStatus, action: str) -> ReleaseStatus:
    """The status after ``action``, or InvalidTransition saying why not."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(
            f"Release {version} is {describe(status)}; it cannot be {_WORDS.get(action, action)}."
        ) from None
