"""Helpers shared by the suites: real Services on a real database, origins, the outbox's rows,
a Slack double the real sender delivers to, and Slack's request signing."""

from __future__ import annotations

import itertools
import time
from typing import Any

from sqlmodel import col, select

from bot.app import build_services
from bot.clock import Clock
from bot.gateway import SlackCallFailed
from bot.incidents.requests import DeclareIncident
from bot.services import Services
from bot.settings import load_settings
from bot.tx import Origin
from storage.models import OutboxMessage

_ids = itertools.count(1)


def make_services(url: str, clock: Clock | None = None, **env: Any) -> Services:
    """Services as the app builds them; nothing is sent unless a test drains the outbox."""
    env = {"WARROOM_BAKE_MINUTES": "0",  # bake time has its own tests
           "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "http://127.0.0.1:9/api/",
           **env}
    settings = load_settings(DATABASE_URL=url, **env)
    return build_services(settings, clock)


def who(user: str = "U0IC") -> Origin:
    """An origin with a fresh request id (every Slack request has its own)."""
    return Origin(user=user, source="test", request_id=f"test:{next(_ids)}")


def declare(s: Services, severity: str = "P1", title: str = "db down", user: str = "U0IC") -> int:
    """Declare an incident and return its id."""
    return s.incidents.declare(DeclareIncident.build(severity, title, "C0FROM"), who(user)).incident.id or 0


def queued(s: Services, op: str | None = None, *, store_as: str | None = None) -> list[OutboxMessage]:
    """Outbox rows (what the bot will send), oldest first."""
    with s.db.read() as session:
        stmt = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if op:
            stmt = stmt.where(OutboxMessage.op == op)
        if store_as:
            stmt = stmt.where(OutboxMessage.store_as == store_as)
        return list(session.exec(stmt).all())


def status_posts(s: Services, incident_id: int) -> list[OutboxMessage]:
    """Automatic status updates queued for one incident."""
    return queued(s, "post", store_as=f"incident:{incident_id}:status")


class SlackDouble:
    """Answers the gateway verbs the outbox calls, recording them.

    ``refuse`` maps ``op`` or ``op:channel`` to the Slack error to answer with.
    """

    def __init__(self, refuse: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse or {}
        self._ts = itertools.count(1)

    def _call(self, op: str, **args: Any) -> dict[str, Any]:
        self.calls.append((op, args))
        error = self.refuse.get(f"{op}:{args.get('channel')}") or self.refuse.get(op)
        if error:
            raise SlackCallFailed(op, error)
        if op == "create_channel":
            return {"channel": f"C0ROOM{len(self.calls)}", "ts": None, "name": args["name"]}
        return {"channel": args.get("channel") or "D0DM", "ts": args.get("ts") or f"{next(self._ts)}.0001"}

    def __getattr__(self, op: str) -> Any:
        return lambda **args: self._call(op, **args)


def drain(s: Services, slack: SlackDouble, rounds: int = 20) -> None:
    """Run the real outbox against the double until nothing is due."""
    s.outbox.gateway = slack  # type: ignore[assignment]  # answers every verb the sender calls
    for _ in range(rounds):
        if not s.outbox.drain_once():
            time.sleep(0.25)  # messages waiting on a ref come round again after 200 ms
            if not s.outbox.drain_once():
                return
