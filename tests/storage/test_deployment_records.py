"""Every promotion and rollback leaves a Deployment row the delivery metrics can count: manual
steps succeed at once, hotfixes are marked, commits come from CommitRecord (SQLite and PG)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from bot.app import build_services
from bot.releases import records
from bot.releases.requests import StartRelease
from bot.settings import load_settings
from bot.tx import Origin
from storage.models import CommitRecord, Deployment, DeploymentCommit

SHA = "abcdefabcdefabcdefabcdefabcdefabcdefabcd"


def test_manual_promotions_and_rollback_are_recorded(database_url: str) -> None:
    services = build_services(load_settings(DATABASE_URL=database_url, WARROOM_APPROVERS="U0AP1,U0AP2",
                                            WARROOM_FREEZE_DAYS=""))
    committed = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    with Session(services.db.engine) as s:
        s.add(CommitRecord(sha=SHA, repo="acme/shop", committed_at=committed))
        s.commit()
    releases = services.releases
    releases.start(StartRelease.build(version="v1.0.0", channel_id="C1", risk="low", ref=SHA, service="shop"),
                   Origin("U0REQ", "test", "s1"))
    releases.promote("v1.0.0", Origin("U0REQ", "test", "p1"))
    releases.start(StartRelease.build(version="v1.0.1", channel_id="C1", type="hotfix", severity="P3"),
                   Origin("U0REQ", "test", "s2"))
    releases.promote("v1.0.1", Origin("U0REQ", "test", "p2"))
    releases.rollback("v1.0.0", Origin("U0AP1", "test", "r1"), "errors up")
    with Session(services.db.engine) as s:
        rows = list(s.exec(select(Deployment).order_by(col(Deployment.id))))
        commits = list(s.exec(select(DeploymentCommit)))
    assert [(d.version, d.environment, d.kind, d.state, d.result, d.service) for d in rows] == [
        ("v1.0.0", "staging", "planned", "succeeded", "success", "shop"),
        ("v1.0.1", "staging", "hotfix", "succeeded", "success", "default"),
        ("v1.0.0", "staging", "rollback", "succeeded", "success", "shop"),
    ]
    assert rows[2].rolls_back == "v1.0.0" and rows[2].executor is None
    for d in rows:
        assert d.started_at == d.finished_at and d.finished_at is not None
        assert d.finished_at - d.requested_at < timedelta(seconds=1)
    assert [(c.deployment_id, c.sha, c.committed_at) for c in commits] == [(rows[0].id, SHA, committed)]


def test_previous_version_is_what_ran_before_never_a_later_one(database_url: str) -> None:
    services = build_services(load_settings(DATABASE_URL=database_url, WARROOM_FREEZE_DAYS=""))
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def shipped(version: str, minutes: int, *, result: str = "success", kind: str = "planned",
                environment: str = "staging", service: str = "shop") -> Deployment:
        at = t0 + timedelta(minutes=minutes)
        return Deployment(service=service, environment=environment, version=version, kind=kind, state="succeeded",
                          result=result, requested_by="U0REQ", requested_at=at, finished_at=at, created_at=at,
                          updated_at=at)

    with Session(services.db.engine) as s:
        s.add_all([shipped("v1", 0), shipped("v2", 10), shipped("v3", 20, result="failure"),
                   shipped("v1", 25, kind="rollback"), shipped("v9", 30, environment="production"),
                   shipped("v8", 35, service="other"), shipped("v4", 40)])
        s.commit()
        # Never shipped to staging: the latest success there, whatever came later elsewhere.
        assert records.previous_version(s, "shop", "staging", "v5") == "v4"
        # Rolling back v2 brings back v1, not v4 (deployed after v2) nor the failed v3.
        assert records.previous_version(s, "shop", "staging", "v2") == "v1"
        assert records.previous_version(s, "shop", "staging", "v1") is None
        assert records.previous_version(s, "shop", "production", "v10") == "v9"
        assert records.previous_version(s, "nobody", "staging", "v1") is None
