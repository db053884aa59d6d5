"""The incident state machine: an explicit table of allowed steps and one function to apply them."""

from __future__ import annotations

from bot.errors import InvalidTransition
from storage.vocab import IncidentStatus

INVESTIGATING, MITIGATED, RESOLVED, CLOSED = (IncidentStatus.INVESTIGATING, IncidentStatus.MITIGATED,
                                              IncidentStatus.RESOLVED, IncidentStatus.CLOSED)
OPEN = (INVESTIGATING, MITIGATED)

# (status, action) -> status after the action. Anything missing is refused.
TRANSITIONS: dict[tuple[IncidentStatus, str], IncidentStatus] = {
    (INVESTIGATING, "update"): INVESTIGATING,
    (INVESTIGATING, "decision"): INVESTIGATING,
    (INVESTIGATING, "role"): INVESTIGATING,
    (INVESTIGATING, "followup"): INVESTIGATING,
    (INVESTIGATING, "hotfix"): INVESTIGATING,
    (INVESTIGATING, "mitigate"): MITIGATED,
    (INVESTIGATING, "resolve"): RESOLVED,
    (MITIGATED, "update"): MITIGATED,
    (MITIGATED, "decision"): MITIGATED,
    (MITIGATED, "role"): MITIGATED,
    (MITIGATED, "followup"): MITIGATED,
    (MITIGATED, "hotfix"): MITIGATED,
    (MITIGATED, "resolve"): RESOLVED,
    # After the resolve the commander still owns the post-mortem and its action items.
    (RESOLVED, "role"): RESOLVED,
    (RESOLVED, "followup"): RESOLVED,
    (RESOLVED, "hotfix"): RESOLVED,
    (RESOLVED, "postmortem_done"): CLOSED,
}

_WORDS = {
    "update": "given a status update", "decision": "given a decision", "role": "given a new role holder",
    "followup": "given follow-ups", "hotfix": "given a hotfix", "mitigate": "marked mitigated",
    "resolve": "resolved again", "postmortem_done": "given a finished post-mortem",
}
_HINT = {
    RESOLVED: " Status updates have stopped; the post-mortem is what is left (`/incident postmortem done <link>`).",
    CLOSED: " Its post-mortem is done as well.",
    MITIGATED: "",
    INVESTIGATING: " Resolve it first with `/incident resolve [summary]`.",
}
_STATUS = {INVESTIGATING: "investigating", MITIGATED: "mitigated", RESOLVED: "resolved",
           CLOSED: "closed (post-mortem done)"}


def describe(status: IncidentStatus) -> str:
    """The status in words."""
    return _STATUS.get(status, status)


def next_status(incident_id: int | None, status: IncidentStatus, action: str) -> IncidentStatus:
    """The status after ``action``, or InvalidTransition saying why not."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        verb = "resolved again" if action == "resolve" else _WORDS.get(action, action)
        raise InvalidTransition(
            f"Incident #{incident_id} is {describe(status)}; it cannot be {verb}.{_HINT.get(status, '')}"
        ) from None
