"""The inbound queue on SQLite and PostgreSQL: stored once, applied once, a failing delivery
rolled back alone and retried with back-off, then given up on and kept."""

from __future__ import annotations

from sqlmodel import select

from bot.clock import Clock
from bot.hooks.inbox import MAX_ATTEMPTS
from bot.tx import Origin, Tx
from storage.models import AuditEntry, InboundEvent
from tests.support import make_services


def test_one_bad_delivery_does_not_hold_up_the_others(database_url: str) -> None:
    clock = Clock()
    s = make_services(database_url, clock)

    def flaky(tx: Tx, event: InboundEvent) -> bool:
        tx.audit(Origin(user="t", source="t"), "release", 0, "seen", n=event.payload["n"])
        if event.payload["n"] == "bad":
            raise ValueError("cannot parse this one")
        return True

    s.inbox.processors["test"] = flaky
    for n in ("a", "bad", "b"):
        assert s.inbox.store("test", f"id-{n}", "thing", {"n": n}) is True
    assert s.inbox.store("test", "id-a", "thing", {"n": "a"}) is False  # a redelivery
    assert s.inbox.run_due() == 3
    assert s.inbox.run_due() == 0  # nothing is applied twice; the bad one waits out its back-off
    with s.db.read() as session:
        rows = {r.delivery_id: r for r in session.exec(select(InboundEvent))}
        audit = [e.detail["n"] for e in session.exec(select(AuditEntry).where(AuditEntry.action == "seen"))]
    assert audit == ["a", "b"]  # the failed one's audit row went with its savepoint
    assert rows["id-bad"].processed_at is None and rows["id-bad"].attempts == 1
    assert "cannot parse" in (rows["id-bad"].error or "")
    for _ in range(MAX_ATTEMPTS):
        clock.advance(3600)
        s.inbox.run_due()
    with s.db.read() as session:
        bad = session.exec(select(InboundEvent).where(InboundEvent.delivery_id == "id-bad")).one()
    assert bad.processed_at is not None and bad.matched is False and bad.attempts == MAX_ATTEMPTS
    with s.db.read() as session:
        assert [e.detail["n"] for e in session.exec(select(AuditEntry).where(AuditEntry.action == "seen"))] \
            == ["a", "b"]
    s.db.engine.dispose()
