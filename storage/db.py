"""Engine and session scope. SQLite gets WAL and ``BEGIN IMMEDIATE`` so concurrent writers
queue instead of failing; PostgreSQL runs at READ COMMITTED with compare-and-set updates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from storage.gate import WriterGate


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, timeout: float = 5.0) -> Engine:
    """Create the engine for ``url`` with the settings each backend needs.

    ``timeout`` bounds how long a request waits to connect (PostgreSQL) or for a pooled
    connection, so an unreachable database is reported within Slack's 3 s ack window.
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    # No pre-ping (a round trip per request): a connection the server dropped fails once,
    # SQLAlchemy invalidates the pool, and Database.run retries on a fresh one.
    # Twenty kept connections and no overflow (the same ceiling as before): an overflow connection
    # is closed when returned, and opening it again costs a few ms on the ack path under bursts.
    # No recycling by age: the pool's connections are opened together, so they were recycled
    # together, each a new backend with cold caches, and acks in that minute took 40 ms at p99
    # (one-hour soak). A dropped connection is found by the keep-alives and invalidated.
    engine = create_engine(url, pool_size=20, max_overflow=0, pool_timeout=timeout,
                         connect_args={"connect_timeout": max(1, round(timeout)),
                                       # Keep-alives notice a vanished server within seconds.
                                       "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                                       "keepalives_count": 2})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # A process frozen or cut off mid-transaction must not hold its row locks for ever
        # (the other replicas' claims would wait on them).
        with dbapi_conn.cursor() as cur:
            cur.execute("SET idle_in_transaction_session_timeout = 30000")
        dbapi_conn.commit()

    return engine


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front (two readers that both upgrade to writers deadlock);
        # readers begin deferred so they never wait for, or hold up, a writer.
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


WRITE_OPTION = "warroom_write"


def is_postgres(engine: Engine | Connection) -> bool:
    """True for PostgreSQL, where row claims use FOR UPDATE SKIP LOCKED."""
    return engine.dialect.name == "postgresql"


_gates: dict[int, WriterGate] = {}
_gates_lock = threading.Lock()


def _write_lock(engine: Engine, background: bool) -> AbstractContextManager[Any]:
    # SQLite has one writer at a time: writers queue in storage.gate, not in SQLite's busy handler.
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _gates_lock:
        gate = _gates.get(id(engine))
        if gate is None:
            database = engine.url.database
            # A file shared with other processes gets lock files beside it; memory is ours alone.
            shared = Path(database).resolve() if database and database != ":memory:" else None
            gate = _gates[id(engine)] = WriterGate(shared)
    return gate.hold(background)


@contextmanager
def session_scope(engine: Engine, *, background: bool = False) -> Iterator[Session]:
    """One write transaction: commit on success, roll back on any error.

    ``background``: work no user waits for; on SQLite it lets waiting requests go first.
    """
    with _write_lock(engine, background), \
            Session(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
