"""Approvals decided from the release as this process last wrote it (bot/releases/known.py): two
replicas on one database, where each one's copy goes stale when the other changes the release."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.errors import InvalidTransition
from bot.releases.known import KnownReleases
from bot.releases.requests import StartRelease
from bot.services import Services
from storage.models import Approval, Release
from storage.rows import new_row
from tests.support import make_services, who

REQ, A1, A2 = "U0REQUEST", "U0APPROVE1", "U0APPROVE2"
ENV = {"WARROOM_APPROVERS": f"{A1},{A2}", "WARROOM_FREEZE_DAYS": ""}


@pytest.fixture
def replicas(database_url: str) -> Iterator[tuple[Services, Services]]:
    """Two processes' services on the same database."""
    a, b = make_services(database_url, **ENV), make_services(database_url, **ENV)
    yield a, b
    a.db.engine.dispose()
    b.db.engine.dispose()


def _start(s: Services, version: str, risk: str = "low") -> None:
    s.releases.start(StartRelease.build(version=version, channel_id="C0REL", risk=risk), who(REQ))


def _approvers(s: Services, version: str) -> list[str]:
    with s.db.read() as session:
        release = session.exec(select(Release).where(Release.version == version)).one()
        return sorted(a.user_id for a in session.exec(select(Approval).where(Approval.release_id == release.id)))


def test_a_release_rejected_on_another_replica_cannot_be_approved_here(replicas: tuple[Services, Services]) -> None:
    a, b = replicas
    _start(a, "v1")  # a's copy: active, no approvals
    b.releases.reject("v1", who(A1), "not this week")
    with pytest.raises(InvalidTransition, match="rejected"):
        a.releases.approve("v1", who(A2))
    assert _approvers(a, "v1") == []
    with a.db.read() as session:
        assert session.exec(select(Release.status).where(Release.version == "v1")).one() == "rejected"


def test_approvals_given_on_two_replicas_both_count_and_neither_twice(replicas: tuple[Services, Services]) -> None:
    a, b = replicas
    _start(a, "v2", risk="high")  # two approvals needed
    assert len(b.releases.approve("v2", who(A1)).approvals) == 1
    view = a.releases.approve("v2", who(A2))  # a's copy knew of no approval: decided again from a read
    assert ([x.user_id for x in view.approvals], view.needed) == ([A1, A2], 2)
    with pytest.raises(InvalidTransition, match="approved v2 already"):
        b.releases.approve("v2", who(A2))  # b's copy has only its own approval
    with pytest.raises(InvalidTransition, match="approved v2 already"):
        a.releases.approve("v2", who(A1))
    assert _approvers(a, "v2") == [A1, A2]


def test_a_change_made_here_forgets_the_copy(replicas: tuple[Services, Services]) -> None:
    a, _ = replicas
    _start(a, "v3")
    assert a.releases.known.get("v3") is not None
    a.releases.promote("v3", who(A1))
    assert a.releases.known.get("v3") is None
    a.releases.approve("v3", who(A1))
    known = a.releases.known.get("v3")
    assert known is not None and (known[0].stage, [x.user_id for x in known[1]]) == ("staging", [A1])


def _release(version: str, release_id: int) -> Release:
    now = datetime.now(UTC)
    return new_row(Release, id=release_id, version=version, type="minor", risk="low", status="active", stage="dev",
                   requested_by=REQ, channel_id="C1", checklist={"tests": {"by": A1}}, created_at=now, updated_at=now)


def test_copies_go_in_and_out_and_the_oldest_go_first() -> None:
    known = KnownReleases(size=2)
    known.put(_release("v1", 1), [])
    copy = known.get("v1")
    assert copy is not None
    copy[0].checklist["tests"]["by"] = "someone else"  # a transaction changing its rows
    again = known.get("v1")
    assert again is not None and again[0].checklist == {"tests": {"by": A1}}
    known.put(_release("v2", 2), [])
    known.get("v1")  # used: v2 is now the oldest
    known.put(_release("v3", 3), [])
    assert [v for v in ("v1", "v2", "v3") if known.get(v)] == ["v1", "v3"]
    known.forget({3})
    assert known.get("v3") is None
