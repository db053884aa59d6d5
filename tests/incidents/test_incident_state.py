"""The incident state machine: allowed steps, and clear refusals for the rest."""

from __future__ import annotations

import pytest

from bot.errors import InvalidTransition
from bot.incidents.state import CLOSED, INVESTIGATING, MITIGATED, RESOLVED, TRANSITIONS, next_status


def test_happy_path() -> None:
    assert next_status(1, INVESTIGATING, "update") == INVESTIGATING
    assert next_status(1, INVESTIGATING, "mitigate") == MITIGATED
    assert next_status(1, MITIGATED, "resolve") == RESOLVED
    assert next_status(1, INVESTIGATING, "resolve") == RESOLVED
    assert next_status(1, RESOLVED, "postmortem_done") == CLOSED


def test_resolving_twice_is_refused_with_a_reason() -> None:
    with pytest.raises(InvalidTransition, match=r"Incident #4 is resolved; it cannot be resolved again"):
        next_status(4, RESOLVED, "resolve")


@pytest.mark.parametrize("action", ["update", "decision", "mitigate", "resolve"])
def test_nothing_but_follow_up_work_after_the_resolve(action: str) -> None:
    for status in (RESOLVED, CLOSED):
        assert (status, action) not in TRANSITIONS
        with pytest.raises(InvalidTransition, match="#2"):
            next_status(2, status, action)


def test_mitigating_twice_and_closing_early_are_refused() -> None:
    with pytest.raises(InvalidTransition, match="mitigated"):
        next_status(1, MITIGATED, "mitigate")
    with pytest.raises(InvalidTransition, match="Resolve it first"):
        next_status(1, INVESTIGATING, "postmortem_done")
    assert not any(status == CLOSED for status, _ in TRANSITIONS)
