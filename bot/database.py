"""Running work in transactions: retries when a concurrent writer won, deferred work's batch, waking
the sender after a commit, and telling an unreachable database from a failed statement."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, Executable, Row, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlmodel import Session

from bot.clock import Clock
from bot.errors import Conflict, DatabaseUnavailable, NeedsTransaction, WarroomError
from bot.tx import Duplicate, Tx
from storage.db import session_scope

log = logging.getLogger(__name__)
T = TypeVar("T")


class _ReadSession(Session):
    """The session of deferred work on PostgreSQL: autocommit, so an ORM flush would write at once,
    outside the batch; it raises NeedsTransaction instead (see Tx)."""


@event.listens_for(_ReadSession, "before_flush")
def _no_flush(session: Session, *_: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise NeedsTransaction("ORM flush")


class Database:
    """Opens transactions, retries lost compare-and-set races, wakes the sender."""

    def __init__(self, engine: Engine, clock: Clock,
                 on_commit: Callable[[bool, frozenset[str]], None] | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.on_commit = on_commit
        # Called with each committed transaction (e.g. to forget cached copies of the rows it saved).
        self.after_commit: list[Callable[[Tx], None]] = []
        # One-statement writes on PostgreSQL skip BEGIN and COMMIT: the statement is atomic alone.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def transaction(self, *, background: bool = False, deferred: bool = False) -> Iterator[Tx]:
        """A single transaction; queued messages are released after it commits (``deferred``: see Tx)."""
        if deferred:
            with self._deferred(background) as tx:
                yield tx
        else:
            with session_scope(self.engine, background=background) as session:
                tx = Tx(session, self.clock.now())
                yield tx
                tx.finish()
        for hook in self.after_commit:
            hook(tx)
        if tx.queued and self.on_commit:
            # Which lane to wake (a form or ephemeral reply is fast), and what was queued.
            self.on_commit(any(row["fast"] for row in tx._outbox), frozenset(row["op"] for row in tx._outbox))

    @contextmanager
    def _deferred(self, background: bool) -> Iterator[Tx]:
        # PostgreSQL: the reads autocommit and the batch is one statement, so no BEGIN or COMMIT round
        # trips. SQLite: one write transaction as usual (a separate read snapshot first measured
        # slower: a second connection and transaction for every request).
        if self.engine.dialect.name != "postgresql":
            with session_scope(self.engine, background=background) as session:
                tx = Tx(session, self.clock.now(), deferred=True)
                yield tx
                tx.flush(session.connection())
            return
        # One connection, opened on first use; an ORM session only if the work reads through one (an
        # approval decided from a known release, or a start, needs none).
        tx = Tx(lambda: _ReadSession(bind=tx.connection, expire_on_commit=False), self.clock.now(), deferred=True,
                connect=self._autocommit.connect)
        try:
            yield tx
            opened = tx.opened
            if opened is not None and (opened.new or opened.dirty or opened.deleted):
                raise NeedsTransaction("ORM changes")  # they would be lost: nothing flushes this session
            if tx.writes:
                tx.flush(tx.connection)
        finally:
            tx.close()

    def run(self, work: Callable[[Tx], T], *, attempts: int = 8, background: bool = False,
            deferred: bool = False) -> T:
        """Run ``work`` in a transaction, again from the top when a concurrent writer won.

        ``background``: due work no user waits for (on SQLite, requests go first). ``deferred``:
        ``work`` reads, then its writes go in one compare-and-set batch (see Tx).
        """
        for attempt in range(attempts):
            try:
                try:
                    return self._try(work, background, deferred)
                except NeedsTransaction as exc:  # in the same attempt, and for the next ones
                    log.debug("deferred work needs a transaction (%s): running it in one", exc)
                    deferred = False
                    return self._try(work, background, deferred)
            except IntegrityError as exc:
                # A unique key lost a race: for idempotency keys that means a duplicate.
                if "processed_request" in str(exc.orig) or "uq_approval" in str(exc.orig):
                    raise Duplicate(str(exc.orig)) from exc
                if attempt == attempts - 1:
                    raise
            except (DBAPIError, SQLAlchemyTimeoutError) as exc:
                if self.unreachable(exc):
                    if attempt == 0 and getattr(exc, "connection_invalidated", False):
                        continue  # a pooled connection died (a restart): one more try on a fresh one
                    raise DatabaseUnavailable() from exc
                if not isinstance(exc, OperationalError):
                    raise
                if attempt == attempts - 1:  # SQLite busy for too long: another writer
                    raise Conflict("too many concurrent changes; try again") from exc
                time.sleep(0.005 * (attempt + 1))
            except Conflict as exc:
                if attempt == attempts - 1:
                    raise Conflict("too many concurrent changes; try again") from exc
                log.debug("retrying after %s", type(exc).__name__)
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    def _try(self, work: Callable[[Tx], T], background: bool, deferred: bool) -> T:
        with self.transaction(background=background, deferred=deferred) as tx:
            try:
                return work(tx)
            except WarroomError as exc:
                # A re-delivery refused by a rule its first delivery changed is a duplicate.
                if not isinstance(exc, Conflict) and tx.seen_before():
                    raise Duplicate(f"request applied already ({exc.message})") from exc
                raise

    def write_one(self, stmt: Executable, params: dict[str, Any]) -> list[Row[Any]]:
        """Run one self-contained write statement and commit it; returns its rows.

        On PostgreSQL this is a single round trip (autocommit: no BEGIN, no COMMIT); on SQLite
        it is a write transaction queued behind the writer gate like any other.
        """
        if self.engine.dialect.name != "postgresql":
            with session_scope(self.engine) as session:
                return list(session.connection().execute(stmt, params))
        try:
            with self._autocommit.connect() as conn:
                return list(conn.execute(stmt, params))
        except (DBAPIError, SQLAlchemyTimeoutError) as exc:
            if self.unreachable(exc):
                raise DatabaseUnavailable() from exc
            raise

    def unreachable(self, exc: BaseException) -> bool:
        """True when ``exc`` means the database cannot be reached, not that a statement failed."""
        if isinstance(exc, SQLAlchemyTimeoutError) or getattr(exc, "connection_invalidated", False):
            return True
        if self.engine.dialect.name != "postgresql" or not isinstance(exc, OperationalError):
            return False
        text = str(getattr(exc, "orig", exc)).lower()
        return any(w in text for w in ("connect", "server closed", "terminating", "timeout", "timed out"))

    def ping(self) -> str | None:
        """None when the database answers; else why not (for /readyz)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:  # reported, not raised: readiness is a yes/no question
            return f"database unreachable: {type(exc).__name__}"
        return None

    def read(self) -> Session:
        """A session for reads (use as a context manager)."""
        return Session(self.engine, expire_on_commit=False)

    def first(self, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """The first row of a Core read, outside any transaction of the caller's (on PostgreSQL
        without BEGIN and ROLLBACK round trips)."""
        with (self._autocommit if self.engine.dialect.name == "postgresql" else self.engine).connect() as conn:
            return conn.execute(statement, params).first()
