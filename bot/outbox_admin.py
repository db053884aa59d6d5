"""Rows the outbox gave up on: what `warroom outbox list --failed` and `GET /api/outbox?state=failed`
show, and `warroom outbox retry` puts back in the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.db import session_scope
from storage.models import OutboxMessage


def failed_rows(engine: Any, limit: int = 100) -> list[OutboxMessage]:
    """Rows given up on, newest first (what `warroom outbox list --failed` shows)."""
    with Session(engine, expire_on_commit=False) as s:
        return list(s.exec(select(OutboxMessage).where(col(OutboxMessage.failed).is_(True))
                           .order_by(col(OutboxMessage.id).desc()).limit(limit)))


def retry_failed(engine: Any, now: datetime, ids: list[int] | None = None) -> int:
    """Put failed rows back in the queue (all of them when ``ids`` is None); returns how many.

    Each gets a fresh give-up window, counted from now.
    """
    stmt = update(OutboxMessage).where(col(OutboxMessage.failed).is_(True), col(OutboxMessage.sent_at).is_(None))
    if ids is not None:
        stmt = stmt.where(col(OutboxMessage.id).in_(ids))
    with session_scope(engine) as s:
        return int(s.connection().execute(stmt.values(failed=False, attempts=0, not_before=now, created_at=now,
                                         claimed_until=None, claimed_by=None, waits_for=None)).rowcount or 0)
