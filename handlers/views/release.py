"""Release modal submissions: start, checklist, reason for rollback/reject/override."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.errors import UsageError
from bot.releases import modals
from bot.releases.requests import StartRelease
from bot.releases.view import ReleaseView
from bot.services import Services
from bot.tx import Origin
from handlers.common import origin, view_meta, view_values

SOURCE = "slack:view_submission"


def register(app: App, services: Services) -> None:
    """Register the release modals' submit handlers."""

    @app.view(modals.START)
    def start(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view_values(view)
        try:
            req = StartRelease.build(channel_id=view_meta(view).get("channel_id", ""), **values)
        except UsageError as exc:
            exc.field = exc.field or "version"
            raise
        services.releases.start(req, origin(body, SOURCE))
        ack()

    @app.view(modals.CHECKLIST)
    def checklist(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ticked = [key for keys in view_values(view).values() for key in (keys or [])]
        services.releases.set_checklist(view_meta(view).get("version", ""), origin(body, SOURCE), ticked)
        ack()

    @app.view(modals.REASON)
    def reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta, text = view_meta(view), view_values(view).get("reason", "")
        actions: dict[str, Callable[[str, Origin, str], ReleaseView]] = {
            "rollback": services.releases.rollback, "reject": services.releases.reject,
            "override": services.releases.override_freeze}
        act = actions.get(meta.get("action", ""))
        if act is None:
            raise UsageError("This form is out of date; open it again.")
        try:
            act(meta.get("version", ""), origin(body, SOURCE), text)
        except UsageError as exc:
            exc.field = "reason"
            raise
        ack()
