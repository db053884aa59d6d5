"""Due work: jobs on the shared tick, and jobs that run on their own shorter interval."""

from __future__ import annotations

import time

from bot.scheduler import DueWork


def test_a_job_with_its_own_interval_runs_often_and_stops_with_the_rest() -> None:
    runs = {"tick": 0, "own": 0, "broken": 0}

    def broken() -> None:
        runs["broken"] += 1
        raise RuntimeError("a failing run must not end the loop")

    due = DueWork(tick_seconds=30)
    due.add("tick", lambda: runs.__setitem__("tick", runs["tick"] + 1))
    due.add("own", lambda: runs.__setitem__("own", runs["own"] + 1), every=0.02)
    due.add("broken", broken, every=0.02)
    due.start()
    try:
        deadline = time.monotonic() + 5
        while (runs["own"] < 10 or runs["broken"] < 3) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        due.stop()
    assert runs["own"] >= 10 and runs["broken"] >= 3
    assert runs["tick"] == 0  # its first run is a whole tick away
    after = dict(runs)
    time.sleep(0.1)
    assert runs == after  # stop() ended the loops


def test_run_once_runs_every_job_whatever_its_interval() -> None:
    ran: list[str] = []
    due = DueWork(tick_seconds=1)
    due.add("tick", lambda: ran.append("tick"))
    due.add("own", lambda: ran.append("own"), every=0.1)
    due.run_once()
    assert sorted(ran) == ["own", "tick"]
