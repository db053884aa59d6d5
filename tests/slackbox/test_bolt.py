"""A real slack_bolt App served over HTTP accepts the actor's signed requests and parses its payloads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_bolt import App
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from slackbox import APPROVER_1, RELEASES_CHANNEL, REQUESTER, RunningWorkspace, Workspace, serve_in_thread
from tests.slackbox.conftest import SECRET

MODAL = {
    "type": "modal",
    "callback_id": "start_release",
    "private_metadata": "r-1",
    "title": {"type": "plain_text", "text": "Start release"},
    "submit": {"type": "plain_text", "text": "Start"},
    "blocks": [
        {
            "type": "input",
            "block_id": "version",
            "label": {"type": "plain_text", "text": "Version"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "risk",
            "label": {"type": "plain_text", "text": "Risk"},
            "element": {
                "type": "static_select",
                "action_id": "level",
                "options": [
                    {"text": {"type": "plain_text", "text": "Low"}, "value": "low"},
                    {"text": {"type": "plain_text", "text": "High"}, "value": "high"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "approver",
            "label": {"type": "plain_text", "text": "Approver"},
            "element": {"type": "users_select", "action_id": "user"},
        },
        {
            "type": "input",
            "block_id": "date",
            "optional": True,
            "label": {"type": "plain_text", "text": "When"},
            "element": {"type": "datepicker", "action_id": "day"},
        },
        {
            "type": "input",
            "block_id": "checks",
            "label": {"type": "plain_text", "text": "Checks"},
            "element": {
                "type": "checkboxes",
                "action_id": "done",
                "options": [
                    {"text": {"type": "plain_text", "text": "Tests green"}, "value": "tests"},
                    {"text": {"type": "plain_text", "text": "Rollback ready"}, "value": "rollback"},
                ],
            },
        },
    ],
}


def make_bolt_app(api_url: str, seen: dict[str, Any]) -> App:
    """A tiny Bolt app: /ping, /start (opens MODAL), an approve button and the modal's submission."""
    app = App(
        token="xoxb-test",
        signing_secret=SECRET,
        token_verification_enabled=False,
        client=WebClient(token="xoxb-test", base_url=api_url),
    )

    @app.command("/ping")
    def ping(ack, command, say) -> None:  # noqa: ANN001
        ack(text=f"pong {command['text']}")
        seen["command"] = command
        say(
            text="pong in channel",
            blocks=[
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "approve",
                            "value": "release-1",
                            "text": {"type": "plain_text", "text": "Approve"},
                        }
                    ],
                }
            ],
        )

    @app.command("/start")
    def start(ack, body, client) -> None:  # noqa: ANN001
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.action("approve")
    def approve(ack, body, respond) -> None:  # noqa: ANN001
        ack()
        seen["action"] = body
        respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")

    @app.view("start_release")
    def submitted(ack, view, body, client) -> None:  # noqa: ANN001
        values = view["state"]["values"]
        version = values["version"]["value"]["value"]
        if not version.startswith("v"):
            ack(response_action="errors", errors={"version": "Use a version like v1.2.3"})
            return
        ack()
        seen["view"] = view
        client.chat_postMessage(channel=RELEASES_CHANNEL, text=f"{body['user']['id']} started {version}")

    return app


@pytest.fixture
def bolt(running: RunningWorkspace) -> Iterator[dict[str, Any]]:
    """Serve the Bolt app on /slack/events and point the workspace at it; yields what the listeners saw."""
    seen: dict[str, Any] = {}
    handler = SlackRequestHandler(make_bolt_app(running.api_url, seen))

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    handle = serve_in_thread(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]))
    running.workspace.bot_events_url = f"{handle.url}/slack/events"
    try:
        yield seen
    finally:
        handle.stop()


def test_slash_command_is_verified_and_answered(bolt: dict[str, Any], ws: Workspace) -> None:
    response = ws.command(REQUESTER, "#releases", "/ping", "hello")
    assert response.status_code == 200
    assert bolt["command"]["user_id"] == REQUESTER and bolt["command"]["channel_name"] == "releases"
    assert [m["text"] for m in ws.ephemerals(REQUESTER, "releases")] == ["pong hello"]
    posted = ws.wait_for(lambda: [m for m in ws.messages("releases") if m["text"] == "pong in channel"])
    assert posted[0]["bot_id"] == "B0WARROOM"


def test_button_click_reaches_bolt_and_respond_replaces_the_message(
    bolt: dict[str, Any], ws: Workspace
) -> None:
    ws.command(REQUESTER, "#releases", "/ping")
    [msg] = ws.wait_for(lambda: ws.messages("releases"))
    assert ws.click(APPROVER_1, "releases", msg["ts"], "approve").status_code == 200
    body = bolt["action"]
    assert body["actions"][0]["value"] == "release-1" and body["user"]["id"] == APPROVER_1
    assert body["container"]["message_ts"] == msg["ts"] and body["message"]["blocks"][0]["type"] == "actions"
    ws.wait_for(
        lambda: ws.store.message(RELEASES_CHANNEL, msg["ts"])["text"] == f"Approved by <@{APPROVER_1}>",
        what="respond(replace_original=True) to edit the message",
    )


def test_modal_opens_validates_and_submits(bolt: dict[str, Any], ws: Workspace) -> None:
    ws.command(REQUESTER, "releases", "/start")
    [view] = ws.wait_for(lambda: ws.open_views(REQUESTER), what="views.open")
    answer = {"value": "1.0", "level": "high", "user": APPROVER_1, "done": ["tests", "rollback"]}
    ws.submit_view(REQUESTER, view["id"], answer)
    [still_open] = ws.open_views(REQUESTER)
    assert still_open["errors"] == {"version": "Use a version like v1.2.3"}

    ws.submit_view(REQUESTER, view["id"], {**answer, "value": "v1.0.0", "day": "2030-01-31"})
    assert ws.open_views(REQUESTER) == []
    state = bolt["view"]["state"]["values"]
    assert state["risk"]["level"]["selected_option"]["value"] == "high"
    assert state["approver"]["user"] == {"type": "users_select", "selected_user": APPROVER_1}
    assert state["date"]["day"]["selected_date"] == "2030-01-31"
    assert [o["value"] for o in state["checks"]["done"]["selected_options"]] == ["tests", "rollback"]
    assert bolt["view"]["private_metadata"] == "r-1"
    ws.wait_for(lambda: [m for m in ws.messages("releases") if m["text"] == f"{REQUESTER} started v1.0.0"])


def test_wrong_secret_or_stale_timestamp_gets_401(bolt: dict[str, Any], ws: Workspace) -> None:
    ws.signing_secret = "not-the-secret"
    response = ws.command(REQUESTER, "#releases", "/ping")
    assert response.status_code == 401 and "command" not in bolt
    assert ws.ephemerals(REQUESTER)[-1]["text"] == '/ping failed with the error "dispatch_failed"'

    ws.signing_secret = SECRET
    body = "command=%2Fping&text="
    stale = httpx.post(
        ws.bot_events_url,
        content=body,
        trust_env=False,
        headers=ws.signed_headers(body, timestamp=int(time.time()) - 600),
    )
    assert stale.status_code == 401
