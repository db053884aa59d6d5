"""Buttons on the release announcement."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot.errors import UsageError
from bot.releases import modals
from bot.releases.task_render import TICK
from bot.services import Services
from handlers.common import button_value, origin

SOURCE = "slack:block_actions"


def _ticks(options: Any) -> set[tuple[int, int]]:
    out = set()
    for option in options or []:
        try:
            value = json.loads(option.get("value") or "")
        except (AttributeError, ValueError):
            value = None
        if not isinstance(value, dict) or not isinstance(value.get("t"), int) or not isinstance(value.get("r"), int):
            raise UsageError("Those checkboxes are out of date; run the command again.")
        out.add((value["t"], value["r"]))
    return out


def tick_click(body: dict[str, Any]) -> tuple[int, set[int], set[int], set[int]]:
    """A click on a task's requirement checkboxes: the task, and the requirements (by index) the
    element offers, the message showed ticked, and are ticked now."""
    action = body["actions"][0]
    # Slack sends the message as it stands (its ticks as last rendered) and the element's whole
    # selection; what the click changed is the difference.
    element = next((e for b in (body.get("message") or {}).get("blocks") or []
                    if b.get("block_id") == action.get("block_id") for e in b.get("elements") or []
                    if e.get("action_id") == action.get("action_id")), None)
    if element is None:
        raise UsageError("Those checkboxes are out of date; run the command again.")
    offered, shown, selected = (_ticks(element.get("options")), _ticks(element.get("initial_options")),
                                _ticks(action.get("selected_options")))
    tasks = {t for t, _ in offered | selected}
    if len(tasks) != 1 or not (shown | selected) <= offered:
        raise UsageError("Those checkboxes are out of date; run the command again.")
    return tasks.pop(), {r for _, r in offered}, {r for _, r in shown}, {r for _, r in selected}


def register(app: App, services: Services) -> None:
    """Register Promote, Approve, Reject, Checklist, Rollback and the task buttons and checkboxes."""

    @app.action("release_promote")
    def promote(ack: Ack, body: dict[str, Any]) -> None:
        value = button_value(body)
        services.releases.promote(value.get("v", ""), origin(body, SOURCE), expected_stage=value.get("s"))
        ack()

    @app.action("release_approve")
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        services.releases.approve(button_value(body).get("v", ""), origin(body, SOURCE))
        ack()

    def ask_reason(action: str, body: dict[str, Any]) -> None:
        # Checked first, so nobody writes a reason for something they may not do.
        view = services.releases.check_reasoned(action, button_value(body).get("v", ""), origin(body, SOURCE))
        services.open_modal(body["trigger_id"], modals.reason_modal(action, view.release.version))

    @app.action("release_reject")
    def reject(ack: Ack, body: dict[str, Any]) -> None:
        ask_reason("reject", body)
        ack()

    @app.action("release_rollback")
    def rollback(ack: Ack, body: dict[str, Any]) -> None:
        ask_reason("rollback", body)
        ack()

    @app.action("deployment_retry")
    def retry(ack: Ack, body: dict[str, Any]) -> None:
        value = button_value(body)
        if not isinstance(value.get("d"), int):
            raise UsageError("That button is out of date; run the command again.")
        services.deployments.retry(value["d"], origin(body, SOURCE))
        ack()

    @app.action("task_done")
    @app.action("task_blocked")
    def task(ack: Ack, body: dict[str, Any]) -> None:
        value = button_value(body)
        if not isinstance(value.get("t"), int):
            raise UsageError("That button is out of date; run the command again.")
        state = "done" if body["actions"][0]["action_id"] == "task_done" else "blocked"
        services.tasks.mark(value["t"], state, origin(body, SOURCE))
        ack()

    @app.action(TICK)
    def tick(ack: Ack, body: dict[str, Any]) -> None:
        task_id, offered, shown, selected = tick_click(body)
        services.tasks.toggle(task_id, offered, shown, selected, origin(body, SOURCE))
        ack()

    @app.action("release_checklist")
    def checklist(ack: Ack, body: dict[str, Any]) -> None:
        view = services.releases.get(button_value(body).get("v", ""))
        services.open_modal(body["trigger_id"], modals.checklist_modal(view, services.policy))
        ack()
