"""Shared pacing: bursts pass, then one message per interval per channel, counted in the
database so every replica draws on the same bucket."""

from datetime import UTC, datetime, timedelta

from bot.pacing import Bucket, SharedPacer
from storage.db import make_engine, session_scope
from storage.migrate import upgrade


def test_burst_then_one_per_second_per_channel_across_pacers(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    # Two pacers stand for two replicas: they share the buckets through the database.
    a, b = (SharedPacer(Bucket(rate=1.0, burst=3)) for _ in range(2))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def reserve(pacer: SharedPacer, now: datetime, rows: list[tuple[int, str, str]]) -> dict[int, datetime]:
        with session_scope(engine) as s:
            return pacer.reserve(s.connection(), now, rows)

    assert reserve(a, t0, [(1, "post", "C1"), (2, "post", "C1")]) == {}
    assert reserve(b, t0, [(3, "update", "C1")]) == {}  # the third of the burst, from the other replica
    assert reserve(b, t0, [(4, "post", "C1")]) == {4: t0 + timedelta(seconds=1)}
    # Another channel has its own budget; ephemeral messages are never held back.
    assert reserve(a, t0, [(5, "post", "C2"), (6, "ephemeral", "C1")]) == {}
    # A held-back row did not use a slot: at its time it goes, and the next waits a second more.
    assert reserve(a, t0 + timedelta(seconds=1), [(4, "post", "C1"), (7, "post", "C1")]) == {
        7: t0 + timedelta(seconds=2)}
    # After a quiet spell the burst is available again.
    later = t0 + timedelta(seconds=60)
    assert reserve(b, later, [(8, "post", "C1"), (9, "post", "C1"), (10, "post", "C1")]) == {}
    engine.dispose()


def test_the_workspace_budget_holds_back_calls_to_any_channel(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    pacer = SharedPacer(Bucket(rate=10.0, burst=10), Bucket(rate=2.0, burst=2))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(engine) as s:
        held = pacer.reserve(s.connection(), t0, [(i, "post", f"C{i}") for i in range(4)])
    assert held == {2: t0 + timedelta(seconds=0.5), 3: t0 + timedelta(seconds=0.5)}
    engine.dispose()
