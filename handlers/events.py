"""Events API listeners: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.services import Services
from bot.tx import Origin


def register(app: App, services: Services) -> None:
    """Register ``app_home_opened``."""

    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        # Slack also sends this for the Messages tab; only the Home tab has a view to publish.
        if event.get("tab", "home") == "home" and event.get("user"):
            services.home.opened(event["user"], Origin(user=event["user"], source="slack:app_home_opened"))
