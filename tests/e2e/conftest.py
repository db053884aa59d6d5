"""End-to-end harness: the real bot served by uvicorn over HTTP, its Web API pointed at the
local workspace (a loopback Slack), and the workspace sending signed requests as Slack does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlmodel import col, select

from bot.app import Runtime, build_runtime
from bot.clock import Clock
from bot.settings import load_settings
from slackbox import RunningWorkspace, SandboxStore, ServerHandle, Workspace, serve_in_thread, start_workspace
from storage.models import OutboxMessage

SECRET = "e2e-signing-secret"
API_TOKEN = "e2e-api-token"
BASE_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-e2e",
    "SLACK_SIGNING_SECRET": SECRET,
    "WARROOM_API_TOKEN": API_TOKEN,
    "WARROOM_APPROVERS": "U0APPROVE1,U0APPROVE2",
    # Today may be a Friday; tests that check the freeze set it themselves.
    "WARROOM_FREEZE_DAYS": "",
    # Scenarios promote straight through to production 100%; bake time has its own tests.
    "WARROOM_BAKE_MINUTES": "0",
    "WARROOM_SCHEDULER_TICK": "0.2",
    # Scenario tests post many messages into one channel in a few seconds; the pacing that
    # keeps a real workspace under Slack's 1 message/s/channel is tested on its own.
    "WARROOM_SLACK_CHANNEL_RATE": "200",
    # Every request in these tests comes from one loopback address; the per-source request limits
    # on /api and /hooks are tested on their own (tests/security, tests/test_edge.py).
    "WARROOM_API_RATE": "0",
    "WARROOM_HOOKS_RATE": "0",
}


@dataclass
class Stack:
    """A running bot plus the workspace it talks to."""

    workspace: RunningWorkspace
    database_url: str
    env: dict[str, str]
    clock: Clock = field(default_factory=Clock)
    runtime: Runtime | None = None
    bot: ServerHandle | None = None

    @property
    def ws(self) -> Workspace:
        """The actor playing Slack (commands, clicks, view submissions, reads)."""
        return self.workspace.workspace

    @property
    def store(self) -> SandboxStore:
        """The workspace's own state (messages, channels, API call log)."""
        return self.workspace.store

    def slack_api_url(self) -> str:
        """Where the bot's Web API client points: the workspace itself."""
        return self.workspace.handle.url + "/api/"

    def start_bot(self) -> None:
        """Build and serve the bot (again, after stop_bot: a restart)."""
        settings = load_settings(DATABASE_URL=self.database_url, SLACK_API_URL=self.slack_api_url(), **self.env)
        self.runtime = build_runtime(settings, self.clock)
        self.bot = serve_in_thread(self.runtime.asgi)
        self.ws.bot_events_url = self.bot.url + "/slack/events"
        # Executors call back to the bot, whose port is known only now that it is bound.
        self.runtime.services.executors.public_url = self.bot.url

    def stop_bot(self) -> None:
        """Stop the bot process's server and background work (the database stays)."""
        if self.bot:
            self.bot.stop()
            self.bot = None
        if self.runtime:
            self.runtime.services.db.engine.dispose()

    def close(self) -> None:
        """Stop the bot and the workspace."""
        self.stop_bot()
        self.workspace.handle.stop()

    def api(self, path: str, token: str | None = API_TOKEN) -> httpx.Response:
        """GET the bot's JSON API."""
        assert self.bot
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.bot.url + path, headers=headers, timeout=10)

    def outbox(self) -> list[OutboxMessage]:
        """Every queued Slack call, oldest first."""
        assert self.runtime
        with self.runtime.services.db.read() as s:
            return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every queued Slack call has been delivered (or given up on)."""
        self.ws.wait_for(lambda: all(m.sent_at or m.failed for m in self.outbox()), timeout=timeout,
                         what="the outbox to drain")

    def messages(self, channel: str, **kw: Any) -> list[dict[str, Any]]:
        """Messages in a channel (top level unless include_replies)."""
        return self.ws.messages(channel, **kw)

    def bot_messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages the bot posted in ``channel``."""
        return [m for m in self.ws.messages(channel) if m.get("bot_id")]


S = TypeVar("S", bound=Stack)


def stacks_of(kind: type[S], database_url: str, tmp_path: Path) -> Iterator[Callable[..., S]]:
    """Make stacks of ``kind``, each with its own workspace and extra environment settings; close them after."""
    stacks: list[S] = []

    def make(**env: str) -> S:
        store = SandboxStore(str(tmp_path / f"workspace-{len(stacks)}.db"))
        workspace = start_workspace(store, "", SECRET, host="127.0.0.1", port=0)
        stack = kind(workspace=workspace, database_url=database_url, env={**BASE_ENV, **env})
        stacks.append(stack)
        stack.start_bot()
        return stack

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def make_stack(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start a workspace and the bot with extra environment settings."""
    yield from stacks_of(Stack, database_url, tmp_path)


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    """The default stack: two approvers, no freeze."""
    return make_stack()
