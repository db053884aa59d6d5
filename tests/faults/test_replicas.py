"""Replicas as real processes sharing one database: kill -9 one while it delivers and its
rows are taken over within seconds, none lost or doubled, order per channel kept; SIGTERM
drains (the worker exits promptly and hands its claims back)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.clock import Clock
from bot.database import Database
from slackbox import RunningWorkspace, SandboxStore, start_workspace
from slackbox.seed import BOT_USER_ID
from storage.db import make_engine
from storage.migrate import upgrade
from tests.e2e.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]
RATE = 4  # messages per second per channel, for every replica together


@pytest.fixture
def workspace(tmp_path) -> Iterator[RunningWorkspace]:
    """The loopback Slack."""
    ws = start_workspace(SandboxStore(str(tmp_path / "ws.db")), "", SECRET, host="127.0.0.1", port=0)
    yield ws
    ws.handle.stop()


def worker(database_url: str, api_url: str) -> subprocess.Popen[bytes]:
    """`warroom worker` as its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_", "DATABASE_URL"))}
    env.update(DATABASE_URL=database_url, SLACK_API_URL=api_url, SLACK_BOT_TOKEN="xoxb-e2e",
               SLACK_SIGNING_SECRET=SECRET, WARROOM_SLACK_CHANNEL_RATE=str(RATE), WARROOM_SLACK_CHANNEL_BURST="1",
               WARROOM_FREEZE_DAYS="")
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def queue(database_url: str, channels: list[str], per_channel: int) -> Database:
    """Queue numbered posts into each channel, interleaved, in one transaction."""
    engine = make_engine(database_url)
    upgrade(engine)
    db = Database(engine, Clock())
    with db.transaction() as tx:
        for i in range(per_channel):
            for c in channels:
                tx.send("post", channel=c, text=f"{c} #{i}")
    return db


def delivered(ws: RunningWorkspace, channels: list[str]) -> dict[str, list[str]]:
    """Texts posted per channel, in the order Slack shows them."""
    return {c: [m["text"] for m in ws.workspace.messages(c) if m.get("bot_id")] for c in channels}


def test_a_killed_replica_is_taken_over_with_nothing_lost_or_doubled(database_url: str, workspace) -> None:
    channels = ["C0RELEASES", "C0INCIDENTS", workspace.store.create_channel(
        "ops", creator="U0REQUEST", members=["U0REQUEST", BOT_USER_ID])["id"]]
    api = workspace.handle.url + "/api/"
    procs = [worker(database_url, api) for _ in range(2)]
    try:
        per = 16
        db = queue(database_url, channels, per)
        workspace.workspace.wait_for(lambda: sum(map(len, delivered(workspace, channels).values())) >= 8,
                                     timeout=30, what="delivery under way")
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        start = time.monotonic()
        workspace.workspace.wait_for(lambda: sum(map(len, delivered(workspace, channels).values())) >= 3 * per,
                                     timeout=40, what="every message")
        time.sleep(1)
        got = delivered(workspace, channels)
        for c in channels:
            assert got[c] == [f"{c} #{i}" for i in range(per)], got[c]  # once each, in order
        # Paced at RATE per channel for both replicas together; the killed one's leases (3 s)
        # expire and the survivor goes on: far less than 5 s lost.
        assert time.monotonic() - start < per / RATE + 5 + 5
        db.engine.dispose()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


def test_sigterm_drains_and_hands_claims_back(database_url: str, workspace) -> None:
    channels = ["C0RELEASES", "C0INCIDENTS"]
    api = workspace.handle.url + "/api/"
    first = worker(database_url, api)
    db = queue(database_url, channels, 20)
    try:
        workspace.workspace.wait_for(lambda: sum(map(len, delivered(workspace, channels).values())) >= 2,
                                     timeout=30, what="delivery under way")
        t0 = time.monotonic()
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
        assert time.monotonic() - t0 < 10
        with db.engine.connect() as conn:
            held = conn.exec_driver_sql("SELECT count(*) FROM outbox_message WHERE sent_at IS NULL "
                                        "AND claimed_by IS NOT NULL").scalar()
        assert held == 0  # nothing left claimed: the next worker needs no lease to run out
        second = worker(database_url, api)
        try:
            workspace.workspace.wait_for(lambda: sum(map(len, delivered(workspace, channels).values())) == 40,
                                         timeout=30, what="the rest, from the next worker")
            got = delivered(workspace, channels)
            for c in channels:
                assert got[c] == [f"{c} #{i}" for i in range(20)]
        finally:
            second.terminate()
            second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
        db.engine.dispose()


def test_two_replicas_pace_a_channel_as_one_would(database_url: str, workspace) -> None:
    api = workspace.handle.url + "/api/"
    procs = [worker(database_url, api) for _ in range(2)]  # RATE per second, bursts of 1
    try:
        db = queue(database_url, ["C0RELEASES"], 13)
        workspace.workspace.wait_for(lambda: len(delivered(workspace, ["C0RELEASES"])["C0RELEASES"]) == 13,
                                     timeout=40, what="the 13 posts")
        stamps = [float(m["ts"]) for m in workspace.workspace.messages("C0RELEASES") if m.get("bot_id")]
        # 13 posts at RATE/s shared: 12 intervals of 1/RATE s at least (each pacing on its own
        # would send twice as fast). A little slack for clock granularity.
        assert stamps[-1] - stamps[0] >= 12 / RATE - 0.3, stamps
        db.engine.dispose()
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
