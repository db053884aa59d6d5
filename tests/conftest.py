"""Fixtures shared by every suite: database backends (SQLite, and PostgreSQL when
WARROOM_TEST_POSTGRES_URL is set, as .ci/run does) and a clean environment."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from bot.services import Services
from bot.wake import wake_dir
from storage.db import normalize_url
from tests.support import make_services

PG_URL = os.environ.get("WARROOM_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]
_ENV = ("SLACK_", "WARROOM_", "DATABASE_URL")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set what they need; nothing from the developer's shell leaks in."""
    for name in list(os.environ):
        if name.startswith(_ENV) and name != "WARROOM_TEST_POSTGRES_URL":
            monkeypatch.delenv(name, raising=False)


def _pg_schema_url(schema: str) -> str:
    assert PG_URL
    sep = "&" if "?" in PG_URL else "?"
    return f"{normalize_url(PG_URL)}{sep}options=-csearch_path%3D{schema}"


def _fresh_database(kind: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        yield from _without_wake_dir(f"sqlite:///{tmp_path}/warroom.db")
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(PG_URL or ""), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield from _without_wake_dir(_pg_schema_url(schema))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _without_wake_dir(url: str) -> Iterator[str]:
    """Yield ``url``, then remove its workers' wake directory: a worker a test killed with SIGKILL
    leaves its socket there, and nothing else will ever use this database again."""
    try:
        yield url
    finally:
        folder = wake_dir(url)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on the PostgreSQL server."""
    yield from _fresh_database(request.param, tmp_path)


@pytest.fixture(params=[b for b in BACKENDS if b == "postgres"])
def postgres_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A new schema on the PostgreSQL server, for what only PostgreSQL can do (become
    unreachable); without WARROOM_TEST_POSTGRES_URL such a test has no case to run."""
    yield from _fresh_database(request.param, tmp_path)


@pytest.fixture
def services(database_url: str) -> Iterator[Services]:
    """One process's services on a fresh database; nothing is sent unless a test drains the outbox."""
    s = make_services(database_url)
    yield s
    s.db.engine.dispose()
