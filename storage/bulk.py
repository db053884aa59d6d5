"""Rows of several tables inserted together, at the end of a transaction.

On PostgreSQL they go in one statement, so one round trip: data-modifying CTEs, each reading its
rows from one JSON parameter with ``json_to_recordset``. The statement's text depends only on
the tables and their columns, so it is built once and cached (by us and by psycopg's prepared
statements); SQLAlchemy cannot cache a multi-VALUES insert, and compiling one on every
request cost more than the round trip it saves. Elsewhere each table gets a cached executemany.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table, TextClause, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.types import UTCDateTime

Group = tuple[Table, list[dict[str, Any]]]
_statements: dict[tuple[tuple[str, tuple[str, ...]], ...], TextClause] = {}


def insert_all(conn: Connection, groups: Sequence[Group]) -> None:
    """Insert each group's rows (rows of one group share their keys), in one statement on PostgreSQL."""
    present = [(table, rows) for table, rows in groups if rows]
    if not present:
        return
    shapes = tuple((table.name, tuple(rows[0])) for table, rows in present)
    uniform = all(set(row) == set(rows[0]) for _, rows in present for row in rows)
    if conn.dialect.name != "postgresql" or not uniform:
        for table, rows in present:
            conn.execute(insert(table), rows)
        return
    statement = _statements.get(shapes)
    if statement is None:
        statement = _statements[shapes] = _statement(conn, present)
    conn.execute(statement, {f"rows{i}": json.dumps([_plain(table, row) for row in rows])
                             for i, (table, rows) in enumerate(present)})


_unique: dict[tuple[str, str, str, tuple[str, ...]], Any] = {}


def insert_unless_exists(conn: Connection, table: Table, values: dict[str, Any], unique: str) -> int | None:
    """Insert one row and return its id, or None when a row with the same ``unique`` column value
    exists: one statement (``ON CONFLICT DO NOTHING ... RETURNING``) in place of a read, then a write."""
    key = (conn.dialect.name, table.name, unique, tuple(values))
    statement = _unique.get(key)
    if statement is None:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = _unique[key] = (dialect_insert(table).on_conflict_do_nothing(index_elements=[unique])
                                    .returning(table.c.id))
    found = conn.execute(statement, values).first()
    return int(found[0]) if found else None


def _statement(conn: Connection, present: Sequence[Group]) -> TextClause:
    quote = conn.dialect.identifier_preparer.quote
    parts = []
    for i, (table, rows) in enumerate(present):
        columns = list(rows[0])
        names = ", ".join(quote(c) for c in columns)
        record = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=conn.dialect)}" for c in columns)
        parts.append(f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} "
                     f"FROM json_to_recordset(CAST(:rows{i} AS json)) AS r({record})")
    *ctes, last = parts
    head = "WITH " + ", ".join(f"g{i} AS ({sql})" for i, sql in enumerate(ctes)) + " " if ctes else ""
    return text(head + last)


def _plain(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row as JSON values, converted as each column's type would bind it."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        kind = table.c[key].type
        if isinstance(value, datetime) and isinstance(kind, UTCDateTime):
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC).replace(tzinfo=None).isoformat()
        elif value is not None and not isinstance(kind, JSON) and not isinstance(value, str | int | float | bool):
            value = str(value)
        out[key] = value
    return out
