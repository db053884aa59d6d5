"""storage.rows.new_row: the fast constructor of the ack path builds what SQLModel's does, and
the ORM stores and reads it back like any other row."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, SQLModel, select

from storage.db import make_engine
from storage.models import Approval, Deployment, Release
from storage.rows import new_row
from storage.vocab import ReleaseStatus, ReleaseType, Risk, StageName

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
RELEASE = {"version": "v2.4.0", "type": ReleaseType.MINOR, "risk": Risk.HIGH, "status": ReleaseStatus.ACTIVE,
           "stage": StageName.DEV,
           "requested_by": "U0REQ", "channel_id": "C0REL", "summary": "checkout <b>", "created_at": NOW,
           "updated_at": NOW, "repo": "acme/shop", "checklist": {"tests": True}}
DEPLOYMENT = {"release_id": 7, "service": "shop", "environment": "staging", "version": "v2.4.0", "kind": "planned",
              "state": "requested", "executor": "deployer", "requested_at": NOW, "created_at": NOW, "updated_at": NOW,
              "detail": {"previous_version": "v2.3.9"}}


@pytest.mark.parametrize(("model", "values"), [(Release, RELEASE), (Deployment, DEPLOYMENT),
                                               (Approval, {"release_id": 7, "user_id": "U0AP1", "at": NOW})])
def test_it_builds_what_the_constructor_builds(model: type[SQLModel], values: dict[str, Any]) -> None:
    fast, slow = new_row(model, **values), model(**values)
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_fields_set == slow.model_fields_set == set(values)
    assert type(fast) is model


def test_it_works_as_the_first_row_a_process_makes() -> None:
    # Until something configures the mappers, a column attribute has nothing behind it.
    code = ("from storage.models import Release; from storage.rows import new_row; "
            "row = new_row(Release, version='v9', stage='dev'); print(row.version, row.stage, row.checklist)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "v9 dev {}"), done.stderr[-2000:]


def test_defaults_are_fresh_per_row_and_unknown_fields_are_refused() -> None:
    bare = {k: v for k, v in DEPLOYMENT.items() if k != "detail"}
    first, second = new_row(Deployment, **bare), new_row(Deployment, **bare)
    assert (first.id, first.row_version, first.imported, first.automatic, first.result) == (None, 1, False, False, None)
    assert first.detail == {} and first.detail is not second.detail
    assert first.model_fields_set == set(bare)
    with pytest.raises(TypeError, match="Release has no field stagee"):
        new_row(Release, **RELEASE, stagee="dev")


def test_the_orm_stores_it_and_reads_it_back(database_url: str) -> None:
    engine = make_engine(database_url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as s:
        release = new_row(Release, **RELEASE)
        s.add(release)
        s.commit()
        assert release.id is not None
        release.stage = "staging"  # a change after the insert is flushed like any other
        s.commit()
    with Session(engine) as s:
        stored = s.exec(select(Release).where(Release.version == "v2.4.0")).one()
        assert (stored.stage, stored.summary, stored.checklist, stored.repo, stored.row_version) == (
            "staging", "checkout <b>", {"tests": True}, "acme/shop", 1)
        assert stored.created_at == NOW
    engine.dispose()
