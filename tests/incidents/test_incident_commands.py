"""`/incident` and the war-room buttons through Bolt, with signed requests as Slack sends them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk.web import SlackResponse, WebClient

from bot.app import build_bolt
from bot.services import Services
from tests.incidents.conftest import SlackDouble, drain, queued


def _send(app: App, body: str) -> tuple[int, dict[str, Any]]:
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(b"s", f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": ts, "x-slack-signature": sig,
               "content-type": "application/x-www-form-urlencoded"}
    resp = app.dispatch(BoltRequest(body=body, headers=headers))
    return resp.status, (json.loads(resp.body) if resp.body else {})


def command(app: App, text: str, *, channel: str = "C0GENERAL", user: str = "U0IC") -> str:
    """Run `/incident <text>` and return the ephemeral reply."""
    status, reply = _send(app, urlencode({"command": "/incident", "text": text, "channel_id": channel,
                                          "user_id": user, "trigger_id": uuid.uuid4().hex, "team_id": "T0"}))
    assert status == 200
    return str(reply.get("text", ""))


def click(app: App, action_id: str, incident_id: int, *, channel: str, user: str = "U0IC") -> None:
    """Click a war-room button."""
    payload = {"type": "block_actions", "user": {"id": user}, "channel": {"id": channel}, "team": {"id": "T0"},
               "trigger_id": uuid.uuid4().hex, "container": {"channel_id": channel},
               "actions": [{"action_id": action_id, "value": json.dumps({"i": incident_id}),
                            "action_ts": str(time.time()), "type": "button", "block_id": f"incident:{incident_id}"}]}
    status, _ = _send(app, urlencode({"payload": json.dumps(payload)}))
    assert status == 200


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> App:
    # Bolt checks its token once (auth.test); answer as Slack would, so no network is needed.
    data = {"ok": True, "team_id": "T0", "user_id": "U0WARROOM", "bot_id": "B0WARROOM", "url": "https://x/"}
    monkeypatch.setattr(WebClient, "auth_test", lambda self, **_: SlackResponse(
        client=self, http_verb="POST", api_url="auth.test", req_args={}, data=data, headers={}, status_code=200))
    return build_bolt(services)


def _war_room(services: Services, app: App, text: str = "P1 db down") -> tuple[int, str]:
    reply = command(app, f"declare {text}")
    assert "declared" in reply
    drain(services, SlackDouble())
    view = services.incidents.list(1)[0]
    assert view.incident.channel_id
    return view.incident.id or 0, view.incident.channel_id


def test_bad_inputs_get_clear_ephemeral_answers(services: Services, app: App) -> None:
    assert "Unknown severity `P9`" in command(app, "declare P9 db down")
    assert "Give the incident a title" in command(app, "declare P1")
    reply = command(app, "update the database is back")
    assert "This channel is not a war room" in reply and "/incident declare" in reply
    assert "Unknown subcommand" in command(app, "explode")
    assert queued(services) == []  # nothing was stored or sent


def test_war_room_commands(services: Services, app: App) -> None:
    iid, room = _war_room(services, app, "p1 payments <!channel> failing")
    assert "Update posted" in command(app, 'update "primary" is <!here> down', channel=room)
    assert any('"primary" is &lt;!here&gt; down' in m.payload["text"] for m in queued(services, "post"))
    assert "Decision logged" in command(app, "decision fail over", channel=room)
    assert "is now the comms" in command(app, "role comms <@U0COMMS|casey>", channel=room)
    assert "is now the scribe" in command(app, "role scribe <@U0SCRIBE>", channel=room)
    assert "Mention the person" in command(app, "role scribe casey", channel=room)
    assert "Follow-up recorded" in command(app, "followup add an alert", channel=room)
    status = command(app, "status", channel=room)
    assert f"#{iid}" in status and "&lt;!channel&gt;" in status and "add an alert" in status
    assert "fail over" in command(app, "timeline", channel=room)
    assert "mitigated" in command(app, "mitigated traffic shifted", channel=room)
    assert "resolved" in command(app, "resolve replica promoted", channel=room)
    assert "cannot be resolved again" in command(app, "resolve", channel=room)
    assert "updates have stopped" in command(app, "update still here?", channel=room).lower()
    assert "marked done" in command(app, "postmortem done <https://docs.example/pm|pm>", channel=room)
    assert services.incidents.get(iid).incident.postmortem_link == "https://docs.example/pm"
    assert f"#{iid}" in command(app, "list")
    assert "/incident declare" in command(app, "help")


def test_buttons_resolve_and_mark_the_postmortem_done(services: Services, app: App) -> None:
    iid, room = _war_room(services, app)
    click(app, "incident_mitigated", iid, channel=room)
    click(app, "incident_resolve", iid, channel=room)
    click(app, "incident_resolve", iid, channel=room)  # a second click is answered, not applied
    assert services.incidents.get(iid).incident.status == "resolved"
    warning = [m.payload for m in queued(services, "ephemeral")]
    assert any("cannot be resolved again" in p["text"] for p in warning)
    click(app, "incident_postmortem_done", iid, channel=room)
    assert services.incidents.get(iid).incident.status == "closed"
    click(app, "incident_update", iid, channel=room)
    assert queued(services, "open_view")[-1].payload["view"]["callback_id"] == "incident_update"
