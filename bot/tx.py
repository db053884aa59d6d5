"""The unit of work of one request: state change, audit row and outgoing messages commit together
(``bot.database.Database`` runs it and wakes the sender only after the commit). Workflow code
queues Slack calls through ``tx.slack`` (``bot.outbox_port.SlackPort``), one typed method per
gateway verb."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel

from bot.errors import Conflict, NeedsTransaction
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
from storage.models import AuditEntry, OutboxMessage, ProcessedRequest, table_of


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
    rows it needs nothing back from; ``add``, ``cancel_pending``, ``mark`` or (on PostgreSQL, where the reads
    autocommit) an ORM flush raise NeedsTransaction, and Database.run runs the work again in a plain
    transaction. ``insert_new`` works there too: on PostgreSQL it reserves the row's id with a read
    and the row goes in the batch.
    """

    def __init__(self, session: Session | Callable[[], Session], now: datetime, *, deferred: bool = False,
                 connect: Callable[[], Connection] | None = None) -> None:
        # A callable: the session is opened on first use (deferred work that reads nothing needs none).
        self.opened: Session | None = session if isinstance(session, Session) else None
        self._open: Callable[[], Session] | None = None if isinstance(session, Session) else session
        # Deferred on PostgreSQL: reads commit at once on a connection opened on first use (the session,
        # if the work needs one, is bound to it), so a new row can only go in the batch.
        self._connect = connect
        self._conn: Connection | None = None
        self.now = now
        self.deferred = deferred
        self._audit: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []
        self._keys: list[dict[str, Any]] = []
        self._updates: dict[tuple[str, int], Update] = {}
        self._rows: dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]] = {}
        # insert_new's rows in a deferred transaction on PostgreSQL, by (table, id): the batch inserts them.
        self._reserved: dict[tuple[str, int], tuple[Any, SQLModel]] = {}
        self.saved: set[tuple[str, int]] = set()  # (table, id) of every row ``save`` changed
        self.slack = SlackPort(self._outbox.append, now, None if deferred else self.session)
        # Lookups a batch repeats (e.g. the open releases' shas), valid for this transaction only.
        self.memo: dict[str, Any] = {}

    @property
    def session(self) -> Session:
        """The transaction's session."""
        if self.opened is None:
            assert self._open is not None
            self.opened = self._open()
        return self.opened

    @property
    def connection(self) -> Connection:
        """The transaction's connection (the session's, unless the transaction opens its own)."""
        if self._connect is None:
            return self.session.connection()
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def close(self) -> None:
        """Close what was opened on first use (deferred work on PostgreSQL)."""
        if self.opened is not None:
            self.opened.close()
        if self._conn is not None:
            self._conn.close()

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
        CPU; the row then joins the session as if it had been loaded, so later changes to it flush
        (deferred on PostgreSQL: it is inserted with the batch, as it is by then).
        """
        table = table_of(type(row))
        if self._connect is not None:
            # Deferred on PostgreSQL: one read now, and the row joins the batch as it is by then, later
            # saves included (the statement fails on the unique key if another request inserted the same
            # value meanwhile; run retries). It joins no session: nothing here would flush it.
            new_id = reserve_unless_exists(self.connection, table, unique, getattr(row, unique))
            if new_id is None:
                return False
            set_committed_value(row, "id", new_id)
            self._reserved[(table.name, new_id)] = (table, row)
            return True
        new_id = insert_unless_exists(self.session.connection(), table, _set_columns(table, row), unique)
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
        if (table.name, row_id) in self._reserved:  # not written yet: the batch inserts it as it is then
            changes["row_version"] = seen + 1
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
        if self.deferred:
            # A deferred transaction also buffers rows, updates and reserved inserts, which a savepoint
            # cannot roll back: the work runs again in a plain transaction, where only these three buffer.
            raise NeedsTransaction("mark")
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
        return [*((table, [_set_columns(table, row)]) for table, row in self._reserved.values()),
                *((table, rows) for (table, _), rows in self._rows.items()), (table_of(ProcessedRequest), self._keys),
                (table_of(AuditEntry), self._audit), (table_of(OutboxMessage), self._outbox)]


def _set_columns(table: Any, row: SQLModel) -> dict[str, Any]:
    # Unset (None) columns are left out, so the table's defaults apply. A new row keeps its values in
    # its __dict__; reading them there skips SQLAlchemy's attribute machinery (getattr for the rest).
    state = row.__dict__
    return {c.name: value for c in table.columns
            if (value := state[c.name] if c.name in state else getattr(row, c.name)) is not None}
