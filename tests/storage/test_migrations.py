"""Migrations build exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel, select

import storage.models  # noqa: F401
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import ReleaseTask


def test_upgrade_matches_models_and_is_repeatable(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    assert {"release", "approval", "audit_entry", "outbox_message", "incident", "timeline_entry"} <= tables
    engine.dispose()


def test_0003_maps_checklist_positions_to_ids_and_queues_announcements_as_renders(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0002")
    now = datetime(2026, 11, 2, tzinfo=UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO release (version, type, risk, status, stage, requested_by, channel_id, summary, "
            "breaking_changes, rollback_plan, checklist, created_at, updated_at, row_version) VALUES "
            "('v1', 'minor', 'low', 'active', 'dev', 'U1', 'C1', '', '', '', :cl, :now, :now, 1)"),
            {"cl": '{"s0.i0": {"by": "U1"}, "s3.i1": {"by": "U2"}, "custom": {"by": "U3"}}', "now": now})
        conn.execute(text(
            "INSERT INTO outbox_message (op, payload, attempts, created_at, not_before, failed) VALUES "
            "('release_announcement', :p, 0, :now, :now, false)"), {"p": '{"release_id": 1, "channel": "C1"}',
                                                                   "now": now})
    upgrade(engine)
    with engine.connect() as conn:
        checklist = conn.execute(text("SELECT checklist FROM release")).scalar_one()
        op, payload = conn.execute(text("SELECT op, payload FROM outbox_message")).one()
    def as_dict(value: Any) -> Any:
        return value if isinstance(value, dict) else json.loads(value)

    assert as_dict(checklist) == {"tests_pass": {"by": "U1"}, "metrics_healthy": {"by": "U2"}, "custom": {"by": "U3"}}
    assert op == "render" and as_dict(payload) == {"renderer": "release_announcement", "release_id": 1,
                                                   "channel": "C1"}
    engine.dispose()


def test_0008_existing_tasks_read_as_nothing_ticked(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0004")  # the head before ticks
    now = datetime(2026, 11, 2, tzinfo=UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO release (version, type, risk, status, stage, requested_by, channel_id, summary, "
            "breaking_changes, rollback_plan, checklist, created_at, updated_at, row_version) VALUES "
            "('v1', 'minor', 'low', 'active', 'dev', 'U1', 'C1', '', '', '', '{}', :now, :now, 1)"), {"now": now})
        conn.execute(text(
            "INSERT INTO release_task (release_id, phase, name, owner, requirements, state, created_at, updated_at, "
            "row_version) VALUES (1, 'preparation', 'prepare', 'U1', :reqs, 'requested', :now, :now, 1)"),
            {"reqs": '["tag created"]', "now": now})
    upgrade(engine)
    with Session(engine) as s:
        task = s.exec(select(ReleaseTask)).one()
    assert (task.requirements, task.ticked) == (["tag created"], [])
    engine.dispose()
