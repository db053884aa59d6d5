"""Handler tests: the real Bolt app built by the composition root, on real services."""

from __future__ import annotations

import pytest
from slack_bolt import App
from slack_sdk.web import SlackResponse, WebClient

from bot.app import build_bolt
from bot.services import Services


@pytest.fixture
def app(services: Services, monkeypatch: pytest.MonkeyPatch) -> App:
    # Bolt checks its token once (auth.test); answer as Slack would, so no network is needed.
    data = {"ok": True, "team_id": "T0", "user_id": "U0WARROOM", "bot_id": "B0WARROOM", "url": "https://x/"}
    monkeypatch.setattr(WebClient, "auth_test", lambda self, **_: SlackResponse(
        client=self, http_verb="POST", api_url="auth.test", req_args={}, data=data, headers={}, status_code=200))
    return build_bolt(services)


