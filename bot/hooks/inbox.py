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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from bot.tx import Database, Tx
from storage.db import is_postgres
from storage.models import InboundEvent

log = logging.getLogger(__name__)
MAX_PER_TICK = 500
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
        self._current: int | None = None

    def store(self, source: str, delivery_id: str, event: str, payload: dict[str, Any]) -> bool:
        """Insert the delivery unless it is stored already; True when it is new."""
        table = InboundEvent.__table__  # type: ignore[attr-defined]
        with self.db.transaction() as tx:
            dialect_insert = pg_insert if is_postgres(tx.session.get_bind()) else sqlite_insert  # type: ignore[arg-type]
            stmt = dialect_insert(table).values(
                source=source, delivery_id=delivery_id[:128], event=event[:64], payload=payload, attempts=0,
                received_at=tx.now,
            ).on_conflict_do_nothing(index_elements=["source", "delivery_id"])
            return bool(tx.session.connection().execute(stmt).rowcount)

    def later(self, work: FollowUp) -> None:
        """Run ``work`` after the current delivery's transaction has committed."""
        self._followups.append(work)

    def run_due(self) -> int:
        """Process pending deliveries; returns how many were handled."""
        done = 0
        for _ in range(MAX_PER_TICK):
            self._followups = []
            self._current = None
            try:
                event_id = self.db.run(self._one)
            except Exception as exc:
                log.exception("inbound delivery processing failed")
                self._failed(exc)
                continue
            if event_id is None:
                break
            for work in self._followups:
                try:
                    work()
                except Exception:
                    # The delivery is applied; a follow-up (say, an automatic rollback refused by
                    # the state machine) failing is logged, not retried forever.
                    log.exception("follow-up of inbound delivery %s failed", event_id)
            done += 1
        return done

    def _claim(self, tx: Tx) -> InboundEvent | None:
        stmt = (select(InboundEvent).where(col(InboundEvent.processed_at).is_(None))
                .where((col(InboundEvent.claimed_until).is_(None)) | (col(InboundEvent.claimed_until) <= tx.now))
                .order_by(col(InboundEvent.received_at), col(InboundEvent.id)).limit(1))
        if is_postgres(tx.session.get_bind()):  # type: ignore[arg-type]
            stmt = stmt.with_for_update(skip_locked=True)
        return tx.session.exec(stmt).first()

    def _one(self, tx: Tx) -> int | None:
        event = self._claim(tx)
        if event is None:
            return None
        self._current = event.id
        processor = self.processors.get(event.source)
        matched = bool(processor(tx, event)) if processor else False
        self._mark(tx, event.id or 0, processed_at=tx.now, matched=matched, claimed_until=None)
        return event.id

    def _failed(self, exc: Exception) -> None:
        event_id = self._current
        if event_id is None:
            return
        with self.db.transaction() as tx:
            row = tx.session.get(InboundEvent, event_id)
            if row is None or row.processed_at is not None:
                return
            attempts = row.attempts + 1
            changes: dict[str, Any] = {"attempts": attempts, "error": f"{type(exc).__name__}: {exc}"[:2000]}
            if attempts >= MAX_ATTEMPTS:
                changes.update(processed_at=tx.now, matched=False)  # given up on; kept for inspection
            else:
                changes["claimed_until"] = tx.now + timedelta(seconds=2 ** attempts)
            self._mark(tx, event_id, **changes)
        self._current = None

    @staticmethod
    def _mark(tx: Tx, event_id: int, **changes: Any) -> None:
        table = InboundEvent.__table__  # type: ignore[attr-defined]
        tx.session.connection().execute(update(table).where(table.c.id == event_id).values(**changes))

    def events(self, *, matched: bool | None = None, limit: int = 100) -> list[InboundEvent]:
        """Stored deliveries, newest first; ``matched=False`` lists the ones no release took."""
        with self.db.read() as s:
            stmt = select(InboundEvent).order_by(col(InboundEvent.id).desc()).limit(limit)
            if matched is not None:
                stmt = stmt.where(InboundEvent.matched == matched)
            return list(s.exec(stmt))
