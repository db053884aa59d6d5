"""Store a delivery once (keyed by the provider's delivery id) and process stored ones later.

The request path only inserts a row; a due-work job claims pending rows one per transaction
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite serialises writers) and hands each to the
processor of its source. A processor that raises leaves the row to be retried with back-off,
so one bad delivery never blocks the others and nothing is applied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from bot.database import Database
from bot.errors import Conflict
from bot.tx import Tx
from storage.bulk import unless_exists
from storage.db import is_postgres
from storage.models import InboundEvent, table_of

log = logging.getLogger(__name__)
MAX_PER_TICK = 2000
# Deliveries applied per transaction: fewer commits, yet short enough not to hold up acks.
BATCH = 10
MAX_ATTEMPTS = 5
# fn(tx, event) -> True when the delivery concerned a release (matched), False otherwise.
Processor = Callable[[Tx, InboundEvent], bool]
# Work to do after the delivery's transaction commits (a rollback, an incident): runs in its own.
FollowUp = Callable[[], Any]


class Inbox:
    """The store-then-process queue of inbound deliveries."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.processors: dict[str, Processor] = {}
        self._followups: list[FollowUp] = []

    def store(self, source: str, delivery_id: str, event: str, payload: dict[str, Any]) -> bool:
        """Insert the delivery unless it is stored already; True when it is new."""
        stmt = unless_exists(self.db.engine.dialect.name, table_of(InboundEvent), ("source", "delivery_id"))
        # One statement, so one round trip on PostgreSQL. RETURNING, not rowcount: drivers
        # disagree on rowcount for a skipped conflict.
        return bool(self.db.write_one(stmt, {
            "source": source, "delivery_id": delivery_id[:128], "event": event[:64], "payload": payload,
            "attempts": 0, "received_at": self.db.clock.now()}))

    def later(self, work: FollowUp) -> None:
        """Run ``work`` after the current delivery's transaction has committed."""
        self._followups.append(work)

    def run_due(self) -> int:
        """Process pending deliveries in small batches; returns how many were handled."""
        if not self._pending():
            return 0
        done = 0
        while done < MAX_PER_TICK:
            self._followups = []
            try:
                # Background: on SQLite, acks waiting for the write lock go first.
                handled = self.db.run(lambda tx: self._batch(tx, careful=False), background=True)
            except Exception:
                # Something in the batch failed: do it again, each delivery in its own savepoint,
                # so the bad one is rolled back alone and the others are applied.
                handled = self.db.run(lambda tx: self._batch(tx, careful=True), background=True)
            for work in self._followups:
                try:
                    work()
                except Exception:
                    # The delivery is applied; a follow-up (say, an automatic rollback the state
                    # machine refuses) failing is logged, not retried forever.
                    log.exception("follow-up of an inbound delivery failed")
            done += handled
            if handled < BATCH:
                break
        return done

    def _pending(self) -> bool:
        # Polled ten times a second: a read on the pending-rows index first, so an idle poll
        # never takes the (SQLite) write lock.
        with self.db.read() as s:
            return s.exec(select(InboundEvent.id).where(col(InboundEvent.processed_at).is_(None))
                          .limit(1)).first() is not None

    def _claim(self, tx: Tx) -> list[InboundEvent]:
        stmt = (select(InboundEvent).where(col(InboundEvent.processed_at).is_(None))
                .where((col(InboundEvent.claimed_until).is_(None)) | (col(InboundEvent.claimed_until) <= tx.now))
                .order_by(col(InboundEvent.received_at), col(InboundEvent.id)).limit(BATCH))
        if is_postgres(tx.session.get_bind()):
            stmt = stmt.with_for_update(skip_locked=True)
        return list(tx.session.exec(stmt))

    def _batch(self, tx: Tx, *, careful: bool) -> int:
        """Apply up to BATCH deliveries in one transaction; ``careful`` puts each in a savepoint
        and records a failing one for a retry with back-off instead of failing the batch."""
        self._followups = []  # a retried transaction starts over
        events = self._claim(tx)
        outcome: dict[bool, list[int]] = {True: [], False: []}
        for event in events:
            processor = self.processors.get(event.source)
            if not careful:
                outcome[bool(processor(tx, event)) if processor else False].append(event.id or 0)
                continue
            mark, later = tx.mark(), len(self._followups)
            try:
                with tx.session.begin_nested():
                    matched = bool(processor(tx, event)) if processor else False
            except Conflict:
                raise  # a concurrent change: Database.run retries the whole batch
            except Exception as exc:
                log.exception("inbound delivery %s (%s %s) failed", event.id, event.source, event.event)
                tx.rewind(mark)
                del self._followups[later:]
                tx.memo.clear()
                self._failed(tx, event, exc)
                continue
            outcome[matched].append(event.id or 0)
        table = table_of(InboundEvent)
        for matched, ids in outcome.items():
            if ids:  # one statement per outcome, not one per delivery
                tx.session.connection().execute(update(table).where(table.c.id.in_(ids)).values(
                    processed_at=tx.now, matched=matched, claimed_until=None))
        return len(events)

    def _failed(self, tx: Tx, event: InboundEvent, exc: Exception) -> None:
        attempts = event.attempts + 1
        changes: dict[str, Any] = {"attempts": attempts, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        if attempts >= MAX_ATTEMPTS:
            changes.update(processed_at=tx.now, matched=False)  # given up on; kept for inspection
        else:
            changes["claimed_until"] = tx.now + timedelta(seconds=2 ** attempts)
        self._mark(tx, event.id or 0, **changes)

    @staticmethod
    def _mark(tx: Tx, event_id: int, **changes: Any) -> None:
        table = table_of(InboundEvent)
        tx.session.connection().execute(update(table).where(table.c.id == event_id).values(**changes))

    def events(self, *, matched: bool | None = None, limit: int = 100) -> list[InboundEvent]:
        """Stored deliveries, newest first; ``matched=False`` lists the ones no release took."""
        with self.db.read() as s:
            stmt = select(InboundEvent).order_by(col(InboundEvent.id).desc()).limit(limit)
            if matched is not None:
                stmt = stmt.where(InboundEvent.matched == matched)
            return list(s.exec(stmt))
