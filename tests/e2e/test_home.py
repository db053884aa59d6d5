"""The App Home tab: published on app_home_opened, republished when what it shows changes, not
on every event."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Stack
from tests.e2e.test_metrics_slack import AP1, IC, INC, REL, REQ, command, ship


def home_text(stack: Stack, user: str) -> str:
    """Everything a user reads on their Home tab."""
    view = stack.ws.home(user)
    return json.dumps(view["blocks"], ensure_ascii=False) if view else ""


def publishes(stack: Stack) -> int:
    """How many views.publish calls the bot made."""
    return len([c for c in stack.ws.calls("views.publish") if c["ok"]])


def chart_of(stack: Stack, user: str) -> dict[str, Any] | None:
    """The chart's image block on a user's Home tab."""
    view = stack.ws.home(user)
    return next((b for b in (view or {}).get("blocks", []) if b["type"] == "image"), None)


def uploads(stack: Stack) -> int:
    """How many files the bot uploaded."""
    return len([c for c in stack.ws.calls("files.completeUploadExternal") if c["ok"]])


def test_home_shows_the_dashboard_and_is_republished_only_on_change(stack: Stack) -> None:
    assert stack.ws.open_home(REQ).status_code == 200
    first = stack.ws.wait_for(lambda: home_text(stack, REQ), what="the Home tab")
    for expected in ("Open releases", "No release in progress", "Open incidents", "Overdue post-mortems",
                     "Delivery this month", "Deployments: 0"):
        assert expected in first, expected
    # The chart follows: uploaded once (shared in no channel), then shown by its file ID.
    chart = stack.ws.wait_for(lambda: chart_of(stack, REQ), what="the chart on Home")
    assert "Deployments per week" in chart["alt_text"] and "Delivery metrics, all services" in chart["title"]["text"]
    assert stack.store.file_content(chart["slack_file"]["id"])[:8] == b"\x89PNG\r\n\x1a\n"
    stack.settle()
    assert publishes(stack) == 2  # the figures, then with their chart
    stack.ws.open_home(REQ)  # nothing changed: no new publish, no new chart
    stack.settle()
    assert publishes(stack) == 2 and uploads(stack) == 1
    assert not [m for m in stack.bot_messages(REL) if m.get("files")]

    command(stack, REQ, REL, "/release", "start v8.0.0 risk=high <b>")
    stack.ws.wait_for(lambda: "v8.0.0" in home_text(stack, REQ), what="the release on Home")
    text = home_text(stack, REQ)
    assert "at *Development*" in text and "approvals 0/2" in text
    ship(stack, "v8.1.0")
    stack.ws.wait_for(lambda: "Deployments: 1" in home_text(stack, REQ), what="this month's deployment")
    # New figures, new chart: the Home shows the one drawn from them.
    drawn = chart["slack_file"]["id"]
    new_chart = stack.ws.wait_for(lambda: (c := chart_of(stack, REQ)) and c["slack_file"]["id"] != drawn and c,
                                  what="the new chart")
    assert stack.store.file_content(new_chart["slack_file"]["id"])[:4] == b"\x89PNG"

    command(stack, IC, INC, "/incident", "declare P1 checkout <!channel> down")
    stack.settle()
    stack.ws.open_home(REQ)  # incidents have no listener; opening Home picks the change up
    text = stack.ws.wait_for(lambda: "checkout" in home_text(stack, REQ) and home_text(stack, REQ),
                             what="the incident on Home")
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text  # user text is escaped
    assert "next update <!date^" in text
    assert AP1 not in text

