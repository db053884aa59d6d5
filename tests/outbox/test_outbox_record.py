"""Answers that arrive while another is being written are stored together, in one transaction;
each caller returns once its own answer is committed, and one bad answer holds no other back."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from bot.outbox import LEASE
from bot.outbox_claim import Claim, claim_rows
from bot.outbox_record import AfterSent, Recorder
from bot.services import Services
from storage.models import OutboxMessage

RENDERER = "test_message"


def queue_and_claim(services: Services, n: int) -> list[Claim]:
    """``n`` rendered posts, each to its own channel, claimed as the sender claims them."""
    with services.db.transaction() as tx:
        for i in range(n):
            tx.slack.render(RENDERER, channel=f"C{i}", n=i)
    claims = claim_rows(services.db.engine, services.clock.now(), fast=False, batch=50, worker="test",
                        lease=LEASE, pacer=None, give_up=timedelta(days=1))
    assert len(claims) == n
    return sorted(claims, key=lambda c: c.id)


def sent_at(services: Services, row_id: int) -> Any:
    with Session(services.db.engine) as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None
        return row.sent_at


class FirstHeld:
    """A renderer's after-sent hook that holds the first write until released (so the other
    answers arrive while it is in progress), and fails for the answers in ``bad``."""

    def __init__(self, bad: frozenset[int] = frozenset()) -> None:
        self.release = threading.Event()
        self.first = True
        self.bad = bad

    def __call__(self, _s: Session, args: dict[str, Any], _result: dict[str, Any]) -> None:
        if self.first:
            self.first = False
            assert self.release.wait(10)
        if args["n"] in self.bad:
            raise RuntimeError(f"cannot store answer {args['n']}")

    def lookup(self, name: str) -> AfterSent | None:
        return self if name == RENDERER else None


def record_all(services: Services, hook: FirstHeld, claims: list[Claim]) -> tuple[int, dict[int, object]]:
    """Record every claim from its own thread, the first one first; (commits, outcome per claim)."""
    recorder = Recorder(services.db.engine, services.clock, timedelta(days=1), {}, hook.lookup)
    commits = 0

    def count(_conn: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(services.db.engine, "commit", count)
    outcome: dict[int, object] = {}

    def record(claim: Claim) -> None:
        try:
            recorder.record(claim, {"channel": "C", "ts": "1.0"}, None)
            outcome[claim.id] = sent_at(services, claim.id)  # committed by the time it returns
        except RuntimeError as exc:
            outcome[claim.id] = exc

    try:
        threads = [threading.Thread(target=record, args=(c,)) for c in claims]
        threads[0].start()
        time.sleep(0.3)  # the first write is under way, held by the hook
        for t in threads[1:]:
            t.start()
        time.sleep(0.5)  # the others arrive meanwhile
        hook.release.set()
        for t in threads:
            t.join(10)
    finally:
        event.remove(services.db.engine, "commit", count)
    return commits, outcome


def test_answers_arriving_together_are_written_in_one_transaction(services: Services) -> None:
    claims = queue_and_claim(services, 6)
    commits, outcome = record_all(services, FirstHeld(), claims)
    assert all(outcome[c.id] is not None for c in claims), outcome  # each sent, and stored before returning
    assert commits == 2  # the first alone, the five that came while it was written together


@pytest.mark.parametrize("bad", [{2}, {1, 5}])
def test_one_bad_answer_holds_no_other_back(services: Services, bad: set[int]) -> None:
    claims = queue_and_claim(services, 6)
    _, outcome = record_all(services, FirstHeld(frozenset(bad)), claims)
    for i, claim in enumerate(claims):
        if i in bad:
            assert isinstance(outcome[claim.id], RuntimeError)  # its caller hears why
            assert sent_at(services, claim.id) is None  # nothing of it was stored
        else:
            assert outcome[claim.id] is not None, (i, outcome)
