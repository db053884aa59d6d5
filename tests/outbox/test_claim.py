"""What one claim pass takes when much of the outbox is waiting: only the rows that may go now,
however many rows queue behind heads that are parked, backing off or leased to another sender; and
a lease renewal that never waits for a row whose outcome is being written."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import insert, update
from sqlmodel import col, select

from bot.outbox_claim import _CANDIDATES, claim_rows
from bot.pacing import Bucket, SharedPacer
from bot.services import Services
from bot.tx import ref
from storage.models import OutboxMessage, table_of
from tests.support import SlackDouble, make_services


def _set(s: Services, text: str, **values: object) -> None:
    with s.db.transaction() as tx:
        tx.session.execute(update(OutboxMessage).where(col(OutboxMessage.payload)["text"].as_string() == text)
                           .values(**values))


def _claim(s: Services) -> list[str]:
    claimed = claim_rows(s.db.engine, s.db.clock.now(), fast=False, batch=100, worker="test",
                         lease=timedelta(seconds=3), pacer=None, give_up=timedelta(hours=24))
    return [str(c.args["text"]) for c in claimed]


def test_a_pass_takes_only_what_may_go_now_behind_heads_that_wait(services: Services) -> None:
    now = services.db.clock.now()
    with services.db.transaction() as tx:
        for channel, head in (("CBACKOFF", "retrying"), ("CLEASED", "in flight")):
            tx.slack.post(channel, head)
            for n in range(20):
                tx.slack.post(channel, f"{channel} behind {n}")
        for n in range(20):  # replies to an announcement not posted yet
            tx.slack.post(ref("announcement", "channel"), f"reply {n}", thread_ts=ref("announcement"))
        tx.slack.update("COPEN", "1.1", "state 1", coalesce="status")
        tx.slack.update("COPEN", "1.1", "state 2", coalesce="status")
        tx.slack.post("COPEN", "after the state")
        tx.slack.ephemeral("COPEN", "U1", "fast lane")
    _set(services, "retrying", not_before=now + timedelta(minutes=1), attempts=1)
    _set(services, "in flight", claimed_until=now + timedelta(minutes=1), claimed_by="another replica")

    # The replies' head is parked (what it refers to is not posted); of the two states of one
    # message the newest goes and the older is superseded; nothing queued behind a waiting head,
    # nor the row after the states, nor the fast lane's row goes in this lane's pass.
    assert _claim(services) == ["state 2"]
    with services.db.read() as session:
        parked = session.exec(select(OutboxMessage).where(col(OutboxMessage.waits_for) == "announcement")).all()
        superseded = session.exec(select(OutboxMessage).where(col(OutboxMessage.last_error) == "superseded")).all()
    assert [r.payload["text"] for r in parked] == ["reply 0"]
    assert [r.payload["text"] for r in superseded] == ["state 1"]

    # Once the heads are out of the way, what queued behind them goes, in order.
    _set(services, "state 2", sent_at=now)
    _set(services, "retrying", not_before=now)
    _set(services, "in flight", sent_at=now)
    assert _claim(services) == ["retrying", "CLEASED behind 0", "after the state"]


class _Held(SlackDouble):
    """Slack that holds the first call until told to answer."""

    def __init__(self) -> None:
        super().__init__()
        self.calling, self.answer = threading.Event(), threading.Event()

    def _call(self, op: str, **args: object) -> dict[str, object]:
        if not self.calling.is_set():
            self.calling.set()
            self.answer.wait(10)
        return super()._call(op, **args)


def test_a_heartbeat_is_not_held_up_by_a_row_whose_outcome_is_being_written(postgres_url: str) -> None:
    """PostgreSQL: renewing the leases skips a row another transaction has locked (it is being marked
    sent) instead of waiting for it: waiting deadlocked with an outcome batch locking rows in another
    order, and a heartbeat that lost left its leases to run out."""
    s = make_services(postgres_url)
    with s.db.transaction() as tx:
        tx.slack.post("C1", "in flight")
        tx.slack.post("C2", "next")
    slack = _Held()
    s.outbox.gateway = slack  # type: ignore[assignment]
    sender = threading.Thread(target=s.outbox.drain_once)
    sender.start()
    try:
        assert slack.calling.wait(5)
        with s.db.engine.connect() as other:  # a transaction writing the outcome of "next"
            other.execute(select(OutboxMessage).where(col(OutboxMessage.payload)["text"].as_string() == "next")
                          .with_for_update())
            leases = {r.payload["text"]: r.claimed_until for r in _rows(s)}
            renewing = threading.Thread(target=s.outbox.renew)
            started = time.monotonic()
            renewing.start()
            renewing.join(5)
            assert not renewing.is_alive() and time.monotonic() - started < 2
            other.rollback()
        renewed = {r.payload["text"]: r.claimed_until for r in _rows(s)}
        assert renewed["next"] == leases["next"]
        before, after = leases["in flight"], renewed["in flight"]
        assert before is not None and after is not None and after > before
    finally:
        slack.answer.set()
        sender.join(10)
    assert [args["text"] for _, args in slack.calls] == ["in flight", "next"]
    s.db.engine.dispose()


def _rows(s: Services) -> list[OutboxMessage]:
    with s.db.read() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def test_a_pass_claims_no_more_than_the_workspace_budget_allows_and_rewrites_nothing_while_it_is_spent(
        services: Services) -> None:
    # A backlog bigger than the budget: 30 channels, one message each (no channel limit in the way).
    pacer = SharedPacer(Bucket(rate=1, burst=10), Bucket(rate=2, burst=4))
    with services.db.transaction() as tx:
        for n in range(30):
            tx.slack.post(f"C{n:02d}", f"message {n}")
    now = services.db.clock.now()

    def claim(at: datetime) -> list[str]:
        claimed = claim_rows(services.db.engine, at, fast=False, batch=50, worker="test",
                             lease=timedelta(seconds=3), pacer=pacer, give_up=timedelta(hours=24))
        return [str(c.args["text"]) for c in claimed]

    def versions() -> list[tuple[int, object, object]]:
        with services.db.read() as s:
            return [(r.id or 0, r.not_before, r.claimed_until)
                    for r in s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))]

    # The burst (4), the oldest first; the rest are not read, so not held back (not rewritten).
    queued = versions()
    assert claim(now) == [f"message {n}" for n in range(4)]
    assert versions()[4:] == queued[4:]
    assert claim(now) == []
    assert versions()[4:] == queued[4:]
    # Half a second later the budget has one more call (2 a second).
    assert claim(now + timedelta(seconds=0.5)) == ["message 4"]


def _plan(s: Services, fast: bool) -> str:
    """How the database runs a lane's candidate query (EXPLAIN), as one string."""
    engine = s.db.engine
    postgres = engine.dialect.name == "postgresql"
    compiled = _CANDIDATES[(fast, postgres)].compile(dialect=engine.dialect)
    params = {**compiled.params, "batch": 50,
              "now": s.db.clock.now() if postgres else s.db.clock.now().strftime("%Y-%m-%d %H:%M:%S.%f")}
    with engine.connect() as conn:
        if postgres:
            return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", params))
        return "\n".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                                             tuple(params[k] for k in compiled.positiontup or ())))


def test_each_lane_reads_its_own_ordered_index_not_every_pending_row(services: Services) -> None:
    # A week of sent rows, a backlog in the queue and nothing in the fast lane: what the bot's
    # sender meets under load. An index that also held the pending rows once drew both lanes to
    # read the whole backlog and sort it, on every pass (four a second in the fast lane alone).
    now = services.db.clock.now()
    table = table_of(OutboxMessage)
    rows = [{"op": "chat.postMessage", "payload": {"channel": f"C{n % 300}", "text": "x"}, "attempts": 0,
             "created_at": now, "not_before": now - timedelta(minutes=1), "failed": False, "fast": False,
             "order_key": f"C{n % 300}", "sent_at": now if n < 6000 else None} for n in range(8000)]
    with services.db.engine.begin() as conn:
        conn.execute(insert(table), rows)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE outbox_message")  # as the worker's upkeep does

    fast, queue = _plan(services, fast=True), _plan(services, fast=False)
    assert "ix_outbox_fast" in fast, fast
    assert "ix_outbox_due" in queue, queue
    for plan in (fast, queue):
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan  # taken in index order
        assert "ix_outbox_sent" not in plan and "Seq Scan" not in plan, plan
