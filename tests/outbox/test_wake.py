"""A commit that queues a request to an executor wakes the `warroom worker` processes of its host
at once: the request goes out within milliseconds, not on the worker's next poll (every 0.25 s
while idle)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.releases.requests import StartRelease
from bot.wake import WakeListener, WakeSender, listen, wake_dir
from tests.e2e.executors import SECRET as DEPLOYER_SECRET
from tests.e2e.executors import Deployer, write_policy
from tests.support import make_services, who

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder() -> Iterator[Path]:
    """A short directory (socket paths are limited to 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="wk"))
    yield path / "workers"
    shutil.rmtree(path, ignore_errors=True)


def test_each_worker_hears_each_wake_with_its_lane(folder: Path) -> None:
    heard: list[tuple[int, bool]] = []
    arrived = threading.Condition()

    def on_wake(i: int, fast: bool) -> None:
        with arrived:
            heard.append((i, fast))
            arrived.notify_all()

    listeners = [WakeListener(folder, lambda fast, i=i: on_wake(i, fast)) for i in range(2)]
    for listener in listeners:
        listener.start()
    sender = WakeSender(folder)
    try:
        sender.send(fast=True)
        sender.send(fast=False)
        with arrived:
            assert arrived.wait_for(lambda: len(heard) == 4, timeout=5), heard
        assert sorted(heard) == [(0, False), (0, True), (1, False), (1, True)]
    finally:
        sender.close()
        for listener in listeners:
            listener.stop()
    assert not folder.exists()  # stopped workers are no longer woken, and the last one cleared up


def test_a_worker_stopping_leaves_the_others_reachable(folder: Path) -> None:
    heard = threading.Event()
    first = WakeListener(folder, lambda fast: None)
    second = WakeListener(folder, lambda fast: heard.set())
    second.start()
    first.start()
    first.stop()
    sender = WakeSender(folder)
    try:
        sender.send(fast=False)
        assert heard.wait(5), "the worker still running was not woken"
        assert [p.name for p in folder.glob("*.sock")] == [second.path.name]
    finally:
        sender.close()
        second.stop()
    assert not folder.exists()


def test_a_killed_workers_socket_is_dropped_and_the_rest_still_woken(folder: Path) -> None:
    folder.mkdir(parents=True)
    dead = folder / "1-deadbeef.sock"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    left.bind(str(dead))
    left.close()  # as SIGKILL leaves it: the file stays, nothing is bound
    woken = threading.Event()
    alive = WakeListener(folder, lambda fast: woken.set())
    alive.start()
    sender = WakeSender(folder)
    try:
        sender.send(fast=False)
        assert woken.wait(5)
        assert not dead.exists()
        assert alive.path.exists()
    finally:
        sender.close()
        alive.stop()


def test_with_no_worker_a_commit_wakes_nobody_and_does_not_fail(folder: Path) -> None:
    sender = WakeSender(folder)  # the directory does not even exist
    sender.send(fast=True)
    sender.close()


def test_one_database_one_directory_whatever_the_spelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert wake_dir("sqlite:///./warroom.db") == wake_dir(f"sqlite:///{tmp_path}/warroom.db")
    assert wake_dir("sqlite:///./warroom.db") != wake_dir("sqlite:///./other.db")
    assert wake_dir("sqlite://") is None
    pg = wake_dir("postgresql://app:secret@db:5432/warroom")
    assert pg is not None and "secret" not in str(pg)


@pytest.fixture
def deployer() -> Iterator[Deployer]:
    """A loopback deployer that answers 202 at once."""
    d = Deployer().start()
    yield d
    d.stop()


def test_a_deploy_request_reaches_its_executor_without_waiting_for_the_workers_poll(
        database_url: str, deployer: Deployer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", DEPLOYER_SECRET)
    policy = write_policy(tmp_path / "policy.yml", {"deployer": {"kind": "webhook", "url": deployer.url,
                                                                 "secret_env": "DEPLOYER_WEBHOOK_SECRET"}},
                          {"staging": "deployer"})
    settings = {"WARROOM_CONFIG": policy, "WARROOM_PUBLIC_URL": "http://bot.invalid", "WARROOM_FREEZE_DAYS": ""}
    web = make_services(database_url, **settings)  # wired as a web process is
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_", "DATABASE_URL"))}
    env.update(settings, DATABASE_URL=database_url, SLACK_API_URL="http://127.0.0.1:9/api/",
               SLACK_BOT_TOKEN="xoxb-e2e", SLACK_SIGNING_SECRET="s")
    worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def promote(i: int) -> float:
        version = f"v{i}.0.0"
        web.releases.start(StartRelease.build(version=version, risk="low", channel_id="C0REL"), who("U0REQ"))
        web.releases.promote(version, who("U0REQ"))  # dev -> staging: a request to the deployer
        t = time.monotonic()
        deadline = t + 30
        while not any(r["body"]["release"]["version"] == version for r in deployer.accepted()):
            assert time.monotonic() < deadline, f"the request for {version} never arrived"
            time.sleep(0.002)
        return time.monotonic() - t

    try:
        promote(0)  # the worker is up
        time.sleep(1.1)  # and the web side has seen its socket
        latencies = []
        for i in range(1, 21):
            time.sleep(random.uniform(0.3, 0.6))  # the worker idle, somewhere in its poll
            latencies.append(promote(i))
        # Left to its poll, three in four would take longer than this.
        assert statistics.quantiles(latencies, n=4)[2] < 0.12, sorted(latencies)
    finally:
        worker.terminate()
        worker.wait(10)
        web.db.engine.dispose()


def test_a_worker_that_cannot_make_its_socket_still_runs_on_its_poll(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")  # the wake directory cannot be created under a file
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))
    assert listen("sqlite:///warroom.db", lambda fast: None) is None
    assert listen("sqlite://", lambda fast: None) is None  # in memory: one process, nothing to wake
