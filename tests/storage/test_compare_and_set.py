"""Compare-and-set on a row's version: the loser of a race re-reads instead of overwriting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.clock import Clock
from bot.database import Database
from bot.errors import Conflict
from bot.tx import Origin, Tx
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


def _new_release(version: str) -> Release:
    now = datetime.now(UTC)
    return Release(version=version, type="minor", risk="low", status="active", stage="dev", requested_by="U1",
                   channel_id="C1", checklist={}, created_at=now, updated_at=now)


def test_deferred_work_that_needs_an_id_back_runs_again_in_a_transaction(database_url: str) -> None:
    db = _db(database_url)
    runs: list[bool] = []

    def work(tx: Tx) -> int:
        runs.append(tx.deferred)
        release = _new_release("v2")
        tx.add(release)
        tx.audit(Origin("U1", "test"), "release", release.id or 0, "start")
        return release.id or 0

    rid = db.run(work, deferred=True)
    assert runs == [True, False]  # the deferred try gave way before writing anything
    with db.read() as s:
        assert [r.id for r in s.exec(select(Release)).all()] == [rid]
        assert [(a.action, a.subject_id) for a in s.exec(select(AuditEntry)).all()] == [("start", rid)]


def test_deferred_work_that_rolls_back_a_savepoint_runs_again_and_keeps_only_what_came_before(
        database_url: str) -> None:
    # A deferred batch also holds updates a savepoint cannot roll back, so ``mark`` gives way to a plain
    # transaction: there the savepoint undoes the save and the rewind the rows buffered after the mark.
    db = _db(database_url)
    rid = _seed(db)
    runs: list[bool] = []

    def work(tx: Tx) -> None:
        runs.append(tx.deferred)
        release = tx.session.get(Release, rid)
        assert release is not None
        tx.audit(Origin("U1", "test"), "release", rid, "kept")
        mark = tx.mark()
        try:
            with tx.session.begin_nested():
                tx.save(release, stage="staging")
                tx.audit(Origin("U1", "test"), "release", rid, "rolled back")
                raise ValueError("this step fails")
        except ValueError:
            tx.rewind(mark)

    db.run(work, deferred=True)
    assert runs == [True, False]
    with db.read() as s:
        assert [a.action for a in s.exec(select(AuditEntry)).all()] == ["kept"]
        release = s.get(Release, rid)
        assert release is not None and release.stage == "dev" and release.row_version == 1


def test_deferred_work_inserts_a_new_row_with_its_batch_and_a_later_save_with_it(database_url: str) -> None:
    """insert_new in deferred work: the row gets its id at once (rows of the batch refer to it), is
    written with the batch, and a save of it before the end is part of that insert."""
    db = _db(database_url)
    _seed(db)  # v1, so the new row's id is not simply the first
    runs: list[bool] = []

    def work(tx: Tx) -> int:
        runs.append(tx.deferred)
        release = _new_release("v2")
        assert tx.insert_new(release, "version")
        tx.audit(Origin("U1", "test"), "release", release.id or 0, "start")
        tx.save(release, stage="staging", summary="moved on")
        release.rollback_plan = "redeploy v1"  # set directly: written all the same
        assert not tx.insert_new(_new_release("v1"), "version")  # taken: nothing reserved, nothing written
        return release.id or 0

    rid = db.run(work, deferred=True)
    assert runs == [True]
    with db.read() as s:
        assert [(r.version, r.stage, r.summary, r.rollback_plan, r.row_version)
                for r in s.exec(select(Release).order_by(Release.id))
                ] == [("v1", "dev", "", "", 1), ("v2", "staging", "moved on", "redeploy v1", 2)]
        assert s.get(Release, rid).version == "v2"  # type: ignore[union-attr]
        assert [(a.action, a.subject_id) for a in s.exec(select(AuditEntry)).all()] == [("start", rid)]


def test_deferred_insert_new_that_loses_its_key_to_another_request_finds_it_taken_on_the_retry(
        database_url: str) -> None:
    """Between insert_new's read and the batch, another request inserts the same version: the batch
    fails on the unique key, nothing of it lands, and the retry sees the version taken."""
    db = _db(database_url)
    answers: list[bool] = []

    def work(tx: Tx) -> None:
        answers.append(tx.insert_new(_new_release("v9"), "version"))
        if len(answers) == 1 and db.engine.dialect.name == "postgresql":  # (SQLite: work holds the write lock)
            with db.transaction() as other:
                assert other.insert_new(_new_release("v9"), "version")
                other.audit(Origin("U2", "test"), "release", 0, "theirs")
        if answers[-1]:
            tx.audit(Origin("U1", "test"), "release", 0, "ours")

    db.run(work, deferred=True)
    with db.read() as s:
        assert [r.version for r in s.exec(select(Release)).all()] == ["v9"]
        actions = [a.action for a in s.exec(select(AuditEntry)).all()]
    assert (answers, actions) == (([True, False], ["theirs"]) if db.engine.dialect.name == "postgresql"
                                  else ([True], ["ours"]))


def test_deferred_work_that_flushes_orm_rows_writes_them_once_with_its_batch(database_url: str) -> None:
    """An ORM add and flush inside deferred work (a war room opened by a release event) is never written
    on its own, outside the batch: here the batch loses a race once, and still the new row, the update
    and the audit row land together, once."""
    db = _db(database_url)
    rid = _seed(db)
    raced: list[bool] = []

    def work(tx: Tx) -> None:
        release = tx.session.get(Release, rid)
        if not raced and db.engine.dialect.name == "postgresql":  # (SQLite: work holds the write lock)
            raced.append(True)
            with db.transaction() as other:  # another request moves the release after our read
                other.save(other.session.get(Release, rid), summary="changed meanwhile")
        tx.save(release, stage="staging")
        tx.session.add(_new_release("v3"))
        tx.session.flush()
        tx.audit(Origin("U1", "test"), "release", rid, "promote")

    db.run(work, deferred=True)
    with db.read() as s:
        assert sorted(r.version for r in s.exec(select(Release)).all()) == ["v1", "v3"]
        row = s.get(Release, rid)
        assert row.stage == "staging" and row.row_version == (3 if raced else 2)
        assert len(s.exec(select(AuditEntry)).all()) == 1
