"""Incident modal submissions: declare, update, decision, role, hotfix."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.errors import UsageError
from bot.ids import id_value
from bot.incidents import modals
from bot.incidents.requests import DeclareIncident, parse_role, parse_user
from bot.services import Services
from handlers.common import origin, view_meta, view_values

SOURCE = "slack:view_submission"


def _incident(view: dict[str, Any]) -> int:
    value = id_value(view_meta(view).get("i"))
    if value is None:
        raise UsageError("This form is out of date; open it again.")
    return value


def register(app: App, services: Services) -> None:
    """Register the incident modals' submit handlers."""

    @app.view(modals.DECLARE)
    def declare(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view_values(view)
        req = DeclareIncident.build(values.get("severity"), values.get("title"), view_meta(view).get("channel_id", ""))
        services.incidents.declare(req, origin(body, SOURCE))
        ack()

    @app.view(modals.UPDATE)
    def update(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        services.incidents.update(_incident(view), view_values(view).get("text", ""), origin(body, SOURCE))
        ack()

    @app.view(modals.DECISION)
    def decision(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        services.incidents.decision(_incident(view), view_values(view).get("text", ""), origin(body, SOURCE))
        ack()

    @app.view(modals.ROLE)
    def role(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view_values(view)
        try:
            user = parse_user(values.get("user"))
        except UsageError as exc:
            raise UsageError("Pick the person who takes the role.", field="user") from exc
        services.incidents.assign_role(_incident(view), parse_role(values.get("role")), user, origin(body, SOURCE))
        ack()

    @app.view(modals.HOTFIX)
    def hotfix(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = view_meta(view)
        try:
            services.incidents.start_hotfix(_incident(view), view_values(view).get("version", ""),
                                            origin(body, SOURCE), str(meta.get("channel_id") or ""))
        except UsageError as exc:
            exc.field = exc.field or "version"
            raise
        ack()
