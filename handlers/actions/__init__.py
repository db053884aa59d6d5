"""Button listeners (block_actions)."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services
from handlers.actions import alerts, incident, release


def register(app: App, services: Services) -> None:
    """Register every button."""
    release.register(app, services)
    incident.register(app, services)
    alerts.register(app, services)
