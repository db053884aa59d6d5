"""Signed requests as Slack sends them, dispatched to the real Bolt app (no HTTP server)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from slack_bolt import App, BoltRequest

from slackbox.actor import sign


def send(app: App, body: str) -> tuple[int, dict[str, Any]]:
    ts = str(int(time.time()))
    headers = {"x-slack-request-timestamp": ts, "x-slack-signature": sign("s", ts, body),
               "content-type": "application/x-www-form-urlencoded"}
    resp = app.dispatch(BoltRequest(body=body, headers=headers))
    return resp.status, (json.loads(resp.body) if resp.body else {})


def command(app: App, text: str, *, channel: str = "C0GENERAL", user: str = "U0IC", name: str = "/incident") -> str:
    """Run the slash command ``name`` with ``text`` and return the ephemeral reply."""
    status, reply = send(app, urlencode({"command": name, "text": text, "channel_id": channel,
                                          "user_id": user, "trigger_id": uuid.uuid4().hex, "team_id": "T0"}))
    assert status == 200
    return str(reply.get("text", ""))


def click(app: App, action_id: str, incident_id: int, *, channel: str, user: str = "U0IC",
          value: dict[str, Any] | None = None) -> None:
    """Click a button (a war-room one by default: its value names the incident)."""
    payload = {"type": "block_actions", "user": {"id": user}, "channel": {"id": channel}, "team": {"id": "T0"},
               "trigger_id": uuid.uuid4().hex, "container": {"channel_id": channel},
               "actions": [{"action_id": action_id, "value": json.dumps(value or {"i": incident_id}),
                            "action_ts": str(time.time()), "type": "button", "block_id": f"incident:{incident_id}"}]}
    status, _ = send(app, urlencode({"payload": json.dumps(payload)}))
    assert status == 200


