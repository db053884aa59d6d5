"""Kill -9 the bot after it acked a promotion and before its request reached the deployer: after a
restart the request goes out once (the outbox row survived, the webhook-id is the same)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.executors import SECRET, Deployer, report, write_policy
from tests.e2e.test_process_kill import BotProcess, free_port, process_stack  # noqa: F401 - fixture
from tests.e2e.test_releases import REL, REQ, release, start


@pytest.fixture
def deployer() -> Iterator[Deployer]:
    """A running loopback deployer."""
    d = Deployer().start()
    yield d
    d.stop()


def test_request_survives_a_kill_between_ack_and_send(process_stack: Stack, deployer: Deployer,  # noqa: F811
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = process_stack
    up = {"now": False}
    deployer.down = lambda: not up["now"]  # nothing can be delivered before the restart
    stack.env.update(
        WARROOM_CONFIG=write_policy(tmp_path / "policy.yml", {"deployer": {
            "kind": "webhook", "url": deployer.url, "secret_env": "DEPLOYER_WEBHOOK_SECRET"}}, {"staging": "deployer"}),
        DEPLOYER_WEBHOOK_SECRET=SECRET)
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET)  # BotProcess passes the environment on
    port = free_port()
    stack.env["WARROOM_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    bot = BotProcess(stack, port)
    stack.ws.bot_events_url = bot.url + "/slack/events"
    stack.bot = bot  # type: ignore[assignment]  # stack.api() only needs .url
    try:
        start(stack, "v12.0.0 risk=low")
        resp = stack.ws.command(REQ, REL, "/release", "promote v12.0.0")
        bot.kill()  # right after the ack: the sender waits for its batch window before sending
        assert "requested from deployer" in resp.json()["text"]
        assert deployer.accepted() == []

        up["now"] = True
        bot = BotProcess(stack, port)
        stack.ws.bot_events_url = bot.url + "/slack/events"
        # If the kill landed after the sender claimed the row, its 60 s claim must lapse first.
        stack.ws.wait_for(deployer.accepted, timeout=75, interval=0.2, what="the request after the restart")
        request = deployer.accepted()[0]["body"]
        assert report(request["callback_url"], request["callback_token"], "succeeded").status_code == 200
        assert release(stack, "v12.0.0")["stage"] == "staging"
        assert len(deployer.accepted()) == 1
        assert len({r["id"] for r in deployer.received}) == 1
    finally:
        bot.kill()
