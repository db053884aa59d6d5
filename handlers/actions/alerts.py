"""Buttons on an alert posted in a release thread (Roll back reuses the release's button)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.errors import UsageError
from bot.services import Services
from handlers.common import button_value, origin


def register(app: App, services: Services) -> None:
    """Register Acknowledge."""

    @app.action("alert_ack")
    def acknowledge(ack: Ack, body: dict[str, Any]) -> None:
        alert_id = button_value(body).get("a")
        if not isinstance(alert_id, int):
            raise UsageError("That button is out of date.")
        services.monitoring.acknowledge(alert_id, origin(body, "slack:block_actions"))
        ack()
