"""The worker's own vacuum of PostgreSQL tables full of dead rows (storage.upkeep): a queue-like
table stays lean even on a server whose autovacuum is off or behind."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text, update

from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import OutboxMessage, table_of
from storage.upkeep import LOCK_KEY, vacuum_due

STATS = text("SELECT n_dead_tup, last_vacuum FROM pg_stat_user_tables "
             "WHERE schemaname = current_schema() AND relname = 'outbox_message'")


def _churned(url: str, rows: int = 300, updates: int = 10) -> Engine:
    """An outbox whose rows were each updated ``updates`` times (as claims and pacing do)."""
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    t = table_of(OutboxMessage)
    with engine.begin() as conn:
        conn.execute(t.insert(), [{"op": "chat.postMessage", "payload": {"channel": f"C{i}", "text": "hi"},
                                   "created_at": now, "not_before": now, "order_key": f"C{i}"}
                                  for i in range(rows)])
    for n in range(updates):
        with engine.begin() as conn:
            conn.execute(update(t).values(attempts=n + 1))
    engine.dispose()  # a backend reports its counts when it ends
    return engine


def _stats(engine: Engine, until: Any = None) -> tuple[int, datetime | None]:
    """The outbox's dead rows and last manual vacuum, once the statistics show ``until`` (10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            dead, last = conn.execute(STATS).one()
        if until is None or until(dead, last) or time.monotonic() > deadline:
            return dead, last
        time.sleep(0.1)


def test_a_table_with_many_dead_rows_is_vacuumed_and_the_others_left_alone(postgres_url: str) -> None:
    engine = _churned(postgres_url)
    dead, last = _stats(engine, until=lambda dead, _: dead >= 2000)
    assert dead >= 2000 and last is None

    assert vacuum_due(engine, dead_rows=2000) == ["outbox_message"]
    dead, last = _stats(engine, until=lambda _, last: last is not None)
    assert last is not None and dead == 0
    with engine.connect() as conn:  # nothing stored is lost
        assert conn.execute(text("SELECT count(*), min(attempts) FROM outbox_message")).one() == (300, 10)
    assert vacuum_due(engine, dead_rows=2000) == []  # nothing left to do
    engine.dispose()


def test_one_replica_vacuums_at_a_time_and_zero_turns_it_off(postgres_url: str) -> None:
    engine = _churned(postgres_url)
    _stats(engine, until=lambda dead, _: dead >= 2000)
    assert vacuum_due(engine, dead_rows=0) == []
    with engine.connect() as other:  # another replica is vacuuming
        other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        assert vacuum_due(engine, dead_rows=2000) == []
        other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    dead, last = _stats(engine)
    assert dead >= 2000 and last is None
    assert vacuum_due(engine, dead_rows=2000) == ["outbox_message"]
    engine.dispose()


def test_sqlite_needs_no_vacuum(tmp_path: Path) -> None:
    engine = _churned(f"sqlite:///{tmp_path}/warroom.db")
    assert vacuum_due(engine, dead_rows=1) == []
    engine.dispose()
