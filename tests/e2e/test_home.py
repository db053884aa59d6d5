"""The App Home tab: published on app_home_opened, republished when what it shows changes, not
on every event."""

from __future__ import annotations

import json

from tests.e2e.conftest import Stack
from tests.e2e.test_metrics_slack import AP1, IC, INC, REL, REQ, command, ship


def home_text(stack: Stack, user: str) -> str:
    """Everything a user reads on their Home tab."""
    view = stack.ws.home(user)
    return json.dumps(view["blocks"], ensure_ascii=False) if view else ""


def publishes(stack: Stack) -> int:
    """How many views.publish calls the bot made."""
    return len([c for c in stack.ws.calls("views.publish") if c["ok"]])


def test_home_shows_the_dashboard_and_is_republished_only_on_change(stack: Stack) -> None:
    assert stack.ws.open_home(REQ).status_code == 200
    first = stack.ws.wait_for(lambda: home_text(stack, REQ), what="the Home tab")
    for expected in ("Open releases", "No release in progress", "Open incidents", "Overdue post-mortems",
                     "Delivery this month", "Deployments: 0"):
        assert expected in first, expected
    stack.settle()
    assert publishes(stack) == 1
    stack.ws.open_home(REQ)  # nothing changed: no new publish
    stack.settle()
    assert publishes(stack) == 1

    command(stack, REQ, REL, "/release", "start v8.0.0 risk=high <b>")
    stack.ws.wait_for(lambda: "v8.0.0" in home_text(stack, REQ), what="the release on Home")
    text = home_text(stack, REQ)
    assert "at *Development*" in text and "approvals 0/2" in text
    ship(stack, "v8.1.0")
    stack.ws.wait_for(lambda: "Deployments: 1" in home_text(stack, REQ), what="this month's deployment")

    command(stack, IC, INC, "/incident", "declare P1 checkout <!channel> down")
    stack.settle()
    stack.ws.open_home(REQ)  # incidents have no listener; opening Home picks the change up
    text = stack.ws.wait_for(lambda: "checkout" in home_text(stack, REQ) and home_text(stack, REQ),
                             what="the incident on Home")
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text  # user text is escaped
    assert "next update <!date^" in text
    assert AP1 not in text

