"""Delivers queued Slack calls after their transaction commits.

Rows are claimed (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), sent in id order, and marked
sent; a failure is retried with back-off, so a Slack hiccup never loses a message. A call
that needs another call's result (an update needs the ts of the post) names it with
``bot.tx.ref`` and waits until that result is stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from bot.clock import Clock
from bot.gateway import SlackCallFailed, SlackGateway
from storage.db import is_postgres, session_scope
from storage.models import OutboxMessage, SlackRef

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
OnStored = Callable[[Session, str, dict[str, Any]], None]


class _Unresolved(Exception):
    """A referenced message has not been posted yet."""


def _resolve(value: Any, session: Session) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$ref", "field"}:
            row = session.get(SlackRef, value["$ref"])
            found = getattr(row, value["field"], None) if row else None
            if found is None:
                raise _Unresolved(value["$ref"])
            return found
        return {k: _resolve(v, session) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, session) for v in value]
    return value


class OutboxSender:
    """A background thread per process that drains the outbox."""

    def __init__(self, engine: Any, gateway: SlackGateway, clock: Clock, *, batch: int = 20) -> None:
        self.engine = engine
        self.gateway = gateway
        self.clock = clock
        self.batch = batch
        self.on_stored: list[OnStored] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Wake the sender: new rows were committed."""
        self._wake.set()

    def start(self) -> None:
        """Start the sender thread."""
        self._thread = threading.Thread(target=self._loop, name="warroom-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the call in flight."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.drain_once()
            except Exception:  # keep the thread alive; the row stays pending
                log.exception("outbox pass failed")
                busy = False
            if not busy:
                self._wake.wait(0.5)
                self._wake.clear()

    def _claim(self) -> list[int]:
        now = self.clock.now()
        with session_scope(self.engine) as s:
            stmt = (select(OutboxMessage.id)
                    .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed.is_(False),  # type: ignore[union-attr,attr-defined]
                           OutboxMessage.not_before <= now,
                           or_(OutboxMessage.claimed_until.is_(None),  # type: ignore[union-attr]
                               OutboxMessage.claimed_until < now))
                    .order_by(OutboxMessage.id).limit(self.batch))  # type: ignore[arg-type]
            if is_postgres(self.engine):
                stmt = stmt.with_for_update(skip_locked=True)
            ids = [row for row in s.execute(stmt).scalars()]
            for row_id in ids:
                row = s.get(OutboxMessage, row_id)
                assert row is not None
                row.claimed_until = now + timedelta(seconds=60)
        return ids

    def drain_once(self) -> bool:
        """Send what is due now; True when anything was attempted."""
        ids = self._claim()
        for row_id in ids:
            self._deliver(row_id)
        return bool(ids)

    def _deliver(self, row_id: int) -> None:
        now = self.clock.now()
        with session_scope(self.engine) as s:
            row = s.get(OutboxMessage, row_id)
            if row is None or row.sent_at is not None:
                return
            coalesce = row.payload.get("coalesce")
            if coalesce and self._superseded(s, row, coalesce):
                row.sent_at = now
                row.last_error = "superseded"
                return
            try:
                args = _resolve({k: v for k, v in row.payload.items() if k != "coalesce"}, s)
            except _Unresolved as missing:
                row.claimed_until = None
                if now - row.created_at > timedelta(minutes=10):
                    row.failed = True  # what it waited for never got posted
                    row.last_error = f"unresolved {missing}"
                    return
                row.not_before = now + timedelta(milliseconds=200)
                return
            try:
                result = getattr(self.gateway, row.op)(**args)
            except SlackCallFailed as exc:
                row.attempts += 1
                row.last_error = exc.error
                row.claimed_until = None
                if exc.permanent or row.attempts >= MAX_ATTEMPTS:
                    row.failed = True
                    log.warning("giving up on outbox %s %s: %s", row.id, row.op, exc.error)
                else:
                    row.not_before = now + timedelta(seconds=min(2 ** row.attempts, 300))
                return
            except Exception as exc:  # connection trouble beyond the client's retries
                row.attempts += 1
                row.last_error = type(exc).__name__
                row.claimed_until = None
                row.not_before = now + timedelta(seconds=min(2 ** row.attempts, 300))
                log.warning("outbox %s %s failed: %s", row.id, row.op, type(exc).__name__)
                return
            row.sent_at = now
            if row.store_as:
                self._store(s, row.store_as, result)

    def _superseded(self, s: Session, row: OutboxMessage, key: str) -> bool:
        # A newer pending update of the same message makes this one redundant.
        newer = s.execute(
            select(OutboxMessage.id).where(
                OutboxMessage.id > row.id, OutboxMessage.sent_at.is_(None),  # type: ignore[operator,union-attr]
                OutboxMessage.failed.is_(False), OutboxMessage.op == row.op,  # type: ignore[attr-defined]
            )
        ).scalars()
        return any((s.get(OutboxMessage, i) or row).payload.get("coalesce") == key for i in newer)

    def _store(self, s: Session, key: str, result: dict[str, Any]) -> None:
        existing = s.get(SlackRef, key)
        if existing:
            existing.channel = result.get("channel") or existing.channel
            existing.ts = result.get("ts") or existing.ts
        else:
            s.add(SlackRef(key=key, channel=result.get("channel") or "", ts=result.get("ts")))
        s.flush()
        for hook in self.on_stored:
            hook(s, key, result)
