"""Every listener of the real Bolt app matches by the body alone (handlers/matching.py), and each
kind of request still finds exactly its own listener."""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt import App, BoltRequest, BoltResponse

from handlers.matching import BodyMatcher


def _matching(app: App, body: dict[str, Any]) -> list[str]:
    req, resp = BoltRequest(body=body, mode="socket_mode"), BoltResponse(status=200)
    return [listener.ack_function.__name__ for listener in app._listeners
            if all(m.matches(req, resp) for m in listener.matchers)]


def test_no_listener_builds_every_argument_to_match(app: App) -> None:
    matchers = [m for listener in app._listeners for m in listener.matchers]
    assert matchers and all(isinstance(m, BodyMatcher) for m in matchers)


@pytest.mark.parametrize(("body", "listener"), [
    ({"command": "/release", "text": "start v1", "channel_id": "C1", "user_id": "U1"}, "release_command"),
    ({"command": "/incident", "text": "declare", "channel_id": "C1", "user_id": "U1"}, "incident_command"),
    ({"type": "block_actions", "actions": [{"action_id": "release_approve", "type": "button"}]}, "approve"),
    ({"type": "block_actions", "actions": [{"action_id": "release_promote", "type": "button"}]}, "promote"),
    ({"type": "view_submission", "view": {"callback_id": "release_start"}}, "start"),
    ({"type": "view_submission", "view": {"callback_id": "no_such_form"}}, None),
])
def test_each_request_finds_its_own_listener(app: App, body: dict[str, Any], listener: str | None) -> None:
    assert _matching(app, body) == ([listener] if listener else [])
