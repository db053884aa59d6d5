"""Rows of several tables inserted together, at the end of a transaction.

On PostgreSQL they go in one statement, so one round trip: data-modifying CTEs, each reading its
rows from one JSON parameter with ``json_to_recordset``. The statement's text depends only on
the tables and their columns, so it is built once and cached (by us and by psycopg's prepared
statements); SQLAlchemy cannot cache a multi-VALUES insert, and compiling one on every
request cost more than the round trip it saves. Elsewhere each table gets a cached executemany.

``write_all`` adds compare-and-set updates in front of the inserts: a request that read first and
buffered all its writes commits them in that one statement, in autocommit (no BEGIN, no COMMIT).
Each update reads its one row with ``json_to_record``, so the planner finds it by primary key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import JSON, Connection, Table, TextClause, bindparam, insert, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from storage.types import UTCDateTime

Group = tuple[Table, list[dict[str, Any]]]
_statements: dict[tuple[tuple[str, tuple[str, ...]], ...], str] = {}


def insert_all(conn: Connection, groups: Sequence[Group]) -> None:
    """Insert each group's rows (rows of one group share their keys), in one statement on PostgreSQL."""
    present = [(table, rows) for table, rows in groups if rows]
    if not present:
        return
    if conn.dialect.name != "postgresql" or not _uniform(present):
        for table, rows in present:
            insert_rows(conn, table, rows)
        return
    shapes = tuple((table.name, tuple(rows[0])) for table, rows in present)
    sql = _statements.get(shapes)
    if sql is None:
        sql = _statements[shapes] = _pg_sql(conn, _statement(conn, present))
    on_driver(conn, sql, {f"rows{i}": json.dumps([_plain(table, row) for row in rows])
                          for i, (table, rows) in enumerate(present)})


def _pg_sql(conn: Connection, statement: TextClause) -> str:
    return str(statement.compile(dialect=conn.dialect))


def on_driver(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    """Run ``sql`` (compiled once for psycopg) on the driver's connection; its first row, if it returns any.

    For the prebuilt statements of the ack path: ``Connection.execute`` cost as much CPU again as
    psycopg's own work (37 against 37 µs). Errors come out as Core raises them, and a connection that
    turns out dropped is invalidated, so the pool replaces it and Database.run tries once more."""
    fairy = conn.connection
    dbapi = conn.dialect.loaded_dbapi
    cursor = fairy.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None
    except dbapi.Error as exc:
        gone = conn.dialect.is_disconnect(exc, fairy, cursor)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, params, exc, dbapi.Error, connection_invalidated=gone,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()


_compiled: dict[tuple[str, ...], tuple[str, tuple[str, ...], dict[str, Any]]] = {}


def _converters(compiled: Any, conn: Connection) -> dict[str, Callable[[Any], Any]]:
    # The conversion Core applies to each bound value (a UTC datetime to SQLite's text, JSON to its
    # string), found through the public type API: the same processors Core caches for itself.
    out = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if process is not None:
            out[name] = process
    return out


def _direct(conn: Connection, key: tuple[str, ...], make: Callable[[], Any],
            rows: list[dict[str, Any]]) -> tuple[int, Any]:
    """Run ``make()``'s statement once per row on the driver's connection (SQLite), in the transaction
    ``conn`` has begun; returns the rows changed and the first row it returned (if any).

    SQLAlchemy compiles the statement once (its SQL, the order of its parameters and how each
    column's type converts a value); running it through ``Connection.execute`` cost three times the
    statement itself (39 us against 12 us for an insert)."""
    found = _compiled.get(key)
    if found is None:
        compiled = make().compile(dialect=conn.dialect, column_keys=list(rows[0]))
        found = _compiled[key] = (compiled.string, tuple(compiled.positiontup or ()), _converters(compiled, conn))
    sql, order, convert = found
    params = [tuple(convert[n](row[n]) if n in convert else row[n] for n in order) for row in rows]
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if len(params) == 1:
            cursor.execute(sql, params[0])
            first = cursor.fetchone() if cursor.description else None
        else:
            cursor.executemany(sql, params)
            first = None
        return int(cursor.rowcount), first
    except dbapi.Error as exc:  # raised as Core raises it (IntegrityError for a repeated key, ...)
        raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=conn.dialect) from exc
    finally:
        cursor.close()


_unique: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def unless_exists(dialect: str, table: Table, unique: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING id`` into ``table``, built once per dialect
    (the values are given when it runs)."""
    key = (dialect, table.name, unique)
    statement = _unique.get(key)
    if statement is None:
        dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = _unique[key] = (dialect_insert(table).on_conflict_do_nothing(index_elements=list(unique))
                                    .returning(table.c.id))
    return statement


def insert_unless_exists(conn: Connection, table: Table, values: dict[str, Any], unique: str) -> int | None:
    """Insert one row and return its id, or None when a row with the same ``unique`` column value
    exists: one statement (``ON CONFLICT DO NOTHING ... RETURNING``) in place of a read, then a write."""
    statement = unless_exists(conn.dialect.name, table, (unique,))
    found = _first_row(conn, ("unique", table.name, unique, *values), statement, values)
    return int(found[0]) if found else None


def _first_row(conn: Connection, key: tuple[str, ...], statement: Any, values: dict[str, Any]) -> Any:
    # One row written by ``statement`` and what its RETURNING gave (SQLite: straight to the driver).
    if conn.dialect.name == "sqlite":
        return _direct(conn, key, lambda: statement, [values])[1]
    return conn.execute(statement, values).first()


_reserve: dict[tuple[str, str], str] = {}


def reserve_unless_exists(conn: Connection, table: Table, unique: str, value: Any) -> int | None:
    """PostgreSQL: the id the row whose ``unique`` column is ``value`` will be inserted with, or None
    when a row with that value exists. One read, so the row itself can join a transaction's one write
    statement (``write_all``); a concurrent insert of the same value fails that statement instead."""
    key = (table.name, unique)
    sql = _reserve.get(key)
    if sql is None:
        quote = conn.dialect.identifier_preparer.quote
        # The table's own serial sequence, found as an INSERT would (search_path), with no id spent
        # on a value that is taken.
        sql = _reserve[key] = _pg_sql(conn, text(
            f"SELECT CASE WHEN EXISTS (SELECT 1 FROM {quote(table.name)} WHERE {quote(unique)} = :value) "
            f"THEN NULL ELSE nextval(pg_get_serial_sequence('{table.name}', 'id')) END"))
    found = on_driver(conn, sql, {"value": value})[0]
    return None if found is None else int(found)


_returning: dict[str, Any] = {}


def insert_returning_id(conn: Connection, table: Table, values: dict[str, Any]) -> int:
    """Insert one row and return its id (one statement, built once per table)."""
    statement = _returning.get(table.name)
    if statement is None:
        statement = _returning[table.name] = insert(table).returning(table.c.id)
    found = _first_row(conn, ("returning", table.name, *values), statement, values)
    assert found is not None  # an INSERT ... RETURNING that did not fail returns its row
    return int(found[0])


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows that share their keys (on SQLite straight through the driver, see ``_direct``)."""
    if conn.dialect.name == "sqlite" and _uniform([(table, rows)]):
        _direct(conn, ("insert", table.name, *rows[0]), partial(insert, table), rows)
    else:
        conn.execute(insert(table), rows)


def compare_and_set(conn: Connection, table: Table, row_id: int, seen: int, changes: dict[str, Any]) -> bool:
    """Update row ``row_id`` with ``changes`` if its row_version is still ``seen``; False if it is not."""
    if conn.dialect.name == "sqlite":
        row = {"_id": row_id, "_seen": seen, **changes}
        return _direct(conn, ("cas", table.name, *changes), partial(_cas_update, table, tuple(changes)), [row])[0] == 1
    stmt = update(table).where(table.c.id == row_id, table.c.row_version == seen).values(**changes)
    return bool(conn.execute(stmt).rowcount == 1)


def _uniform(groups: Sequence[Group]) -> bool:
    return all(row.keys() == rows[0].keys() for _, rows in groups for row in rows)


def _statement(conn: Connection, present: Sequence[Group]) -> TextClause:
    *ctes, last = [_insert_sql(conn, i, table, list(rows[0])) for i, (table, rows) in enumerate(present)]
    head = "WITH " + ", ".join(f"g{i} AS ({sql})" for i, sql in enumerate(ctes)) + " " if ctes else ""
    return text(head + last)


def _record(conn: Connection, table: Table, columns: Sequence[str]) -> str:
    """The column list of ``json_to_recordset(...) AS r(...)``: each column with its SQL type."""
    quote = conn.dialect.identifier_preparer.quote
    return ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=conn.dialect)}" for c in columns)


def _insert_sql(conn: Connection, i: int, table: Table, columns: list[str], where: str = "") -> str:
    """Insert the rows of JSON parameter ``rows{i}`` into ``table`` (``where``: a guard)."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    return (f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} "
            f"FROM json_to_recordset(CAST(:rows{i} AS json)) AS r({_record(conn, table, columns)}){where}")


_UTC, _JSON, _OTHER = 0, 1, 2
_AS_IS = (str, int, float, bool)
_kinds: dict[str, dict[str, int]] = {}


def _kinds_of(table: Table) -> dict[str, int]:
    # Per table, once: looking each column's type up for every value of every row was most of _plain.
    kinds = _kinds.get(table.name)
    if kinds is None:
        kinds = _kinds[table.name] = {c.name: _UTC if isinstance(c.type, UTCDateTime) else
                                      _JSON if isinstance(c.type, JSON) else _OTHER for c in table.columns}
    return kinds


def _plain(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row as JSON values, converted as each column's type would bind it."""
    kinds = _kinds_of(table)
    out: dict[str, Any] = {}
    for key, value in row.items():
        kind = kinds[key]  # KeyError for a column the table lacks, as table.c[key] raised
        if value is None or kind == _JSON or (type(value) in _AS_IS and kind == _OTHER):
            pass
        elif isinstance(value, datetime) and kind == _UTC:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC).replace(tzinfo=None).isoformat()
        elif not isinstance(value, str | int | float | bool):
            value = str(value)
        out[key] = value
    return out


# A compare-and-set update: (table, row id, the row_version it was read at, the new values,
# row_version among them).
Update = tuple[Table, int, int, dict[str, Any]]
_writes: dict[tuple[tuple[str, str, tuple[str, ...]], ...], str] = {}
DIVISION_BY_ZERO = "22012"  # SQLSTATE: how the one-statement form refuses a stale batch


class Stale(Exception):
    """A compare-and-set update found its row changed or gone: nothing of the batch was written."""


def write_all(conn: Connection, updates: Sequence[Update], groups: Sequence[Group]) -> None:
    """Apply ``updates`` (each only if its row still has the version read), then insert ``groups``: all
    or nothing, Stale when any row changed meanwhile. One statement on PostgreSQL, atomic by itself, so
    it needs no BEGIN and COMMIT round trips (autocommit)."""
    if conn.dialect.name != "postgresql":
        for table, row_id, seen, changes in updates:
            if not compare_and_set(conn, table, row_id, seen, changes):
                raise Stale(f"{table.name} {row_id}")
        insert_all(conn, groups)
        return
    if not updates:
        insert_all(conn, groups)
        return
    present = [(table, rows) for table, rows in groups if rows]
    if not _uniform(present):
        raise ValueError("rows of one group must have the same columns")
    shapes = (*(("u", table.name, tuple(changes)) for table, _, _, changes in updates),
              *(("g", table.name, tuple(rows[0])) for table, rows in present))
    sql = _writes.get(shapes)
    if sql is None:
        sql = _writes[shapes] = _pg_sql(conn, _cas_statement(conn, updates, present))
    params = {f"upd{i}": json.dumps({"id": row_id, "_seen": seen, **_plain(table, changes)})
              for i, (table, row_id, seen, changes) in enumerate(updates)}
    params |= {f"rows{i}": json.dumps([_plain(table, row) for row in rows]) for i, (table, rows) in enumerate(present)}
    try:
        ok = on_driver(conn, sql, params)[0]
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == DIVISION_BY_ZERO:
            raise _stale(updates) from exc
        raise
    if not ok:
        raise _stale(updates)


def _stale(updates: Sequence[Update]) -> Stale:
    return Stale(", ".join(f"{table.name} {row_id}" for table, row_id, _, _ in updates))


def _cas_update(table: Table, columns: tuple[str, ...]) -> Any:
    return (update(table).where(table.c.id == bindparam("_id"), table.c.row_version == bindparam("_seen"))
            .values({c: bindparam(c) for c in columns}))


def _cas_statement(conn: Connection, updates: Sequence[Update], present: Sequence[Group]) -> TextClause:
    quote = conn.dialect.identifier_preparer.quote
    ctes = []
    for i, (table, _, _, changes) in enumerate(updates):
        sets = ", ".join(f"{quote(c)} = r.{quote(c)}" for c in changes)
        # json_to_record: one row, and the planner knows it, so the row is found by its primary key.
        # json_to_recordset is estimated at 100 rows, which made this a hash join over a sequential
        # scan of the whole table (0.4 ms at 2,000 releases, growing with every release).
        ctes.append(f"u{i} AS (UPDATE {quote(table.name)} AS t SET {sets} "
                    f"FROM json_to_record(CAST(:upd{i} AS json)) AS r(id INTEGER, _seen INTEGER, "
                    f"{_record(conn, table, list(changes))}) "
                    "WHERE t.id = r.id AND t.row_version = r._seen RETURNING 1)")
    # Every update must have found its row as read; the inserts wait for that answer (a CTE's
    # RETURNING is the only way its effects reach the rest of the statement).
    found = " + ".join(f"(SELECT count(*) FROM u{i})" for i in range(len(updates)))
    ctes.append(f"ok AS (SELECT {found} = {len(updates)} AS ok)")
    ctes += [f"g{i} AS ({_insert_sql(conn, i, table, list(rows[0]), ' WHERE (SELECT ok FROM ok)')})"
             for i, (table, rows) in enumerate(present)]
    if len(updates) == 1:
        # The one update did not match, so nothing was written: answered, not raised (a stale read
        # is routine, and an error would land in the server's log every time).
        return text("WITH " + ", ".join(ctes) + " SELECT (SELECT ok FROM ok)")
    # A stale batch must leave no trace, not even the updates that did match: an error (division by
    # zero, computed from the subquery so the planner cannot fold it) rolls the statement back.
    return text("WITH " + ", ".join(ctes) + " SELECT 1 / CAST((SELECT ok FROM ok) AS INTEGER)")
