"""Incident war rooms end to end: signed Slack requests over HTTP to the running bot, whose
Web API calls land in the local workspace; time moves with the shared clock."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Stack

INC = "C0INCIDENTS"
IC, ONCALL, DEV = "U0REQUEST", "U0ONCALL", "U0APPROVE1"
INTERVAL = 900


def incident(stack: Stack, number: int = 1) -> dict[str, Any]:
    """The incident as the API shows it, once its war-room channel exists."""
    def ready() -> dict[str, Any] | None:
        resp = stack.api(f"/api/incidents/{number}")
        return resp.json() if resp.status_code == 200 and resp.json()["channel_id"] else None
    return stack.ws.wait_for(ready, timeout=10, what=f"incident {number}'s war room")


def summary(stack: Stack, room: str) -> dict[str, Any] | None:
    """The pinned summary in the war room."""
    return next((m for m in stack.bot_messages(room) if m.get("pinned")), None)


def declare(stack: Stack, text: str = "P1 db down", number: int = 1) -> tuple[dict[str, Any], str]:
    """Run `/incident declare` in the incidents channel; return the incident and its room."""
    resp = stack.ws.command(IC, INC, "/incident", f"declare {text}")
    assert resp.status_code == 200 and "declared" in resp.json()["text"], resp.text
    found = incident(stack, number)
    stack.ws.wait_for(lambda: summary(stack, found["channel_id"]), timeout=10, what="the pinned summary")
    return found, found["channel_id"]


def reply(stack: Stack, channel: str, text: str, user: str = IC) -> str:
    """Run `/incident <text>` and return the ephemeral answer."""
    resp = stack.ws.command(user, channel, "/incident", text)
    assert resp.status_code == 200, resp.text
    assert resp.json().get("response_type", "ephemeral") == "ephemeral"
    return str(resp.json().get("text", ""))


def texts(stack: Stack, room: str) -> list[str]:
    """The text of every bot message in ``room``."""
    return [m["text"] for m in stack.bot_messages(room)]


def status_updates(stack: Stack, room: str) -> list[str]:
    """The automatic status updates in ``room``."""
    return [t for t in texts(stack, room) if "*Status update:" in t]


def seen(stack: Stack, room: str, needle: str) -> Callable[[], bool]:
    """A predicate: some bot message in ``room`` contains ``needle``."""
    return lambda: any(needle in t for t in texts(stack, room))


def quiet(stack: Stack) -> None:
    """Let a few scheduler ticks pass and the outbox drain."""
    time.sleep(1.0)
    stack.settle()


def test_declare_opens_a_war_room(make_stack: Callable[..., Stack], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(f"war_room:\n  responders:\n    P1: [{ONCALL}]\n")
    stack = make_stack(WARROOM_CONFIG=str(policy))
    found, room = declare(stack, "P1 checkout is failing")
    channel = stack.ws.channel_by_name(found["channel_name"])
    assert channel and channel["id"] == room and channel["name"].startswith("inc-")
    assert channel["name"].endswith("-checkout-is-failing")
    stack.settle()
    channel = stack.ws.channel_by_name(found["channel_name"])
    assert {IC, ONCALL} <= set(channel["members"])
    assert "P1" in channel["topic"] and IC in channel["topic"] and "investigating" in channel["topic"]
    pinned = summary(stack, room)
    actions = {e["action_id"] for b in pinned["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert {"incident_update", "incident_decision", "incident_role", "incident_resolve", "incident_hotfix"} <= actions
    assert "Response deadline" in json.dumps(pinned["blocks"])
    # The announcement in the incidents channel links the war room.
    stack.ws.wait_for(lambda: any(f"<#{room}>" in json.dumps(m["blocks"]) for m in stack.bot_messages(INC)),
                      what="the announcement linking the war room")
    # The same title on the same day: Slack answers name_taken and the bot takes a suffix.
    second, _ = declare(stack, "P1 checkout is failing", number=2)
    assert second["channel_name"] == f"{found['channel_name']}-2"


def test_declare_form(stack: Stack) -> None:
    resp = stack.ws.command(IC, INC, "/incident", "")
    assert resp.status_code == 200
    view = stack.ws.wait_for(lambda: stack.ws.open_views(IC), what="the declare form")[-1]
    stack.ws.submit_view(IC, view["id"], {"severity": "P2", "title": "search is slow"})
    found = incident(stack)
    assert (found["severity"], found["title"], found["commander"]) == ("P2", "search is slow", IC)


def test_human_update_pushes_the_cadence_and_missed_ones_ping(stack: Stack) -> None:
    found, room = declare(stack)
    stack.clock.advance(600)
    assert "Update posted" in reply(stack, room, "update failing over to the replica")
    stack.ws.wait_for(seen(stack, room, "failing over"), what="the human update")
    stack.clock.advance(INTERVAL - 300)  # the first due time has passed; the pushed one has not
    quiet(stack)
    assert status_updates(stack, room) == []
    stack.clock.advance(400)
    first = stack.ws.wait_for(lambda: status_updates(stack, room), timeout=10, what="a status update")
    assert "failing over" in first[0] and f"<@{IC}> no human update" in first[0]
    assert "Next update due" in first[0] and "Elapsed" in first[0]
    assert "is now the comms" in reply(stack, room, f"role comms <@{ONCALL}|oscar>")
    reply(stack, room, "decision roll back the deploy")
    stack.clock.advance(3 * INTERVAL)  # down for three intervals' worth: one catch-up update, not three
    second = stack.ws.wait_for(lambda: status_updates(stack, room)[1:], timeout=10, what="the second update")
    quiet(stack)
    assert len(status_updates(stack, room)) == 2
    assert f"<@{ONCALL}>" in second[0] and f"<@{IC}>" in second[0] and "roll back the deploy" in second[0]


def test_status_updates_arrive_on_a_short_interval(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(WARROOM_STATUS_INTERVAL="2")
    _, room = declare(stack)
    stack.ws.wait_for(lambda: len(status_updates(stack, room)) >= 2, timeout=10, what="two status updates")
    reply(stack, room, "resolve fixed")
    quiet(stack)
    count = len(status_updates(stack, room))
    time.sleep(3)
    assert len(status_updates(stack, room)) == count


def test_restart_posts_one_catch_up_update(stack: Stack) -> None:
    _, room = declare(stack)
    stack.settle()
    stack.stop_bot()
    stack.clock.advance(3 * INTERVAL + 5)
    stack.start_bot()
    stack.ws.wait_for(lambda: status_updates(stack, room), timeout=10, what="the catch-up update")
    quiet(stack)
    assert len(status_updates(stack, room)) == 1


def test_resolve_stops_updates_and_the_postmortem_chain_runs(stack: Stack) -> None:
    found, room = declare(stack)
    stack.clock.advance(INTERVAL + 1)
    stack.ws.wait_for(lambda: status_updates(stack, room), timeout=10, what="a status update")
    stack.clock.advance(INTERVAL + 1)  # the next one falls due: the resolve must still stop it
    stack.ws.click(IC, room, summary(stack, room)["ts"], "incident_resolve")
    stack.ws.wait_for(seen(stack, room, "Post-mortem draft"), what="the post-mortem draft")
    assert "cannot be resolved again" in reply(stack, room, "resolve")
    stack.clock.advance(3 * INTERVAL)
    quiet(stack)
    assert len(status_updates(stack, room)) <= 2  # at most the one already claimed before the click
    draft = next(m for m in stack.bot_messages(room) if "Post-mortem draft" in m["text"])
    for heading in ("Summary", "Impact", "Timeline", "Decisions", "Root cause", "Action items"):
        assert f"*{heading}*" in json.dumps(draft["blocks"])
    api = stack.api(f"/api/incidents/{found['id']}").json()
    assert api["status"] == "resolved" and api["resolved_at"] and api["postmortem_due_at"]
    md = stack.api(f"/api/incidents/{found['id']}/timeline.md")
    assert md.headers["content-type"].startswith("text/markdown") and md.text.startswith("---\n")
    assert stack.ws.calls("files.completeUploadExternal")  # the timeline was shared as a file
    # 24 h and 4 h before the due time, at it, then daily while overdue (times relative to the resolve).
    for seconds, expected in [(86400, "(in 23h"), (72000, "(in 3h"), (14400, "is due now"), (86400, "overdue by")]:
        stack.clock.advance(seconds + 1)
        stack.ws.wait_for(seen(stack, room, expected), timeout=10, what=expected)
    reminder = [m for m in stack.bot_messages(room) if "overdue by" in m["text"]][-1]
    stack.ws.click(IC, room, reminder["ts"], "incident_postmortem_done")
    stack.ws.wait_for(seen(stack, room, "Post-mortem marked done"), what="post-mortem done")
    count = len(stack.bot_messages(room))
    stack.clock.advance(3 * 86400)
    quiet(stack)
    assert len(stack.bot_messages(room)) == count
    assert stack.api(f"/api/incidents/{found['id']}").json()["status"] == "closed"


def test_buttons_open_forms_for_roles_and_hotfixes(stack: Stack) -> None:
    found, room = declare(stack, "P0 payments down")
    stack.ws.click(IC, room, summary(stack, room)["ts"], "incident_role")
    view = stack.ws.wait_for(lambda: stack.ws.open_views(IC), what="the role form")[-1]
    stack.ws.submit_view(IC, view["id"], {"role": "comms", "user": ONCALL})
    stack.ws.wait_for(lambda: stack.api(f"/api/incidents/{found['id']}").json()["comms"] == ONCALL, what="comms")
    stack.ws.wait_for(lambda: any(c["args"].get("users") == ONCALL for c in stack.ws.calls("conversations.open")),
                      what="the duties DM")
    stack.ws.click(IC, room, summary(stack, room)["ts"], "incident_hotfix")
    view = stack.ws.wait_for(lambda: [v for v in stack.ws.open_views(IC) if "Hotfix" in json.dumps(v)],
                             what="the hotfix form")[-1]
    stack.ws.submit_view(IC, view["id"], {"version": "v2.4.1"})
    rel = stack.api("/api/releases/v2.4.1").json()
    assert (rel["type"], rel["severity"], rel["incident_id"], rel["stage"]) == ("hotfix", "P0", found["id"], "staging")
    assert rel["channel_id"] == room
    assert stack.api(f"/api/incidents/{found['id']}").json()["hotfixes"] == ["v2.4.1"]


def test_bad_inputs_are_answered_ephemerally_and_user_text_is_escaped(stack: Stack) -> None:
    assert "Unknown severity `P9`" in reply(stack, INC, "declare P9 db down")
    assert "Give the incident a title" in reply(stack, INC, "declare P1")
    outside = reply(stack, INC, "update all fine")
    assert "not a war room" in outside and "/incident declare" in outside
    assert stack.api("/api/incidents").json()["incidents"] == []
    _, room = declare(stack, "P2 <!channel> search <https://evil.example|down>")
    reply(stack, room, "update <!here> look at <https://evil.example|this>")
    reply(stack, room, "decision <!everyone> roll back")
    stack.ws.wait_for(seen(stack, room, "roll back"), what="the decision")
    stack.settle()
    shown = [{"text": m["text"], "blocks": [b for b in m.get("blocks") or [] if b["type"] != "header"]}
             for c in (room, INC) for m in stack.bot_messages(c)]
    everything = json.dumps(shown)
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<https://evil.example"):
        assert raw not in everything
    assert "&lt;!channel&gt;" in everything


def test_team_templates_override_the_shipped_ones(make_stack: Callable[..., Stack], tmp_path: Path) -> None:
    (tmp_path / "status_update.md.j2").write_text("Our own format: incident #{{ id }} is {{ status }}\n")
    stack = make_stack(WARROOM_TEMPLATES=str(tmp_path))
    _, room = declare(stack)
    stack.clock.advance(INTERVAL + 1)
    assert stack.runtime is not None
    stack.runtime.due.run_once()
    stack.ws.wait_for(seen(stack, room, "Our own format: incident #1 is"), what="the team's status template")


def test_hotfix_started_by_command_shows_on_the_summary(stack: Stack) -> None:
    found, room = declare(stack, "P1 search is slow")
    resp = stack.ws.command(IC, INC, "/release", f"start v9.9.1 type=hotfix incident={found['id']}")
    assert "started" in resp.json()["text"]
    assert stack.api("/api/releases/v9.9.1").json()["stage"] == "staging"  # P1: straight to production approval
    stack.ws.wait_for(lambda: "v9.9.1" in json.dumps(summary(stack, room)["blocks"]),
                      what="the hotfix on the pinned summary")
