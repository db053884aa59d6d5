"""`/incident` and the war-room buttons through Bolt, with signed requests as Slack sends them."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services
from tests.handlers.signed import click, command
from tests.support import SlackDouble, drain, queued


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
