"""Due work: an APScheduler interval job in every process that claims due rows and acts.

Nothing lives only in memory: each job reads due times from the database, so a restart
loses nothing and replicas share the work through row claims.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)
Job = Callable[[], object]
TICK_ID = "due-work"
REPORT_SECONDS = 600.0  # how often overrunning ticks are reported (at most)


class _SkippedTick(logging.Filter):
    """Drops APScheduler's warning for each skipped due-work tick: a tick that starts while the
    last one still runs is skipped by design (coalesced), and DueWork reports overruns itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        job: Any = record.args[0] if isinstance(record.args, tuple) and record.args else None
        return not (str(record.msg).startswith("Execution of job") and getattr(job, "id", None) == TICK_ID)


_SKIPPED_TICK = _SkippedTick()


class DueWork:
    """Runs every registered job on one short interval."""

    def __init__(self, tick_seconds: float) -> None:
        self.tick_seconds = tick_seconds
        self.jobs: list[tuple[str, Job]] = []
        self.own: list[tuple[str, Job, float]] = []  # jobs on their own, shorter interval
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.report_seconds = REPORT_SECONDS
        self._overruns, self._longest, self._reported = 0, 0.0, time.monotonic()

    def add(self, name: str, job: Job, *, every: float | None = None) -> None:
        """Register a job; it runs once per tick in this process, or every ``every`` seconds in
        its own thread (work that arrives steadily: small, frequent runs instead of a burst a tick)."""
        if every is None:
            self.jobs.append((name, job))
        else:
            self.own.append((name, job, every))

    def run_once(self) -> None:
        """Run every job now (the interval job, and tests that step time)."""
        for name, job in [*self.jobs, *((n, j) for n, j, _ in self.own)]:
            self._run(name, job)

    def _run_shared(self) -> None:
        began = time.monotonic()
        for name, job in self.jobs:
            self._run(name, job)
        self._note_run(began)

    def _note_run(self, began: float) -> None:
        # One line per report period instead of APScheduler's line per skipped tick (with 200 war
        # rooms falling due in the same second, several an hour): the rows stay due, so a skipped
        # tick delays work by at most the overrun; a line every period says the tick is too short.
        now = time.monotonic()
        if now - began > self.tick_seconds:
            self._overruns += 1
            self._longest = max(self._longest, now - began)
        if now - self._reported >= self.report_seconds:
            if self._overruns:
                log.warning("due work ran past its %g s tick %d times in the last %.0f s (longest %.1f s); "
                            "the ticks it overlapped were skipped, the rows they would have claimed stayed due",
                            self.tick_seconds, self._overruns, now - self._reported, self._longest)
            self._overruns, self._longest, self._reported = 0, 0.0, now

    @staticmethod
    def _run(name: str, job: Job) -> None:
        try:
            job()
        except Exception:
            # One failing job must not starve the others; the rows stay due.
            log.exception("scheduled job %s failed", name)

    def start(self) -> None:
        """Start the interval job (coalesced, never two at once) and the jobs with their own interval."""
        logging.getLogger("apscheduler.scheduler").addFilter(_SKIPPED_TICK)  # added once, however often started
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.add_job(self._run_shared, "interval", seconds=self.tick_seconds, id=TICK_ID,
                                coalesce=True, max_instances=1, misfire_grace_time=None)
        self._scheduler.start()
        self._stop.clear()
        for name, job, every in self.own:
            # A plain loop, not an interval job: a run longer than the interval simply delays the
            # next, where APScheduler would log a skipped run each time.
            thread = threading.Thread(target=self._loop, args=(name, job, every), name=f"due-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self, name: str, job: Job, every: float) -> None:
        while not self._stop.wait(every):
            self._run(name, job)

    def stop(self) -> None:
        """Stop the scheduler and the loops, waiting for runs in progress."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self._scheduler:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
