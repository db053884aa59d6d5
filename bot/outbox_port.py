"""The typed port workflow code queues Slack calls through (``tx.slack``).

Each method mirrors a verb of ``bot.gateway.SlackGateway`` with the same keyword arguments and
writes one outbox row (``bot.ops.Op``); ``bot.outbox`` delivers it after the commit. A
misspelt argument is a TypeError here, at the call site, not minutes later in the sender.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import insert, update
from sqlmodel import Session

from bot.errors import NeedsTransaction
from bot.ops import FAST, Op, order_key
from storage.models import OutboxMessage, table_of

# A placeholder for a value of another queued call's result, filled when this row is sent.
Ref = TypedDict("Ref", {"$ref": str, "field": str})
Channel = str | Ref
Blocks = list[dict[str, Any]]
# Where rows go: the transaction's buffer (Tx) or straight into a session (outbox hooks).
Sink = Callable[[dict[str, Any]], None]


def ref(key: str, field: str = "ts") -> Ref:
    """A placeholder in an outbox payload, filled from SlackRef ``key`` when sent."""
    return {"$ref": key, "field": field}


def outbox_row(now: datetime, op: Op, payload: dict[str, Any], *, store_as: str | None = None,
               coalesce: str | None = None, delay: float = 0) -> dict[str, Any]:
    """The values of one pending outbox row (its order key and lane follow from op and payload)."""
    return {"op": str(op), "payload": payload, "store_as": store_as, "coalesce_key": coalesce, "attempts": 0,
            "created_at": now, "not_before": now + timedelta(seconds=delay), "failed": False,
            "order_key": order_key(op, payload), "fast": op in FAST}


def session_sink(session: Session) -> Sink:
    """A sink that inserts each row at once (for outbox hooks, which run outside a Tx)."""
    def sink(row: dict[str, Any]) -> None:
        session.connection().execute(insert(table_of(OutboxMessage)), row)
    return sink


def _args(**kw: Any) -> dict[str, Any]:
    """The payload without the optional arguments left out (the gateway's defaults apply)."""
    return {k: v for k, v in kw.items() if v is not None}


class SlackPort:
    """Queue Slack calls; each returns nothing, the sender stores results under ``store_as``."""

    def __init__(self, sink: Sink, now: datetime, session: Session | None = None) -> None:
        self._sink = sink
        self._now = now
        self._session = session

    def _queue(self, op: Op, payload: dict[str, Any], *, store_as: str | None = None,
               coalesce: str | None = None, delay: float = 0) -> None:
        self._sink(outbox_row(self._now, op, payload, store_as=store_as, coalesce=coalesce, delay=delay))

    def post(self, channel: Channel, text: str, blocks: Blocks | None = None, thread_ts: str | Ref | None = None,
             *, store_as: str | None = None, coalesce: str | None = None, delay: float = 0) -> None:
        """chat.postMessage (a thread reply when ``thread_ts`` is given); of pending posts with one
        ``coalesce`` key only the newest goes out (a status update queued while Slack was down)."""
        self._queue(Op.POST, _args(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts),
                    store_as=store_as, coalesce=coalesce, delay=delay)

    def update(self, channel: Channel, ts: str | Ref, text: str, blocks: Blocks | None = None, *,
               coalesce: str | None = None) -> None:
        """chat.update of a message the bot posted; of pending updates with one ``coalesce`` key the newest wins."""
        self._queue(Op.UPDATE, _args(channel=channel, ts=ts, text=text, blocks=blocks), coalesce=coalesce)

    def ephemeral(self, channel: Channel, user: str, text: str, blocks: Blocks | None = None) -> None:
        """chat.postEphemeral: only ``user`` sees it."""
        self._queue(Op.EPHEMERAL, _args(channel=channel, user=user, text=text, blocks=blocks))

    def dm(self, user: str, text: str, blocks: Blocks | None = None) -> None:
        """A direct message to ``user``."""
        self._queue(Op.DM, _args(user=user, text=text, blocks=blocks))

    def create_channel(self, name: str, *, store_as: str) -> None:
        """conversations.create; the channel's ID is stored under ``store_as``."""
        self._queue(Op.CREATE_CHANNEL, {"name": name}, store_as=store_as)

    def invite(self, channel: Channel, users: list[str]) -> None:
        """conversations.invite, one user at a time; members already there are fine."""
        self._queue(Op.INVITE, {"channel": channel, "users": users})

    def topic(self, channel: Channel, topic: str) -> None:
        """conversations.setTopic."""
        self._queue(Op.TOPIC, {"channel": channel, "topic": topic})

    def pin(self, channel: Channel, ts: str | Ref) -> None:
        """pins.add."""
        self._queue(Op.PIN, {"channel": channel, "ts": ts})

    def upload(self, channel: Channel, filename: str, content: str, title: str, comment: str | None = None) -> None:
        """Share a text file in ``channel``."""
        self._queue(Op.UPLOAD, _args(channel=channel, filename=filename, content=content, title=title,
                                     comment=comment))

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """views.open for a modal."""
        self._queue(Op.OPEN_VIEW, {"trigger_id": trigger_id, "view": view})

    def publish_view(self, user_id: str, view: dict[str, Any], digest: str | None = None) -> None:
        """views.publish: ``user_id``'s App Home tab (``digest`` is stored as what they were shown)."""
        self._queue(Op.PUBLISH_VIEW, _args(user_id=user_id, view=view, digest=digest))

    def render(self, renderer: str, *, store_as: str | None = None, coalesce: str | None = None,
               delay: float = 0, **args: Any) -> None:
        """A state-mirroring message: ``renderer`` (registered on the sender) builds the call at send time;
        ``delay`` lets a burst of changes become one call."""
        self._queue(Op.RENDER, {"renderer": renderer, **args}, store_as=store_as, coalesce=coalesce, delay=delay)

    def cancel_pending(self, store_as: str, reason: str) -> None:
        """Give up on calls still waiting whose result would be stored as ``store_as``."""
        if self._session is None:  # a deferred transaction (or none): only a transaction may do this
            raise NeedsTransaction("cancel_pending")
        table = table_of(OutboxMessage)
        self._session.connection().execute(
            update(table).where(table.c.store_as == store_as, table.c.sent_at.is_(None),
                                table.c.failed.is_(False)).values(failed=True, last_error=reason))
