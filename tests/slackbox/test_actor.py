"""The actor's payloads and how it applies the bot's answers, against a scripted fake bot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse, PlainTextResponse, Response

from slackbox import (
    APPROVER_1,
    BOT_ID,
    BOT_USER_ID,
    RELEASES_CHANNEL,
    REQUESTER,
    VIEWER,
    RunningWorkspace,
    SandboxError,
    SandboxStore,
    Workspace,
    start_workspace,
)
from slackbox.payloads import state_values
from tests.slackbox.conftest import FakeBot

BUTTONS = [
    {
        "type": "actions",
        "block_id": "gate",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "value": "r1",
                "text": {"type": "plain_text", "text": "Approve"},
                "confirm": {
                    "title": {"type": "plain_text", "text": "Sure?"},
                    "text": {"type": "plain_text", "text": "!"},
                    "confirm": {"type": "plain_text", "text": "Yes"},
                    "deny": {"type": "plain_text", "text": "No"},
                },
            },
            {
                "type": "button",
                "action_id": "approve",
                "value": "r2",
                "text": {"type": "plain_text", "text": "Approve 2"},
            },
        ],
    }
]


def modal(callback_id: str = "form", notify_on_close: bool = False) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "notify_on_close": notify_on_close,
        "title": {"type": "plain_text", "text": callback_id},
        "submit": {"type": "plain_text", "text": "OK"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why"},
                "element": {"type": "plain_text_input", "action_id": "text", "initial_value": "ok"},
            }
        ],
    }


def bot_message(ws: Workspace, **extra: Any) -> dict[str, Any]:
    return ws.store.post_message(
        RELEASES_CHANNEL, user=BOT_USER_ID, bot_id=BOT_ID, text="gate", blocks=BUTTONS, **extra
    )


def open_modal(ws: Workspace, user: str = REQUESTER, **kw: Any) -> dict[str, Any]:
    return ws.store.create_view(user, modal(**kw))


def test_slash_command_form_and_json_answer_in_channel(fake_bot: FakeBot, ws: Workspace) -> None:
    fake_bot.reply = lambda kind, data: JSONResponse(
        {"response_type": "in_channel", "text": "Release started"}
    )
    assert ws.command(REQUESTER, "#releases", "/release", "start v1.0.0").status_code == 200
    [request] = fake_bot.payloads("command")
    form = request["data"]
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert {k: form[k] for k in ("command", "text", "user_id", "user_name", "channel_id", "team_id")} == {
        "command": "/release",
        "text": "start v1.0.0",
        "user_id": REQUESTER,
        "user_name": "riley",
        "channel_id": RELEASES_CHANNEL,
        "team_id": "T0SANDBOX",
    }
    assert form["response_url"].startswith(ws.base_url) and form["trigger_id"] and form["api_app_id"]
    assert [m["text"] for m in ws.messages("releases")] == ["Release started"]


def test_plain_text_answer_becomes_an_ephemeral(fake_bot: FakeBot, ws: Workspace) -> None:
    fake_bot.reply = lambda kind, data: PlainTextResponse("Only approvers can do that")
    ws.command(VIEWER, "releases", "/release", "approve")
    assert [m["text"] for m in ws.ephemerals(VIEWER)] == ["Only approvers can do that"]
    assert ws.messages("releases") == []


def test_response_url_replace_delete_in_channel_and_five_uses(fake_bot: FakeBot, ws: Workspace) -> None:
    msg = bot_message(ws)
    ws.click(APPROVER_1, "releases", msg["ts"], "approve", value="r2")
    url = fake_bot.payloads("block_actions")[0]["data"]["response_url"]
    assert httpx.post(url, json={"replace_original": True, "text": "approved"}).status_code == 200
    assert ws.store.message(RELEASES_CHANNEL, msg["ts"])["text"] == "approved"
    httpx.post(url, json={"text": "only you see this"})
    assert [m["text"] for m in ws.ephemerals(APPROVER_1)] == ["only you see this"]
    httpx.post(url, json={"response_type": "in_channel", "text": "everyone sees this"})
    httpx.post(url, json={"delete_original": True})
    assert ws.store.message(RELEASES_CHANNEL, msg["ts"]) is None
    assert httpx.post(url, json={"text": "fifth"}).status_code == 200
    sixth = httpx.post(url, json={"text": "sixth"})
    assert sixth.status_code == 404 and sixth.json()["error"] == "used_url"
    bad = httpx.post(url.replace("/response/", "/response/x"), json={"text": "?"})
    assert bad.status_code == 404
    assert [m["text"] for m in ws.messages("releases")] == ["everyone sees this"]


def test_click_payload_and_errors(fake_bot: FakeBot, ws: Workspace) -> None:
    msg = bot_message(ws)
    ws.click(APPROVER_1, RELEASES_CHANNEL, msg["ts"], "approve")  # first match, after the confirm dialog
    data = fake_bot.payloads("block_actions")[0]["data"]
    assert data["actions"][0] | {"action_ts": "-"} == {
        "action_id": "approve",
        "block_id": "gate",
        "value": "r1",
        "type": "button",
        "action_ts": "-",
        "text": {"type": "plain_text", "text": "Approve"},
    }
    assert data["container"] == {
        "type": "message",
        "message_ts": msg["ts"],
        "channel_id": RELEASES_CHANNEL,
        "is_ephemeral": False,
    }
    assert data["user"]["id"] == APPROVER_1 and data["message"]["ts"] == msg["ts"]
    with pytest.raises(SandboxError, match="no button reject"):
        ws.click(APPROVER_1, RELEASES_CHANNEL, msg["ts"], "reject")
    with pytest.raises(SandboxError, match="r3"):
        ws.click(APPROVER_1, RELEASES_CHANNEL, msg["ts"], "approve", value="r3")

    private = bot_message(ws, ephemeral_for=VIEWER)
    with pytest.raises(SandboxError, match="ephemeral"):
        ws.click(APPROVER_1, RELEASES_CHANNEL, private["ts"], "approve")
    ws.click(VIEWER, RELEASES_CHANNEL, private["ts"], "approve")
    eph = fake_bot.payloads("block_actions")[1]["data"]
    assert eph["container"]["is_ephemeral"] is True and "message" not in eph


def test_tick_in_a_message_sends_the_whole_selection_as_slack_does(fake_bot: FakeBot, ws: Workspace) -> None:
    def option(n: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": f"Step {n}"}, "value": n}

    def boxes(block_id: str, ticked: list[str]) -> dict[str, Any]:
        element = {"type": "checkboxes", "action_id": "tick", "options": [option("1"), option("2")]}
        return {"type": "actions", "block_id": block_id,
                "elements": [element | ({"initial_options": [option(n) for n in ticked]} if ticked else {})]}

    msg = ws.store.post_message(RELEASES_CHANNEL, user=BOT_USER_ID, bot_id=BOT_ID, text="steps",
                                blocks=[boxes("a", ["1"]), boxes("b", [])])
    ws.tick(APPROVER_1, RELEASES_CHANNEL, msg["ts"], "tick", ["2"], block_id="b")
    data = fake_bot.payloads("block_actions")[0]["data"]
    assert data["actions"][0] | {"action_ts": "-"} == {
        "type": "checkboxes", "action_id": "tick", "block_id": "b", "selected_options": [option("2")],
        "action_ts": "-"}
    assert data["state"]["values"] == {
        "a": {"tick": {"type": "checkboxes", "selected_options": [option("1")]}},
        "b": {"tick": {"type": "checkboxes", "selected_options": [option("2")]}},
    }
    # The message goes along as it stands: the tick lives in the client until the app updates it.
    assert data["message"]["blocks"][1]["elements"][0].get("initial_options") is None
    with pytest.raises(SandboxError, match="no option"):
        ws.tick(APPROVER_1, RELEASES_CHANNEL, msg["ts"], "tick", ["3"], block_id="b")
    with pytest.raises(SandboxError, match="no checkboxes"):
        ws.tick(APPROVER_1, RELEASES_CHANNEL, msg["ts"], "tick", [], block_id="c")


def test_view_submission_response_actions(fake_bot: FakeBot, ws: Workspace) -> None:
    answers: list[Response] = [
        JSONResponse({"response_action": "update", "view": modal("updated")}),
        JSONResponse({"response_action": "push", "view": modal("pushed")}),
        Response(status_code=200),  # plain ack: the pushed view closes
        JSONResponse({"response_action": "clear"}),
    ]
    fake_bot.reply = lambda kind, data: answers.pop(0)
    view = open_modal(ws)
    ws.submit_view(REQUESTER, view["id"], {"text": "because"})
    sent = fake_bot.payloads("view_submission")[0]["data"]
    assert sent["view"]["state"]["values"] == {
        "reason": {"text": {"type": "plain_text_input", "value": "because"}}
    }
    assert sent["view"]["id"] == view["id"] and sent["user"]["id"] == REQUESTER and sent["trigger_id"]
    assert [v["callback_id"] for v in ws.open_views(REQUESTER)] == ["updated"]

    ws.submit_view(REQUESTER, view["id"])  # initial_value "ok" is submitted as is
    stack = ws.open_views(REQUESTER)
    assert [v["callback_id"] for v in stack] == ["updated", "pushed"]
    with pytest.raises(SandboxError, match="not the top"):
        ws.submit_view(REQUESTER, view["id"])
    ws.submit_view(REQUESTER, stack[1]["id"])
    assert [v["callback_id"] for v in ws.open_views(REQUESTER)] == ["updated"]
    ws.submit_view(REQUESTER, view["id"])
    assert ws.open_views(REQUESTER) == []


def test_view_closed_only_when_asked(fake_bot: FakeBot, ws: Workspace) -> None:
    quiet = open_modal(ws)
    assert ws.close_view(REQUESTER, quiet["id"]) is None and fake_bot.payloads("view_closed") == []
    loud = open_modal(ws, notify_on_close=True)
    assert ws.close_view(REQUESTER, loud["id"]).status_code == 200
    [closed] = fake_bot.payloads("view_closed")
    assert closed["data"]["view"]["id"] == loud["id"] and closed["data"]["is_cleared"] is False
    assert ws.open_views(REQUESTER) == []


def test_state_values_shapes_and_required_inputs() -> None:
    def block(block_id: str, element: dict[str, Any], optional: bool = False) -> dict[str, Any]:
        return {
            "type": "input",
            "block_id": block_id,
            "optional": optional,
            "element": element,
            "label": {"type": "plain_text", "text": block_id},
        }

    option = {"text": {"type": "plain_text", "text": "Two"}, "value": "2"}
    view = {
        "blocks": [
            block("a", {"type": "plain_text_input", "action_id": "t"}),
            block("b", {"type": "static_select", "action_id": "s", "options": [option]}, optional=True),
            block("c", {"type": "multi_users_select", "action_id": "u"}, optional=True),
            block("d", {"type": "timepicker", "action_id": "time"}, optional=True),
            block("e", {"type": "checkboxes", "action_id": "c", "options": [option]}, optional=True),
        ]
    }
    values = state_values(view, {"t": "x", "s": "2", "u": [APPROVER_1], "time": "09:30"})
    assert values == {
        "a": {"t": {"type": "plain_text_input", "value": "x"}},
        "b": {"s": {"type": "static_select", "selected_option": option}},
        "c": {"u": {"type": "multi_users_select", "selected_users": [APPROVER_1]}},
        "d": {"time": {"type": "timepicker", "selected_time": "09:30"}},
        "e": {"c": {"type": "checkboxes", "selected_options": []}},
    }
    with pytest.raises(SandboxError, match="required input a.t"):
        state_values(view, {})
    with pytest.raises(SandboxError, match="no option"):
        state_values(view, {"t": "x", "s": "9"})
    with pytest.raises(SandboxError, match="no input with action_id"):
        state_values(view, {"t": "x", "nope": 1})


def test_manifest_commands_and_wait_for_message(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.yml"
    manifest.write_text("features:\n  slash_commands:\n    - command: /release\n      description: x\n")
    rw: RunningWorkspace = start_workspace(
        SandboxStore(), "http://127.0.0.1:9/slack/events", "s", manifest_path=manifest
    )
    try:
        with pytest.raises(SandboxError, match="/deploy is not a valid command"):
            rw.workspace.command(REQUESTER, "releases", "/deploy")
        with pytest.raises(AssertionError, match="timed out after 0.1s waiting for a reply"):
            rw.workspace.wait_for(lambda: rw.workspace.messages("releases"), timeout=0.1, what="a reply")
        assert httpx.get(f"{rw.url}/sandbox/health").json()["ok"] is True
    finally:
        rw.stop()


def test_clock_route_calls_the_callback() -> None:
    advanced: list[float] = []
    rw = start_workspace(SandboxStore(), "", "s", on_clock_advance=advanced.append)
    try:
        answer = httpx.post(f"{rw.url}/sandbox/clock/advance", json={"seconds": 1800})
        assert answer.status_code == 200 and advanced == [1800.0]
    finally:
        rw.stop()
