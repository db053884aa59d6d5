"""The incident workflow against a real database: what is stored and what is queued for Slack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from bot.errors import InvalidTransition, NotFound, UsageError
from bot.incidents.requests import DeclareIncident
from bot.services import Services
from bot.tx import Duplicate
from storage.models import Incident, TimelineEntry
from tests.support import SlackDouble, declare, drain, make_services, queued, status_posts, who

MIN = 60


def _row(s: Services, incident_id: int) -> Incident:
    with s.db.read() as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return row


def _texts(s: Services) -> str:
    return "\n".join(json.dumps(m.payload) for m in queued(s))


def test_declare_queues_channel_invites_topic_pinned_summary_and_announcement(database_url: str,
                                                                            tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("war_room:\n  responders:\n    P1: [U0ONCALL, U0SRE]\n")
    s = make_services(database_url, WARROOM_CONFIG=str(policy), WARROOM_INCIDENTS_CHANNEL="ops-incidents")
    iid = declare(s, "P1", "Checkout is failing", user="U0IC")
    # The channel, the pinned summary and the announcement mirror the incident: rendered when sent.
    ops = [(m.op, m.payload.get("renderer"), m.store_as) for m in queued(s)]
    assert ops == [("render", "incident_channel", f"incident:{iid}:channel"), ("invite", None, None),
                   ("topic", None, None), ("render", "incident_summary", f"incident:{iid}:summary"),
                   ("pin", None, None), ("render", "incident_announcement", f"incident:{iid}:announcement")]
    _, invite, topic, _, pin, announce = queued(s)
    assert invite.payload["users"] == ["U0IC", "U0ONCALL", "U0SRE"]
    assert invite.payload["channel"] == {"$ref": f"incident:{iid}:channel", "field": "channel"}
    assert "P1" in topic.payload["topic"] and "<@U0IC>" in topic.payload["topic"]
    assert "investigating" in topic.payload["topic"]
    assert pin.payload["ts"] == {"$ref": f"incident:{iid}:summary", "field": "ts"}
    assert announce.payload["channel"] == "ops-incidents"
    slack = SlackDouble()
    drain(s, slack)
    calls = [(op, args) for op, args in slack.calls]
    assert [op for op, _ in calls][:2] == ["create_channel", "post"]
    name = calls[0][1]["name"]
    assert name.startswith("inc-") and name.endswith("-checkout-is-failing")
    summary = next(args for op, args in calls if op == "post" and args["channel"].startswith("C0ROOM"))
    buttons = [e["text"]["text"] for b in summary["blocks"] if b["type"] == "actions" for e in b["elements"]]
    for label in ("Post update", "Log decision", "Assign role", "Resolve", "Start hotfix"):
        assert label in buttons
    # Once the channel exists the announcement links it (updated in place).
    update = [args for op, args in calls if op == "update" and args["channel"] == "ops-incidents"]
    assert update and f"<#{_row(s, iid).channel_id}>" in update[-1]["blocks"][0]["text"]["text"]
    row = _row(s, iid)
    assert (row.commander, row.status, row.severity) == ("U0IC", "investigating", "P1")
    assert (row.response_due_at - row.declared_at).total_seconds() == 7200
    s.db.engine.dispose()


def test_channel_id_reaches_the_incident_and_slack_refusals_are_not_fatal(services: Services) -> None:
    iid = declare(services)
    slack = SlackDouble(refuse={"post:incidents": "not_in_channel"})
    drain(services, slack)
    row = _row(services, iid)
    assert row.channel_id and row.channel_id.startswith("C0ROOM")
    # Everything aimed at the war room went to the created channel; only the announcement failed.
    room_ops = [op for op, args in slack.calls if args.get("channel") == row.channel_id]
    assert {"invite", "topic", "post", "pin"} <= set(room_ops)
    failed = [m for m in queued(services) if m.failed]
    assert [m.store_as for m in failed] == [f"incident:{iid}:announcement"]
    assert failed[0].last_error == "not_in_channel"
    # Commands in the war room now find the incident.
    assert services.incidents.by_channel(row.channel_id).incident.id == iid
    services.incidents.update(row.channel_id, "rolling back", who())
    drain(services, slack)
    assert any(op == "post" and "rolling back" in args["text"] for op, args in slack.calls)


def test_bad_inputs_are_answered_and_change_nothing(services: Services) -> None:
    with pytest.raises(UsageError, match="Unknown severity"):
        DeclareIncident.build("P9", "db down")
    with pytest.raises(UsageError, match="title"):
        DeclareIncident.build("P1", "")
    iid = declare(services)
    before, version = len(queued(services)), _row(services, iid).row_version
    with pytest.raises(UsageError, match="This channel is not a war room.*`/incident declare"):
        services.incidents.update("C0GENERAL", "all good", who())
    with pytest.raises(UsageError, match="Nothing to record"):
        services.incidents.update(iid, "   ", who())
    with pytest.raises(NotFound):
        services.incidents.decision(999, "x", who())
    services.incidents.resolve(iid, who(), "fixed")
    after, version = len(queued(services)), _row(services, iid).row_version
    with pytest.raises(InvalidTransition, match="is resolved; it cannot be resolved again"):
        services.incidents.resolve(iid, who(), "again")
    with pytest.raises(InvalidTransition):
        services.incidents.update(iid, "late", who())
    assert len(queued(services)) == after and _row(services, iid).row_version == version
    assert before < after


def test_repeated_request_is_a_no_op(services: Services) -> None:
    iid = declare(services)
    origin = who()
    services.incidents.decision(iid, "fail over", origin)
    with pytest.raises(Duplicate):
        services.incidents.decision(iid, "fail over", origin)
    assert len(services.incidents.get(iid).of_kind("decision")) == 1


def test_user_text_cannot_ping_or_forge_links(services: Services) -> None:
    iid = declare(services, title="<!channel> db <https://evil.example|status page>")
    services.incidents.update(iid, "<!here> see <https://evil.example|runbook>", who())
    services.incidents.decision(iid, "<!everyone> & <@U0SOMEONE>", who())
    services.clock.advance(16 * MIN)
    services.incidents.run_due()
    services.incidents.resolve(iid, who(), "<!channel> done")
    slack = SlackDouble()
    drain(services, slack)
    # Header blocks are plain_text, which Slack never parses for mentions or links; all else is mrkdwn.
    payloads = [{**args, "blocks": [b for b in args.get("blocks") or [] if b["type"] != "header"]}
                for op, args in slack.calls if op in ("post", "update", "topic", "dm")]
    text = "\n".join(json.dumps(p) for p in payloads)
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<https://evil", "<@U0SOMEONE>"):
        assert raw not in text
    assert "&lt;!channel&gt;" in text


def test_human_update_pushes_the_next_automatic_one_back(services: Services) -> None:
    iid = declare(services)
    services.clock.advance(10 * MIN)
    services.incidents.update(iid, "investigating the primary", who())
    services.clock.advance(6 * MIN)  # 16 min after the declare: the original due time has passed
    assert services.incidents.run_due() == 0 and status_posts(services, iid) == []
    services.clock.advance(10 * MIN)  # a full interval after the human update
    services.incidents.run_due()
    [post] = status_posts(services, iid)
    assert "investigating the primary" in post.payload["text"]  # the last human update is shown
    assert "<@U0IC> no human update" in post.payload["text"]


def test_pings_commander_after_one_missed_interval_and_comms_after_two(services: Services) -> None:
    iid = declare(services)
    services.incidents.assign_role(iid, "comms", "U0COMMS", who())
    services.clock.advance(15 * MIN + 2)
    services.incidents.run_due()
    services.clock.advance(15 * MIN + 2)
    services.incidents.decision(iid, "page the DBA", who("U0DBA"))
    services.incidents.run_due()
    first, second = (p.payload["text"] for p in status_posts(services, iid))
    assert "<@U0IC> no human update" in first and "<@U0COMMS>" not in first
    assert "<@U0IC>" in second and "<@U0COMMS>" in second and "2 automatic updates in a row" in second
    assert "page the DBA" in second and "page the DBA" not in first
    assert _row(services, iid).missed_updates == 2
    services.incidents.update(iid, "found it", who())
    assert _row(services, iid).missed_updates == 0


def test_missed_updates_are_coalesced_into_one(services: Services) -> None:
    iid = declare(services)
    services.clock.advance(3 * 15 * MIN + 30)
    assert services.incidents.run_due() == 1
    assert services.incidents.run_due() == 0
    assert len(status_posts(services, iid)) == 1
    row = _row(services, iid)
    assert (row.next_status_at - row.last_status_at).total_seconds() == 15 * MIN


def test_resolve_stops_updates_at_once_even_one_already_due(services: Services) -> None:
    iid = declare(services)
    services.clock.advance(15 * MIN + 2)
    services.incidents.run_due()  # queued, not yet sent
    services.clock.advance(15 * MIN + 2)  # the next one is due too
    view = services.incidents.resolve(iid, who(), "replica promoted")
    assert services.incidents.run_due() == 0
    [pending] = status_posts(services, iid)
    assert pending.failed and "cancelled" in (pending.last_error or "")
    row = view.incident
    assert row.next_status_at is None and row.resolved_at is not None
    assert row.postmortem_due_at is not None
    assert (row.postmortem_due_at - row.resolved_at).total_seconds() == 172800
    posts = [m.payload for m in queued(services, "post")]
    assert any("Post-mortem draft" in p["text"] for p in posts)
    draft = next(p for p in posts if "Post-mortem draft" in p["text"])
    draft_text = "\n".join(b["text"]["text"] for b in draft["blocks"])
    for heading in ("*Summary*", "*Impact*", "*Timeline*", "*Decisions*", "*Root cause*", "*Action items*"):
        assert heading in draft_text
    assert "replica promoted" in draft_text
    assert queued(services, "upload")  # the timeline file


def test_response_deadline_reminders_until_mitigated(services: Services) -> None:
    iid = declare(services, "P1")
    other = declare(services, "P1", "cache cold")
    services.incidents.mitigate(other, who(), "traffic shifted")
    services.clock.advance(90 * MIN + 2)
    services.incidents.run_due()
    services.clock.advance(30 * MIN + 2)
    services.incidents.run_due()
    services.clock.advance(120 * MIN)
    services.incidents.run_due()
    reminders = [m.payload["text"] for m in queued(services, "post") if "response deadline" in m.payload["text"]]
    assert len(reminders) == 2
    assert "response deadline is" in reminders[0] and "(in 29m)" in reminders[0]
    assert "passed" in reminders[1] and "without a mitigation" in reminders[1]
    assert all(m.payload["channel"]["$ref"] == f"incident:{iid}:channel" for m in queued(services, "post")
               if "response deadline" in m.payload["text"])
    assert _row(services, iid).response_reminder_at is None


def test_postmortem_reminder_chain_until_done(services: Services) -> None:
    iid = declare(services)
    services.incidents.resolve(iid, who(), "fixed")
    steps = [(24 * 3600, "(in 23h 59m)"), (20 * 3600, "(in 3h 59m)"), (4 * 3600, "is due now"),
             (24 * 3600, "overdue by 1d 0h"), (24 * 3600, "overdue by 2d 0h")]
    services.clock.advance(2)
    for seconds, expected in steps:
        services.clock.advance(seconds)
        assert services.incidents.run_due() == 1, expected
        assert services.incidents.run_due() == 0
        last = queued(services, "post")[-1].payload["text"]
        assert expected in last and "<@U0IC>" in last
    services.incidents.postmortem_done(iid, who(), "https://docs.example/pm/1")
    services.clock.advance(5 * 24 * 3600)
    assert services.incidents.run_due() == 0
    row = _row(services, iid)
    assert (row.status, row.postmortem_link, row.postmortem_reminder_at) == (
        "closed", "https://docs.example/pm/1", None)


def test_roles_dm_duties_and_commander_changes_topic(services: Services) -> None:
    iid = declare(services)
    services.incidents.assign_role(iid, "commander", "U0NEWIC", who())
    services.incidents.assign_role(iid, "scribe", "U0SCRIBE", who())
    dms = {m.payload["user"]: m.payload["text"] for m in queued(services, "dm")}
    assert "incident commander" in dms["U0NEWIC"] and "scribe" in dms["U0SCRIBE"]
    assert "<@U0NEWIC>" in queued(services, "topic")[-1].payload["topic"]
    assert _row(services, iid).commander == "U0NEWIC"
    with pytest.raises(UsageError, match="already"):
        services.incidents.assign_role(iid, "scribe", "U0SCRIBE", who())
    roles = [e.detail for e in services.incidents.get(iid).of_kind("role")]
    assert roles[0] == {"role": "commander", "user": "U0NEWIC", "previous": "U0IC"}


def test_decisions_followups_timeline_and_export(services: Services) -> None:
    iid = declare(services)
    services.incidents.decision(iid, "fail over to eu-west", who("U0DBA"))
    services.incidents.followup(iid, "add a replica lag alert", who())
    fid = services.incidents.get(iid).open_followups[0].id
    services.incidents.close_followup(iid, fid or 0, who())
    view = services.incidents.get(iid)
    decision = view.of_kind("decision")[0]
    assert (decision.actor, decision.text) == ("U0DBA", "fail over to eu-west")
    assert view.open_followups == []
    services.incidents.export(iid, who())
    [upload] = queued(services, "upload")
    assert upload.payload["filename"] == f"incident-{iid}-timeline.md"
    assert "Decision by @U0DBA: fail over to eu-west" in upload.payload["content"]
    assert upload.payload["channel"] == {"$ref": f"incident:{iid}:channel", "field": "channel"}
    with services.db.read() as session:
        kinds = [e.kind for e in session.exec(select(TimelineEntry).where(TimelineEntry.incident_id == iid))]
    assert kinds == ["declared", "decision", "followup"]
