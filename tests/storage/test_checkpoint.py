"""SQLite's write-ahead log is copied into the database by due work, not by whichever request's
commit happens to pass SQLite's threshold (that copy and its fsync would land in an ack)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from storage.db import SAFETY_CHECKPOINT_PAGES, checkpoint_wal, make_engine, session_scope
from storage.migrate import upgrade
from storage.models import ProcessedRequest, table_of


def _wal_state(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(frames in the log, frames of it already in the database), asked without copying any."""
    raw = engine.raw_connection()
    try:
        # PASSIVE with nothing new to copy reports the counts and changes nothing.
        _busy, log, done = raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return log, done
    finally:
        raw.close()


def test_commits_leave_the_log_to_the_checkpoint_job(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SAFETY_CHECKPOINT_PAGES
    checkpoint_wal(engine)
    wal = Path(f"{tmp_path}/w.db-wal")
    before = wal.stat().st_size
    now = datetime.now(UTC)
    for i in range(300):  # well past SQLite's default threshold of 1,000 pages in all
        with session_scope(engine) as s:
            s.connection().execute(table_of(ProcessedRequest).insert(),
                                   [{"key": f"k{i}-{j}", "at": now} for j in range(40)])
    # No commit copied the log: it only grew.
    assert wal.stat().st_size > before + 1000 * 4096
    checkpoint_wal(engine)
    log, done = _wal_state(engine)
    assert log == done and log > 0  # everything in the log is in the database now
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table_of(ProcessedRequest))).scalar() == 12_000


def test_other_databases_have_nothing_to_checkpoint(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    checkpoint_wal(engine)  # PostgreSQL (or memory): a no-op, not an error
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table_of(ProcessedRequest))).scalar() == 0
