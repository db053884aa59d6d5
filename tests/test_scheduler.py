"""Due work: jobs on the shared tick, and jobs that run on their own shorter interval."""

from __future__ import annotations

import logging
import re
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


def test_overrunning_ticks_are_reported_once_per_period_not_once_per_skip(caplog) -> None:  # type: ignore[no-untyped-def]
    runs: list[float] = []

    def slow() -> None:  # each run spans three ticks, so APScheduler skips the two in between
        runs.append(time.monotonic())
        time.sleep(0.15)

    due = DueWork(tick_seconds=0.05)
    due.report_seconds = 0.6
    due.add("slow", slow)
    caplog.set_level(logging.WARNING)
    due.start()
    try:
        time.sleep(1.5)
    finally:
        due.stop()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(runs) >= 5  # the work itself went on, one run at a time
    assert not [m for m in messages if "maximum number of running instances" in m]
    reports = [m for m in messages if "ran past its 0.05 s tick" in m]
    assert 1 <= len(reports) <= 2, messages  # 1.5 s at one report per 0.6 s
    longest = re.search(r"longest ([0-9.]+) s", reports[0])
    assert longest and float(longest.group(1)) >= 0.1  # a run takes 0.15 s


def test_other_jobs_skipped_runs_are_still_logged(caplog) -> None:  # type: ignore[no-untyped-def]
    from apscheduler.schedulers.background import BackgroundScheduler

    due = DueWork(tick_seconds=30)  # its filter is in place while another scheduler's job overruns
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(lambda: time.sleep(0.3), "interval", seconds=0.05, id="someone-elses", max_instances=1)
    caplog.set_level(logging.WARNING)
    due.start()
    scheduler.start()
    try:
        time.sleep(0.6)
    finally:
        scheduler.shutdown(wait=True)
        due.stop()
    assert any("maximum number of running instances" in r.getMessage() for r in caplog.records)
