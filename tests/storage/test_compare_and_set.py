"""Compare-and-set on a row's version: the loser of a race re-reads instead of overwriting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.clock import Clock
from bot.errors import Conflict
from bot.tx import Database, Origin, Tx
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import AuditEntry, OutboxMessage, Release


def _db(url: str) -> Database:
    engine = make_engine(url)
    upgrade(engine)
    return Database(engine, Clock())


def _seed(db: Database) -> int:
    now = datetime.now(UTC)
    with db.transaction() as tx:
        r = Release(version="v1", type="minor", risk="low", status="active", stage="dev", requested_by="U1",
                    channel_id="C1", checklist={}, created_at=now, updated_at=now)
        tx.session.add(r)
        tx.session.flush()
        return r.id or 0


def test_stale_write_is_refused(database_url: str) -> None:
    db = _db(database_url)
    rid = _seed(db)
    with db.read() as s:
        stale = s.get(Release, rid)
    with db.transaction() as tx:
        fresh = tx.session.get(Release, rid)
        tx.save(fresh, stage="staging")
    with pytest.raises(Conflict), db.transaction() as tx:
        tx.save(stale, stage="canary")
    with db.read() as s:
        row = s.get(Release, rid)
        assert (row.stage, row.row_version) == ("staging", 2)


@pytest.mark.parametrize("deferred", [False, True], ids=["transaction", "deferred-batch"])
def test_concurrent_increments_all_land(database_url: str, deferred: bool) -> None:
    """Twenty writers bump a counter at once; with retries none of them is lost, whether they write in
    a transaction or read first and write one compare-and-set batch (Tx deferred)."""
    db = _db(database_url)
    rid = _seed(db)
    barrier = threading.Barrier(20)

    def bump(tx: Tx) -> None:
        row = tx.session.get(Release, rid)
        tx.save(row, summary=row.summary + "x")

    def worker() -> None:
        barrier.wait()
        db.run(bump, attempts=60, deferred=deferred)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with db.read() as s:
        row = s.get(Release, rid)
        assert row.summary == "x" * 20
        assert row.row_version == 21


def test_a_deferred_transaction_writes_nothing_when_its_row_changed_meanwhile(database_url: str) -> None:
    """The batch of a deferred transaction is all or nothing: its audit row and outgoing message are
    not written when the row it read was changed by someone else before the batch went in."""
    db = _db(database_url)
    rid = _seed(db)
    with db.read() as s:
        seen = s.get(Release, rid)
    with db.transaction() as other:  # another request gets in after our read
        other.save(other.session.get(Release, rid), stage="staging")
    with pytest.raises(Conflict), db.transaction(deferred=True) as tx:
        tx.save(seen, stage="canary")
        tx.audit(Origin("U1", "test"), "release", rid, "promote")
        tx.slack.post("C1", "to canary")
    with db.read() as s:
        row = s.get(Release, rid)
        assert (row.stage, row.row_version) == ("staging", 2)
        assert s.exec(select(AuditEntry)).all() == []
        assert s.exec(select(OutboxMessage)).all() == []
