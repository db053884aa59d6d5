"""Due work: an APScheduler interval job in every process that claims due rows and acts.

Nothing lives only in memory: each job reads due times from the database, so a restart
loses nothing and replicas share the work through row claims.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)
Job = Callable[[], object]


class DueWork:
    """Runs every registered job on one short interval."""

    def __init__(self, tick_seconds: float) -> None:
        self.tick_seconds = tick_seconds
        self.jobs: list[tuple[str, Job]] = []
        self._scheduler: BackgroundScheduler | None = None

    def add(self, name: str, job: Job) -> None:
        """Register a job; it runs once per tick in this process."""
        self.jobs.append((name, job))

    def run_once(self) -> None:
        """Run every job now (the interval job, and tests that step time)."""
        for name, job in self.jobs:
            try:
                job()
            except Exception:
                # One failing job must not starve the others; the rows stay due.
                log.exception("scheduled job %s failed", name)

    def start(self) -> None:
        """Start the interval job (coalesced, never two at once)."""
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.add_job(self.run_once, "interval", seconds=self.tick_seconds, id="due-work",
                                coalesce=True, max_instances=1, misfire_grace_time=None)
        self._scheduler.start()

    def stop(self) -> None:
        """Stop the scheduler, waiting for a run in progress."""
        if self._scheduler:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
