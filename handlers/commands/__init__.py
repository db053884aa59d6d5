"""Slash-command listeners."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services
from handlers.commands import incident, release


def register(app: App, services: Services) -> None:
    """Register every slash command."""
    release.register(app, services)
    incident.register(app, services)
