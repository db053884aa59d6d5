"""The one error handler: typed errors become what the user sees, on every surface."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, BoltResponse

from bot.errors import DatabaseUnavailable, WarroomError
from bot.services import Services
from bot.tx import Duplicate

log = logging.getLogger(__name__)
GENERIC = "Something went wrong on warroom's side; nothing was changed. Please try again."


def _json(body: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(body), headers={"content-type": "application/json"})


def reply_for(error: Exception, body: dict[str, Any], services: Services) -> BoltResponse:
    """The response for ``error`` raised while handling ``body``."""
    if isinstance(error, Duplicate):
        return BoltResponse(status=200, body="")  # a re-delivery: already applied
    if not isinstance(error, WarroomError) and services.db.unreachable(error):
        error = DatabaseUnavailable()
    if isinstance(error, DatabaseUnavailable) and body.get("type") == "block_actions":
        # No outbox without the database: answer through the click's response_url directly.
        services.gateway.respond_later(body.get("response_url"), f":warning: {error.message}")
        return BoltResponse(status=200, body="")
    if isinstance(error, WarroomError):
        message = error.message
    else:
        log.error("unhandled %s while handling a %s request", type(error).__name__,
                  body.get("type") or body.get("command"), exc_info=error)
        message = GENERIC
    kind = body.get("type")
    if kind == "view_submission":
        blocks = list(((body.get("view") or {}).get("state") or {}).get("values", {}))
        field = getattr(error, "field", None)
        block_id = field if field in blocks else (blocks[0] if blocks else None)
        if block_id:
            return _json({"response_action": "errors", "errors": {block_id: message[:300]}})
        return BoltResponse(status=200, body="")
    if kind == "block_actions":
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id")
        if channel and user:
            services.notify_user(channel, user, f":warning: {message}")
        return BoltResponse(status=200, body="")
    return _json({"response_type": "ephemeral", "text": message})


def register(app: App, services: Services) -> None:
    """Install the error handler."""

    @app.error
    def handle(error: Exception, body: dict[str, Any]) -> BoltResponse:
        return reply_for(error, body, services)
