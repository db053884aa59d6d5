"""Kill -9 the bot mid-incident and start it again: the cadence resumes with one catch-up
update for the missed intervals, and nothing is lost or posted twice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slackbox import SandboxStore, start_workspace
from storage.db import make_engine
from tests.e2e.conftest import BASE_ENV, SECRET, Stack
from tests.e2e.test_incidents import declare, status_updates

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = 3


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotProcess:
    """`warroom serve` (or ``command``) as its own OS process, pointed at the test's workspace and database."""

    def __init__(self, stack: Stack, port: int, command: tuple[str, ...] = ("serve", "--with-worker")) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_", "DATABASE_URL"))}
        env.update(stack.env, DATABASE_URL=stack.database_url, SLACK_API_URL=stack.workspace.handle.url + "/api/",
                   WARROOM_STATUS_INTERVAL=str(INTERVAL))
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *command, "--host", "127.0.0.1",
                                      "--port", str(port)], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.kill()
        raise AssertionError(f"warroom {command[0]} did not come up")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, nothing flushed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def process_stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A workspace whose bot is started by the test as a separate process."""
    workspace = start_workspace(SandboxStore(str(tmp_path / "ws.db")), "", SECRET)
    stack = Stack(workspace=workspace, database_url=database_url, env=dict(BASE_ENV))
    yield stack
    workspace.handle.stop()


def test_killed_bot_resumes_the_cadence_with_one_catch_up(process_stack: Stack) -> None:
    stack = process_stack
    bot = BotProcess(stack, free_port())
    stack.ws.bot_events_url = bot.url + "/slack/events"
    stack.bot = bot  # type: ignore[assignment]  # stack.api() only needs .url
    try:
        _, room = declare(stack)
        stack.ws.wait_for(lambda: status_updates(stack, room), timeout=INTERVAL + 5, what="the first update")
        bot.kill()
        before = len(status_updates(stack, room))
        time.sleep(3 * INTERVAL)  # three intervals pass while the bot is dead
        assert len(status_updates(stack, room)) == before

        bot = BotProcess(stack, free_port())
        stack.ws.bot_events_url = bot.url + "/slack/events"
        stack.ws.wait_for(lambda: len(status_updates(stack, room)) > before, timeout=5,
                          what="the catch-up update")
        caught_up = time.monotonic()
        time.sleep(INTERVAL * 0.6)
        # One catch-up for the three missed intervals, not three.
        assert len(status_updates(stack, room)) == before + 1
        stack.ws.wait_for(lambda: len(status_updates(stack, room)) == before + 2, timeout=INTERVAL + 3,
                          what="the next regular update")
        # ... and it came a full interval after the catch-up.
        assert time.monotonic() - caught_up >= INTERVAL - 1.5
    finally:
        bot.kill()


def test_sigterm_stops_the_server_within_ten_seconds_after_finishing_its_work(process_stack: Stack) -> None:
    stack = process_stack
    bot = BotProcess(stack, free_port())
    stack.ws.bot_events_url = bot.url + "/slack/events"
    try:
        resp = stack.ws.command("U0REQUEST", "C0RELEASES", "/release", "start v9.0.0 risk=low")
        assert "started" in resp.json()["text"]
        t0 = time.monotonic()
        bot.proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then lets the signal end the process.
        assert bot.proc.wait(10) in (0, -signal.SIGTERM)
        assert time.monotonic() - t0 < 10
        # What it acked was delivered or is waiting, unclaimed, for the next process.
        assert held_claims(stack.database_url) == 0
    finally:
        bot.kill()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def held_claims(database_url: str) -> int:
    """Outbox rows still leased to some sender and not sent."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        held = conn.exec_driver_sql("SELECT count(*) FROM outbox_message WHERE sent_at IS NULL "
                                    "AND claimed_by IS NOT NULL").scalar()
    engine.dispose()
    return int(held or 0)


def test_sigterm_to_warroom_run_stops_its_worker_too(process_stack: Stack) -> None:
    """`warroom run` serves and starts `warroom worker` beside it. A SIGTERM to it (what a supervisor
    sends) stops both within ten seconds, the worker after handing its claims back; it used to end the
    server only, and the worker went on delivering on its own."""
    stack = process_stack
    bot = BotProcess(stack, free_port(), command=("run",))
    stack.ws.bot_events_url = bot.url + "/slack/events"
    try:
        (worker,) = _children(bot.proc.pid)
        assert _running(worker)
        resp = stack.ws.command("U0REQUEST", "C0RELEASES", "/release", "start v9.1.0 risk=low")
        assert "started" in resp.json()["text"]
        t0 = time.monotonic()
        bot.proc.send_signal(signal.SIGTERM)
        assert bot.proc.wait(10) == -signal.SIGTERM  # ended by the signal, as a supervisor expects
        assert time.monotonic() - t0 < 10
        assert not _running(worker)
        assert held_claims(stack.database_url) == 0
    finally:
        bot.kill()


def test_the_worker_of_a_killed_warroom_run_stops_by_itself(process_stack: Stack) -> None:
    """kill -9 of `warroom run` gives it no chance to stop its worker: the worker sees it is gone and
    drains on its own, so a supervisor's restart does not add a second worker every time."""
    stack = process_stack
    bot = BotProcess(stack, free_port(), command=("run",))
    workers: list[int] = []
    try:
        workers = _children(bot.proc.pid)
        assert len(workers) == 1
        bot.kill()
        deadline = time.monotonic() + 8
        while _running(workers[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(workers[0])
        assert held_claims(stack.database_url) == 0
    finally:
        bot.kill()
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
