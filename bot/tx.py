"""One transaction per request: state change, audit row and outgoing messages commit
together; the sender is woken only after the commit. Workflow code queues Slack calls through
``tx.slack`` (``bot.outbox_port.SlackPort``), one typed method per gateway verb."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Row, event, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel

from bot.clock import Clock
from bot.errors import Conflict, DatabaseUnavailable, NeedsTransaction, WarroomError
from bot.ops import Op
from bot.outbox_port import SlackPort
from bot.outbox_port import outbox_row as outbox_row  # re-exported for outbox hooks that write rows
from bot.outbox_port import ref as ref  # re-exported: workflow code names placeholders with bot.tx.ref
from storage.bulk import (
    Stale,
    Update,
    compare_and_set,
    insert_all,
    insert_returning_id,
    insert_rows,
    insert_unless_exists,
    reserve_unless_exists,
    write_all,
)
from storage.db import session_scope
from storage.models import AuditEntry, OutboxMessage, ProcessedRequest, table_of

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Origin:
    """Who asked and through which request: recorded on every audit row."""

    user: str
    source: str  # e.g. "slack:/release", "slack:block_actions", "api", "scheduler"
    request_id: str | None = None


class Duplicate(Exception):
    """This request was applied already (Slack re-delivered it, or a double click)."""


class Tx:
    """The unit of work handed to workflow code.

    Audit rows and outgoing messages are buffered and written with one
    Core insert each when the transaction ends: far cheaper than ORM objects on the ack path.

    ``deferred``: the session only reads; ``insert`` and ``save`` are buffered too, and everything is
    written at the end in one compare-and-set batch (``storage.bulk.write_all``), which fails as a
    whole if a row saved here changed after it was read. For work that reads, decides, then writes
    rows it needs nothing back from; ``add``, ``cancel_pending`` or (on PostgreSQL, where the reads
    autocommit) an ORM flush raise NeedsTransaction, and Database.run runs the work again in a plain
    transaction. ``insert_new`` works there too: on PostgreSQL it reserves the row's id with a read
    and the row goes in the batch.
    """

    def __init__(self, session: Session, now: datetime, *, deferred: bool = False) -> None:
        self.session = session
        self.now = now
        self.deferred = deferred
        self._audit: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []
        self._keys: list[dict[str, Any]] = []
        self._updates: dict[tuple[str, int], Update] = {}
        self._rows: dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]] = {}
        # insert_new's rows in a deferred transaction on PostgreSQL, by (table, id): the batch inserts them.
        self._reserved: dict[tuple[str, int], tuple[Any, dict[str, Any]]] = {}
        self.saved: set[tuple[str, int]] = set()  # (table, id) of every row ``save`` changed
        self.slack = SlackPort(self._outbox.append, now, None if deferred else session)
        # Lookups a batch repeats (e.g. the open releases' shas), valid for this transaction only.
        self.memo: dict[str, Any] = {}

    @property
    def queued(self) -> int:
        """How many Slack calls this transaction queued."""
        return len(self._outbox)

    def once(self, key: str | None) -> None:
        """Record an idempotency key; a second use of it makes Database.run raise Duplicate."""
        if key:
            # Written with the other buffered rows when the transaction ends (no round trip of
            # its own). A re-delivery that meets a business rule the first one already changed
            # ("exists already") is told apart by Database.run, which then looks the key up.
            self._keys.append({"key": key, "at": self.now})

    def seen_before(self) -> bool:
        """True when a key given to ``once`` was recorded by an earlier, committed request."""
        if not self._keys:
            return False
        table = table_of(ProcessedRequest)
        keys = [k["key"] for k in self._keys]
        try:
            return self.session.connection().execute(
                select(table.c.key).where(table.c.key.in_(keys)).limit(1)).first() is not None
        except DBAPIError:  # the transaction failed already: nothing to learn from it
            return False

    def send(self, op: Op, *, store_as: str | None = None, coalesce: str | None = None, delay: float = 0,
             **payload: Any) -> None:
        """Queue a call to a system other than Slack (Op.WEBHOOK, Op.GITHUB); Slack calls go through
        ``tx.slack``, whose methods check their arguments."""
        self._outbox.append(outbox_row(self.now, op, payload, store_as=store_as, coalesce=coalesce, delay=delay))

    def audit(self, origin: Origin, subject: str, subject_id: int, action: str, *,
              from_state: str | None = None, to_state: str | None = None,
              reason: str | None = None, **detail: Any) -> None:
        """Append an audit row: who, when, what, from which request, why."""
        self._audit.append({
            "subject": subject, "subject_id": subject_id, "actor": origin.user, "action": action,
            "from_state": from_state, "to_state": to_state, "reason": reason, "source": origin.source,
            "request_id": origin.request_id, "detail": detail, "at": self.now,
        })

    def insert(self, row: SQLModel) -> None:
        """Insert a row that nothing reads back in this transaction (Core: no unit-of-work cost)."""
        table = table_of(type(row))
        values = _set_columns(table, row)
        if self.deferred:
            self._rows.setdefault((table, tuple(values)), []).append(values)
            return
        insert_rows(self.session.connection(), table, [values])

    def insert_new(self, row: SQLModel, unique: str) -> bool:
        """Insert ``row`` unless one with the same ``unique`` column value exists (then False).

        One statement, where a lookup and an ORM flush took two round trips and most of a request's
        CPU; the row then joins the session as if it had been loaded, so later changes to it flush.
        """
        table = table_of(type(row))
        values = _set_columns(table, row)
        conn = self.session.connection()
        if isinstance(self.session, _ReadSession):
            # Deferred on PostgreSQL: one read now, and the row joins the batch (whose statement fails
            # on the unique key if another request inserted the same value meanwhile; run retries).
            new_id = reserve_unless_exists(conn, table, unique, values[unique])
            if new_id is not None:
                self._reserved[(table.name, new_id)] = (table, {**values, "id": new_id})
        else:
            new_id = insert_unless_exists(conn, table, values, unique)
        if new_id is None:
            return False
        self._adopt(row, new_id)
        return True

    def add(self, row: SQLModel) -> None:
        """Insert ``row`` now and give it its id; it then joins the session as ``insert_new``'s rows do.

        A Core insert with ``RETURNING``: the ORM's flush of one new row cost more than the statement.
        """
        if self.deferred:
            raise NeedsTransaction("add")
        table = table_of(type(row))
        self._adopt(row, insert_returning_id(self.session.connection(), table, _set_columns(table, row)))

    def _adopt(self, row: SQLModel, new_id: int) -> None:
        set_committed_value(row, "id", new_id)
        make_transient_to_detached(row)
        self.session.add(row)

    def save(self, row: SQLModel, **changes: Any) -> None:
        """Compare-and-set: apply ``changes`` only if nobody bumped ``row_version`` meanwhile."""
        model = type(row)
        seen: int = getattr(row, "row_version")  # noqa: B009 - every versioned table has it, SQLModel does not
        row_id = getattr(row, "id")  # noqa: B009
        table = table_of(model)
        self.saved.add((table.name, row_id))
        reserved = self._reserved.get((table.name, row_id))
        if reserved is not None:  # not written yet: the batch inserts it with these changes
            changes["row_version"] = seen + 1
            reserved[1].update(changes)
            for key, value in changes.items():
                set_committed_value(row, key, value)
            return
        if self.deferred:
            # Saved twice: one update from the version first read (one statement cannot update a row twice).
            _, _, seen, earlier = self._updates.get((table.name, row_id), (table, row_id, seen, {}))
            changes = {**earlier, **changes, "row_version": seen + 1}
            self._updates[(table.name, row_id)] = (table, row_id, seen, changes)
            for key, value in changes.items():
                set_committed_value(row, key, value)
            return
        changes["row_version"] = seen + 1
        # Core, not ORM: the ORM's bulk-update machinery costs more than the query itself.
        if not compare_and_set(self.session.connection(), table, row_id, seen, changes):
            raise Conflict(f"{model.__name__} {row_id} changed meanwhile")
        for key, value in changes.items():
            # The row in memory now matches the database; nothing is left for the ORM to flush.
            set_committed_value(row, key, value)

    def mark(self) -> tuple[int, int, int]:
        """A point to ``rewind`` to: the buffered audit, outbox and key rows so far."""
        return len(self._audit), len(self._outbox), len(self._keys)

    def rewind(self, mark: tuple[int, int, int]) -> None:
        """Drop what was buffered after ``mark`` (its savepoint was rolled back)."""
        del self._audit[mark[0]:]
        del self._outbox[mark[1]:]
        del self._keys[mark[2]:]

    def finish(self) -> None:
        """Write the buffered rows; called just before commit (one round trip on PostgreSQL)."""
        insert_all(self.session.connection(), self._buffered())

    @property
    def writes(self) -> bool:
        """True when a deferred transaction has something to write."""
        return bool(self._updates or self._reserved or self._rows or self._keys or self._audit or self._outbox)

    def flush(self, conn: Connection) -> None:
        """Write a deferred transaction's batch on ``conn``; Conflict if a saved row changed meanwhile."""
        try:
            write_all(conn, list(self._updates.values()), self._buffered())
        except Stale as exc:
            raise Conflict(f"changed meanwhile: {exc}") from exc

    def _buffered(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        # Reserved rows first: the batch's other rows may refer to them. One group each, as a later
        # save may have given one columns the others lack.
        return [*((table, [values]) for table, values in self._reserved.values()),
                *((table, rows) for (table, _), rows in self._rows.items()), (table_of(ProcessedRequest), self._keys),
                (table_of(AuditEntry), self._audit), (table_of(OutboxMessage), self._outbox)]


def _set_columns(table: Any, row: SQLModel) -> dict[str, Any]:
    # Unset (None) columns are left out, so the table's defaults apply.
    return {c.name: value for c in table.columns if (value := getattr(row, c.name)) is not None}


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
        with _ReadSession(self._autocommit, expire_on_commit=False) as session:
            tx = Tx(session, self.clock.now(), deferred=True)
            yield tx
            if session.new or session.dirty or session.deleted:
                raise NeedsTransaction("ORM changes")  # they would be lost: nothing flushes this session
            if tx.writes:
                tx.flush(session.connection())

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
