"""Delivers queued Slack calls after their transaction commits.

Rows are claimed in id order (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), sent, and marked
sent; a failure is retried with back-off, so a Slack hiccup never loses a message. A call
that needs another call's result (an update needs the ts of the post) names it with
``bot.tx.ref`` and waits until that result is stored. Messages that mirror state (a release
announcement) are rendered by a registered renderer at send time, so they are always
current and a burst of changes becomes one update.
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
from bot.pacing import ChannelPacer
from storage.db import is_postgres, session_scope
from storage.models import OutboxMessage, SlackRef

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
OnStored = Callable[[Session, str, dict[str, Any]], None]
# A renderer turns a stored payload into a gateway call: (op, args).
Renderer = Callable[[Session, dict[str, Any]], tuple[str, dict[str, Any]] | None]


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

    def __init__(self, engine: Any, gateway: SlackGateway, clock: Clock, *, batch: int = 50,
                 pacer: ChannelPacer | None = None) -> None:
        self.engine = engine
        self.pacer = pacer
        self.gateway = gateway
        self.clock = clock
        self.batch = batch
        self.on_stored: list[OnStored] = []
        self.renderers: dict[str, Renderer] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Wake the sender: new rows were committed."""
        self._wake.set()

    def start(self) -> None:
        """Start the sender thread."""
        self._stop.clear()
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
            except Exception:  # keep the thread alive; the rows stay pending
                log.exception("outbox pass failed")
                busy = False
            if not busy:
                self._wake.wait(0.25)
                self._wake.clear()

    def drain_once(self) -> bool:
        """Send what is due now; True when anything was sent (so there may be more to do)."""
        claimed = self._claim()
        ready, later = self._resolve_all(claimed)
        if later:
            self._release(later)
        for row_id, op, args in ready:
            call = self._render_one(row_id, op, args)
            if call is None:
                continue
            try:
                result: dict[str, Any] | None = getattr(self.gateway, call[0])(**call[1])
                error: Exception | None = None
            except Exception as exc:  # recorded on the row; connection trouble is retried
                result, error = None, exc
            self._record(row_id, result, error)
        return bool(ready)

    def _resolve_all(self, ids: list[int]) -> tuple[list[tuple[int, str, dict[str, Any]]], dict[int, float]]:
        """Fill in references and apply pacing; rows that must wait get a delay in seconds."""
        ready: list[tuple[int, str, dict[str, Any]]] = []
        later: dict[int, float] = {}
        with Session(self.engine, expire_on_commit=False) as s:
            for row_id in ids:
                row = s.get(OutboxMessage, row_id)
                if row is None:
                    continue
                try:
                    args = _resolve(row.payload, s)
                except _Unresolved:
                    # What it depends on is not posted yet (maybe paced): look again soon,
                    # less often the longer it waits.
                    age = (self.clock.now() - row.created_at).total_seconds()
                    later[row_id] = min(0.1 + age / 4, 5.0)
                    continue
                wait = self.pacer.delay(row_id, row.op, args.get("channel")) if self.pacer else 0.0
                if wait > 0:
                    later[row_id] = wait
                else:
                    ready.append((row_id, row.op, args))
        return ready, later

    def _render_one(self, row_id: int, op: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if op not in self.renderers:
            return op, args
        with Session(self.engine, expire_on_commit=False) as s:
            call = self.renderers[op](s, args)
        if call is None:
            self._record(row_id, None, None)
        return call

    def _claim(self) -> list[int]:
        """Claim due rows in one short write transaction; drop superseded updates."""
        now = self.clock.now()
        with session_scope(self.engine) as s:
            stmt = (select(OutboxMessage)
                    .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed.is_(False),  # type: ignore[union-attr,attr-defined]
                           OutboxMessage.not_before <= now,
                           or_(OutboxMessage.claimed_until.is_(None),  # type: ignore[union-attr]
                               OutboxMessage.claimed_until < now))
                    .order_by(OutboxMessage.id).limit(self.batch))  # type: ignore[arg-type]
            if is_postgres(self.engine):
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(s.execute(stmt).scalars())
            newest: dict[str, int] = {}
            for row in rows:
                if row.coalesce_key:
                    newest[row.coalesce_key] = max(newest.get(row.coalesce_key, 0), row.id or 0)
            claimed = []
            for row in rows:
                if row.coalesce_key and (row.id or 0) < newest[row.coalesce_key]:
                    row.sent_at, row.last_error = now, "superseded"
                else:
                    row.claimed_until = now + timedelta(seconds=60)
                    claimed.append(row.id or 0)
        return claimed

    def _release(self, delays: dict[int, float]) -> None:
        """Hand rows back to wait (pacing, or a reference not posted yet), in one transaction."""
        now = self.clock.now()
        with session_scope(self.engine) as s:
            for row_id, wait in delays.items():
                row = s.get(OutboxMessage, row_id)
                if row is None:
                    continue
                row.claimed_until = None
                row.not_before = now + timedelta(seconds=wait)
                if now - row.created_at > timedelta(hours=1):
                    row.failed, row.last_error = True, "what it refers to was never posted"

    def _record(self, row_id: int, result: dict[str, Any] | None, error: Exception | None) -> None:
        now = self.clock.now()
        with session_scope(self.engine) as s:
            row = s.get(OutboxMessage, row_id)
            if row is None:
                return
            row.claimed_until = None
            if error is None:
                row.sent_at = now
                if row.store_as and result is not None:
                    self._store(s, row.store_as, result)
                return
            row.attempts += 1
            row.last_error = error.error if isinstance(error, SlackCallFailed) else type(error).__name__
            permanent = isinstance(error, SlackCallFailed) and error.permanent
            if permanent or row.attempts >= MAX_ATTEMPTS:
                row.failed = True
                log.warning("giving up on outbox %s %s: %s", row.id, row.op, row.last_error)
            else:
                row.not_before = now + timedelta(seconds=min(2 ** row.attempts, 300))
                log.info("outbox %s %s failed (%s); retrying", row.id, row.op, row.last_error)

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
