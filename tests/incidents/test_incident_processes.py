"""Due work across processes: replicas never post twice, a restart loses and doubles nothing."""

from __future__ import annotations

import threading

from bot.clock import Clock
from tests.support import declare, make_services, status_posts

INTERVAL = 900


def test_two_processes_never_post_the_same_update_twice(database_url: str) -> None:
    clock = Clock()  # both "processes" read one clock, as two replicas read one wall clock
    a = make_services(database_url, clock)
    b = make_services(database_url, clock)
    ids = [declare(a, "P1", f"outage {n}") for n in range(6)]
    for _ in range(3):
        clock.advance(INTERVAL + 1)
        barrier = threading.Barrier(4)
        done: list[int] = []

        def worker(process: object, barrier: threading.Barrier, done: list[int]) -> None:
            barrier.wait()
            done.append(process.incidents.run_due())

        threads = [threading.Thread(target=worker, args=(p, barrier, done)) for p in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(done) == len(ids)
    for iid in ids:
        assert len(status_posts(a, iid)) == 3, iid
    a.db.engine.dispose()
    b.db.engine.dispose()


def test_restart_posts_exactly_one_catch_up_update(database_url: str) -> None:
    first = make_services(database_url)
    iid = declare(first)
    first.clock.advance(INTERVAL + 1)
    assert first.incidents.run_due() == 1
    offset = first.clock.offset_seconds
    first.db.engine.dispose()  # the process dies

    clock = Clock()
    clock.advance(offset + 3 * INTERVAL)  # it stays down for three intervals
    second = make_services(database_url, clock)
    assert second.incidents.run_due() == 1
    assert second.incidents.run_due() == 0
    assert len(status_posts(second, iid)) == 2
    clock.advance(INTERVAL + 1)
    assert second.incidents.run_due() == 1
    assert len(status_posts(second, iid)) == 3
    second.db.engine.dispose()
