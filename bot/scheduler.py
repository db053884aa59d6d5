"""Due work: an APScheduler interval job in every process that claims due rows and acts.

Nothing lives only in memory: each job reads due times from the database, so a restart
loses nothing and replicas share the work through row claims.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)
Job = Callable[[], object]


class DueWork:
    """Runs every registered job on one short interval."""

    def __init__(self, tick_seconds: float) -> None:
        self.tick_seconds = tick_seconds
        self.jobs: list[tuple[str, Job]] = []
        self.own: list[tuple[str, Job, float]] = []  # jobs on their own, shorter interval
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

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
        for name, job in self.jobs:
            self._run(name, job)

    @staticmethod
    def _run(name: str, job: Job) -> None:
        try:
            job()
        except Exception:
            # One failing job must not starve the others; the rows stay due.
            log.exception("scheduled job %s failed", name)

    def start(self) -> None:
        """Start the interval job (coalesced, never two at once) and the jobs with their own interval."""
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.add_job(self._run_shared, "interval", seconds=self.tick_seconds, id="due-work",
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
