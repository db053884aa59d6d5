"""Buttons on the release announcement."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.errors import UsageError
from bot.releases import modals
from bot.services import Services
from handlers.common import button_value, origin

SOURCE = "slack:block_actions"


def register(app: App, services: Services) -> None:
    """Register Promote, Approve, Reject, Checklist and Rollback."""

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

    @app.action("release_checklist")
    def checklist(ack: Ack, body: dict[str, Any]) -> None:
        view = services.releases.get(button_value(body).get("v", ""))
        services.open_modal(body["trigger_id"], modals.checklist_modal(view, services.policy))
        ack()
