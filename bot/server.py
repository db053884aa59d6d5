"""Serving helpers of the composition root: Socket Mode runs the same Bolt app over Slack's WebSocket."""

from __future__ import annotations

import threading

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import Runtime


def start_socket_mode(runtime: Runtime, app_token: str) -> SocketModeHandler:
    """Connect to Slack over Socket Mode in a background thread."""
    handler = SocketModeHandler(runtime.bolt, app_token)
    threading.Thread(target=handler.start, name="warroom-socket-mode", daemon=True).start()
    return handler
