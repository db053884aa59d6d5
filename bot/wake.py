"""Wake the `warroom worker` processes of this host the moment a web process commits a request to
an executor or GitHub.

A worker finds new rows by polling (every 0.25 s while idle), so without a wake a deploy request
waits on average 125 ms before it goes out. Each worker binds a Unix datagram socket in a
directory named after the database; a web process sends one byte to each socket there after a
commit that queued such a request (bot.app decides which commits; Slack messages wait for the
poll, which gathers them into one pass). A wake that is lost (no worker yet, a full buffer, a
replica on another host) costs only that delay: the poll still finds the rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

RESCAN = 1.0  # seconds: how long a sender trusts its list of workers (a new one is woken within this)
FAST, QUEUE = b"f", b"q"


def wake_dir(database_url: str) -> Path | None:
    """The directory the workers of one database listen in (None for an in-memory database)."""
    if database_url in ("sqlite://", "sqlite:///:memory:"):
        return None
    if database_url.startswith("sqlite:///"):
        # The web process and the worker may name one file by different relative paths.
        database_url = "sqlite:///" + str(Path(database_url[len("sqlite:///"):].split("?")[0]).resolve())
    # Hashed: short enough for a socket path (108 bytes) and no credentials in a file name.
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"warroom-wake-{digest}"


def listen(database_url: str, on_wake: Callable[[bool], None]) -> WakeListener | None:
    """A started listener for a worker of ``database_url``; None where there is nothing to listen
    on (an in-memory database) or the socket cannot be made (the worker then relies on its poll)."""
    folder = wake_dir(database_url)
    if folder is None:
        return None
    try:
        listener = WakeListener(folder, on_wake)
    except OSError:
        log.warning("cannot listen for wakes in %s; the worker finds new rows by polling", folder, exc_info=True)
        return None
    listener.start()
    return listener


class WakeListener:
    """A worker's socket: calls ``on_wake(fast)`` for each wake that arrives."""

    def __init__(self, directory: Path, on_wake: Callable[[bool], None]) -> None:
        self.on_wake = on_wake
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._sock.bind(str(self.path))
        except FileNotFoundError:
            # The last worker of this database removed the directory between our mkdir and bind.
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._sock.bind(str(self.path))
        self._sock.settimeout(0.5)  # how soon stop() is noticed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="warroom-wake", daemon=True)

    def start(self) -> None:
        """Listen in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and remove the socket, so senders stop waking this process."""
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        # The last worker of a database removes its directory (each test or bench database left one in
        # the temporary folder); one still in use is not empty, and rmdir refuses it.
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(64)
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            self.on_wake(FAST in data)


class WakeSender:
    """A web process's side: one datagram to each worker socket, never blocking the request."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._targets: list[str] = []
        self._scanned = float("-inf")
        self._lock = threading.Lock()

    def send(self, fast: bool) -> None:
        """Wake every worker of this database on this host (best effort)."""
        message = FAST if fast else QUEUE
        for target in self._current():
            try:
                self._sock.sendto(message, target)
            except BlockingIOError:
                pass  # its buffer is full of wakes already: it is awake
            except (ConnectionRefusedError, FileNotFoundError):
                self._forget(target)  # a worker that died without removing its socket
            except OSError:
                log.debug("could not wake %s", target, exc_info=True)

    def _current(self) -> list[str]:
        now = time.monotonic()
        if now - self._scanned < RESCAN:
            return self._targets
        with self._lock:
            try:
                self._targets = [str(p) for p in self.directory.glob("*.sock")]
            except OSError:
                self._targets = []
            self._scanned = now
        return self._targets

    def _forget(self, target: str) -> None:
        with self._lock:
            self._targets = [t for t in self._targets if t != target]
        with contextlib.suppress(OSError):
            # Nothing is bound to it (refused), and worker paths are never reused: safe to remove.
            os.unlink(target)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()
