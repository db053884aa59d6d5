"""Modal submissions (view_submission)."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services
from handlers.views import incident, release


def register(app: App, services: Services) -> None:
    """Register every modal's submit."""
    release.register(app, services)
    incident.register(app, services)
