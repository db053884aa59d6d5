"""Buttons on the war-room summary and the post-mortem reminders."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.errors import UsageError
from bot.ids import id_value
from bot.incidents import modals
from bot.services import Services
from handlers.common import button_value, origin

SOURCE = "slack:block_actions"


def _incident(body: dict[str, Any]) -> int:
    value = id_value(button_value(body).get("i"))
    if value is None:
        raise UsageError("That button is out of date; run the command again.")
    return value


def _channel(body: dict[str, Any]) -> str:
    return (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""


def register(app: App, services: Services) -> None:
    """Register Post update, Log decision, Assign role, Mitigated, Resolve, Start hotfix, Post-mortem done."""

    @app.action("incident_update")
    def update(ack: Ack, body: dict[str, Any]) -> None:
        services.open_modal(body["trigger_id"], modals.text_modal(modals.UPDATE, _incident(body)))
        ack()

    @app.action("incident_decision")
    def decision(ack: Ack, body: dict[str, Any]) -> None:
        services.open_modal(body["trigger_id"], modals.text_modal(modals.DECISION, _incident(body)))
        ack()

    @app.action("incident_role")
    def role(ack: Ack, body: dict[str, Any]) -> None:
        services.open_modal(body["trigger_id"], modals.role_modal(_incident(body)))
        ack()

    @app.action("incident_hotfix")
    def hotfix(ack: Ack, body: dict[str, Any]) -> None:
        services.open_modal(body["trigger_id"], modals.hotfix_modal(_incident(body), _channel(body)))
        ack()

    @app.action("incident_mitigated")
    def mitigated(ack: Ack, body: dict[str, Any]) -> None:
        services.incidents.mitigate(_incident(body), origin(body, SOURCE))
        ack()

    @app.action("incident_resolve")
    def resolve(ack: Ack, body: dict[str, Any]) -> None:
        services.incidents.resolve(_incident(body), origin(body, SOURCE))
        ack()

    @app.action("incident_postmortem_done")
    def postmortem_done(ack: Ack, body: dict[str, Any]) -> None:
        services.incidents.postmortem_done(_incident(body), origin(body, SOURCE))
        ack()
