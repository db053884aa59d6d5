"""The Slack edge: listeners split by surface, each package exposing ``register``."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services
from handlers import actions, commands, errors, events, views


def register(app: App, services: Services) -> None:
    """Register every listener and the one error handler on ``app``."""
    errors.register(app, services)
    commands.register(app, services)
    actions.register(app, services)
    views.register(app, services)
    events.register(app, services)
