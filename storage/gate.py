"""The SQLite writer gate: one writer at a time across threads and processes, requests first.

SQLite has one writer at a time. Left to itself, a writer that finds the file locked sleeps in
SQLite's busy handler, in steps of up to 100 ms, which an ack cannot afford. So writers queue
here instead: threads of one process on a condition variable, processes (the web process and
``warroom worker``) on an ``flock`` of a file beside the database, which wakes the next
waiter the moment the holder lets go. A background writer (the outbox sender, due work) gives
way while a request of any process is waiting: requests hold a shared lock on a second file
while they wait and write, and a background writer starts only when it could take that file
exclusively, or once it has waited ``BACKGROUND_MAX_WAIT``: under a steady stream of
requests strict priority would starve it, and the outbox rows it cannot mark sent, and the
deploy requests it cannot hand over, are work a user is waiting for too.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

BACKGROUND_PAUSE = 0.0005  # how often a background writer looks again while requests wait
# How long a background writer gives way to requests before it takes the next turn anyway. Its
# transactions are short (a claim, one row's result), so a request behind it waits little.
BACKGROUND_MAX_WAIT = 0.02


class _Files:
    """The two lock files of one database (one open file description each per process)."""

    def __init__(self, database: Path) -> None:
        self.gate: IO[bytes] = open(f"{database}.writer", "ab")  # noqa: SIM115 - held for the process's life
        self.requests: IO[bytes] = open(f"{database}.requests", "ab")  # noqa: SIM115

    def requests_waiting(self) -> bool:
        """True while a request of any process waits for or holds the gate."""
        try:
            fcntl.flock(self.requests, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self.requests, fcntl.LOCK_UN)
        return False


class WriterGate:
    """One writer at a time, requests first; ``database`` None: this process is the only writer."""

    def __init__(self, database: Path | None = None) -> None:
        # One lock, three queues: waking only a thread that can go keeps a burst of waiting
        # request threads from all waking (and fighting for the GIL) on every commit.
        lock = threading.Lock()
        self._requests = threading.Condition(lock)
        self._background = threading.Condition(lock)
        self._overdue_turns = threading.Condition(lock)
        self._busy = False
        self._urgent = 0
        self._overdue = 0  # background writers that waited long enough: requests let them in next
        self._forced = 0.0  # when a background writer last went ahead of waiting requests
        self._files = _Files(database) if database is not None else None

    @contextmanager
    def hold(self, background: bool) -> Iterator[None]:
        """Hold the gate for one transaction."""
        if background:
            self._enter_background()
        else:
            self._enter_request()
        try:
            if self._files is not None:
                fcntl.flock(self._files.gate, fcntl.LOCK_EX)  # blocks without holding the GIL
            try:
                yield
            finally:
                if self._files is not None:
                    fcntl.flock(self._files.gate, fcntl.LOCK_UN)
        finally:
            self._leave(background)

    def _enter_request(self) -> None:
        with self._requests:
            self._urgent += 1
            if self._urgent == 1 and self._files is not None:
                # Never blocks for long: a background writer takes it exclusively only to test it.
                fcntl.flock(self._files.requests, fcntl.LOCK_SH)
            while self._busy or self._overdue:
                self._requests.wait()
            self._busy = True

    def _enter_background(self) -> None:
        entered = time.monotonic()
        while True:
            with self._background:
                while self._busy or self._urgent:
                    left = self._deadline(entered) - time.monotonic()
                    if left <= 0:
                        return self._take_overdue_turn()
                    self._background.wait(left)
                # Tested while this process has no request waiting, so its own shared lock is
                # not what it sees.
                if self._files is None or not self._files.requests_waiting():
                    self._busy = True
                    return
                if time.monotonic() >= self._deadline(entered):
                    # Another process's requests keep coming: queue on the gate file with them.
                    self._forced = time.monotonic()
                    self._busy = True
                    return
            time.sleep(BACKGROUND_PAUSE)

    def _deadline(self, entered: float) -> float:
        # One turn taken ahead of waiting requests per BACKGROUND_MAX_WAIT and process, however
        # many background threads wait: under a steady stream of requests, background work
        # gets a small share of the gate, not every other turn.
        return max(entered, self._forced) + BACKGROUND_MAX_WAIT

    def _take_overdue_turn(self) -> None:
        # Called holding the lock: this process's requests wait while it is counted.
        self._forced = time.monotonic()
        self._overdue += 1
        while self._busy:
            self._overdue_turns.wait()
        self._overdue -= 1
        self._busy = True

    def _leave(self, background: bool) -> None:
        with self._requests:
            self._busy = False
            if not background:
                self._urgent -= 1
                if self._urgent == 0 and self._files is not None:
                    fcntl.flock(self._files.requests, fcntl.LOCK_UN)
            # Exactly one thread that may take the gate next; each waiter wakes its successor
            # the same way when it leaves, so none is forgotten.
            if self._overdue:
                self._overdue_turns.notify()
            elif self._urgent:
                self._requests.notify()
            else:
                self._background.notify_all()
