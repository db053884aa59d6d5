"""Buffered rows of several tables written together (storage.bulk): every value reads back as it
was given, on SQLite and in PostgreSQL's one-statement form, and a failing row writes nothing;
compare-and-set updates in front of them (write_all) let the batch go in only if no row changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.ops import Op
from bot.outbox_port import outbox_row
from storage.bulk import Stale, insert_all, write_all
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import AuditEntry, OutboxMessage, ProcessedRequest, Release, table_of


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


def _two_releases(engine) -> list[int]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    table = table_of(Release)
    with session_scope(engine) as s:
        for version in ("v1", "v2"):
            s.connection().execute(table.insert().values(
                version=version, type="minor", risk="low", status="active", stage="dev", requested_by="U1",
                channel_id="C1", checklist={}, created_at=now, updated_at=now))
    with engine.connect() as conn:
        return [r.id for r in conn.execute(select(table.c.id).order_by(table.c.id))]


def test_a_batch_applies_its_updates_and_rows(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    a, b = _two_releases(engine)
    table, now = table_of(Release), datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    with session_scope(engine) as s:
        write_all(s.connection(), [(table, a, 1, {"stage": "staging", "updated_at": now, "row_version": 2}),
                                   (table, b, 1, {"summary": "it's <b>", "row_version": 2})],
                  _rows(now, "trig-3"))  # type: ignore[arg-type]
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.stage, table.c.summary, table.c.updated_at, table.c.row_version)
                            .order_by(table.c.id)).all()
        assert [tuple(r) for r in rows] == [("staging", "", now, 2), ("dev", "it's <b>", rows[1][2], 2)]
        assert len(conn.execute(select(table_of(OutboxMessage))).all()) == 2
    engine.dispose()


def test_a_batch_with_one_stale_row_writes_nothing(database_url: str) -> None:
    """One update finds its row as read, the other finds it changed: neither update nor any row lands."""
    engine = make_engine(database_url)
    upgrade(engine)
    a, b = _two_releases(engine)
    table, now = table_of(Release), datetime.now(UTC)
    with session_scope(engine) as s:  # someone else moved v2 on after we read it at version 1
        s.connection().execute(table.update().where(table.c.id == b).values(stage="canary", row_version=2))
    with pytest.raises(Stale), session_scope(engine) as s:
        write_all(s.connection(), [(table, a, 1, {"stage": "staging", "row_version": 2}),
                                   (table, b, 1, {"stage": "staging", "row_version": 2})],
                  _rows(now, "trig-4"))  # type: ignore[arg-type]
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(table.c.stage, table.c.row_version).order_by(table.c.id))] \
            == [("dev", 1), ("canary", 2)]
        assert conn.execute(select(table_of(AuditEntry))).all() == []
        assert conn.execute(select(table_of(ProcessedRequest))).all() == []
    engine.dispose()


def test_a_batch_finds_its_rows_by_key_not_by_reading_the_table(postgres_url: str) -> None:
    """PostgreSQL: the compare-and-set reads the one row it updates, whatever the table's size (a
    plan that scanned every release made each approval slower with every release ever started)."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    table, now = table_of(Release), datetime.now(UTC)
    with session_scope(engine) as s:
        s.connection().execute(table.insert(), [
            {"version": f"v{i}", "type": "minor", "risk": "low", "status": "active", "stage": "dev",
             "requested_by": "U1", "channel_id": "C1", "checklist": {}, "created_at": now, "updated_at": now}
            for i in range(2000)])
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE release")
        conn.commit()  # the statistics the planner reads are rows like any other
        wanted = conn.execute(select(table.c.id).where(table.c.version == "v1234")).scalar_one()
    # The backend's not yet reported counts (pg_stat_xact_*) include its earlier statements: compare.
    scans = ("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'release' "
             "AND schemaname = current_schema()")
    with session_scope(engine) as s:
        conn = s.connection()
        before = conn.exec_driver_sql(scans).scalar_one()
        write_all(conn, [(table, wanted, 1, {"stage": "staging", "row_version": 2})], _rows(now, "trig-5"))  # type: ignore[arg-type]
        assert conn.exec_driver_sql(scans).scalar_one() == before
    with engine.connect() as conn:
        assert conn.execute(select(table.c.stage).where(table.c.id == wanted)).scalar_one() == "staging"
        assert conn.execute(select(table.c.id).where(table.c.stage == "staging")).scalars().all() == [wanted]
    engine.dispose()
