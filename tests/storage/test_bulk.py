"""Buffered rows of several tables written together (storage.bulk): every value reads back as it
was given, on SQLite and in PostgreSQL's one-statement form, and a failing row writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.ops import Op
from bot.outbox_port import outbox_row
from storage.bulk import insert_all
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import AuditEntry, OutboxMessage, ProcessedRequest, table_of


def _rows(now: datetime, key: str) -> list[tuple[object, list[dict[str, object]]]]:
    audit = {"subject": "release", "subject_id": 7, "actor": "U0REQUEST", "action": "start", "from_state": None,
             "to_state": "active:dev", "reason": 'it\'s "quoted" <&>', "source": "slack:/release",
             "request_id": key, "detail": {"version": "v1.2.3", "nested": {"n": [1, 2.5, None, True]}}, "at": now}
    posts = [outbox_row(now, Op.POST, {"channel": "C1", "text": "one ✓"}, store_as="release:7:announcement"),
             outbox_row(now, Op.EPHEMERAL, {"channel": "C1", "user": "U1", "text": "two"}, delay=1.5)]
    return [(table_of(ProcessedRequest), [{"key": key, "at": now}]), (table_of(AuditEntry), [audit]),
            (table_of(OutboxMessage), posts)]


def test_every_value_reads_back_as_given(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime(2026, 11, 28, 14, 30, 15, 123456, tzinfo=UTC)
    groups = _rows(now, "trig-1")
    with session_scope(engine) as s:
        insert_all(s.connection(), groups)  # type: ignore[arg-type]
    with engine.connect() as conn:
        key = conn.execute(select(table_of(ProcessedRequest))).one()
        audit = conn.execute(select(table_of(AuditEntry))).one()
        posts = conn.execute(select(table_of(OutboxMessage)).order_by(table_of(OutboxMessage).c.id)).all()
    assert (key.key, key.at) == ("trig-1", now)
    assert audit.reason == 'it\'s "quoted" <&>' and audit.to_state == "active:dev" and audit.from_state is None
    assert audit.detail == {"version": "v1.2.3", "nested": {"n": [1, 2.5, None, True]}} and audit.at == now
    assert [(p.op, p.payload, p.fast, p.failed, p.store_as) for p in posts] == [
        ("post", {"channel": "C1", "text": "one ✓"}, False, False, "release:7:announcement"),
        ("ephemeral", {"channel": "C1", "user": "U1", "text": "two"}, True, False, None)]
    assert posts[1].not_before == now + timedelta(seconds=1.5) and posts[0].sent_at is None
    engine.dispose()


def test_a_repeated_key_writes_none_of_the_rows(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        insert_all(s.connection(), _rows(now, "trig-2"))  # type: ignore[arg-type]
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        insert_all(s.connection(), _rows(now, "trig-2"))  # type: ignore[arg-type]
    with engine.connect() as conn:
        assert len(conn.execute(select(table_of(AuditEntry))).all()) == 1
        assert len(conn.execute(select(table_of(OutboxMessage))).all()) == 2
    engine.dispose()
