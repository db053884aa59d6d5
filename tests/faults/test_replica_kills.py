"""Three replicas (web + worker each) on one PostgreSQL database and one loopback Slack, under
a load of release starts, approvals, promotions and Slack re-deliveries, one replica killed -9
(and started again) every ~9 s: no release, approval, transition, post or update lost or doubled."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text

from slackbox import SandboxStore, start_workspace
from slackbox.actor import VERIFICATION_TOKEN
from slackbox.payloads import team_obj, user_obj
from slackbox.seed import APP_ID, BOT_USER_ID, TEAM_ID
from storage.db import make_engine
from tests.e2e.conftest import BASE_ENV, SECRET, Stack
from tests.e2e.test_process_kill import BotProcess, free_port
from tests.e2e.test_releases import AP1, REQ

RELEASES = 80  # 5 requests each (start, promote, approve, promote, promote), plus re-deliveries
LOAD_SECONDS = 40.0  # releases are started evenly over this time
KILLS = 4  # kill -9s during the load, one every ~9 s
REDELIVER = 0.1  # the share of requests Slack delivers a second time (X-Slack-Retry-Num: 1)
TIMELINE = ("Release started by <@U0REQUEST>", "Promoted to *Staging*", "Approved by <@U0APPROVE1>",
            "Promoted to *Production canary 5%*", "Promoted to *Production 100%*")


class Replicas:
    """`warroom serve --with-worker` processes behind one round-robin "load balancer"."""

    def __init__(self, stack: Stack, count: int) -> None:
        self.stack = stack
        self.live = [BotProcess(stack, free_port())]  # the first one migrates the schema alone
        with ThreadPoolExecutor(count - 1) as pool:
            self.live += list(pool.map(lambda _: BotProcess(stack, free_port()), range(count - 1)))
        self.kills = 0
        self._lock = threading.Lock()
        self._turn = itertools.count()

    def next_url(self) -> str:
        """The next live replica's URL, round robin."""
        with self._lock:
            return self.live[next(self._turn) % len(self.live)].url

    def kill_one(self, rng: random.Random) -> None:
        """kill -9 a random replica, mid-request or mid-delivery, and start a new one."""
        with self._lock:
            victim = self.live[rng.randrange(len(self.live))]
        victim.kill()  # still in rotation: requests to it fail as they would behind a load balancer
        with self._lock:
            self.live.remove(victim)
            self.kills += 1
        fresh = BotProcess(self.stack, free_port())
        with self._lock:
            self.live.append(fresh)

    def stop(self) -> None:
        """Kill every replica left."""
        for bot in self.live:
            bot.kill()


def command(stack: Stack, channel: str, user: str, text_: str) -> str:
    """A `/release` slash command body as the workspace would send it."""
    token = stack.store.issue_response_url(user, channel)
    return urlencode({
        "token": VERIFICATION_TOKEN, "team_id": TEAM_ID, "channel_id": channel, "channel_name": channel.lower(),
        "user_id": user, "user_name": user.lower(), "command": "/release", "text": text_, "api_app_id": APP_ID,
        "response_url": f"{stack.workspace.handle.url}/sandbox/response/{token}",
        "trigger_id": stack.store.issue_trigger(user)})


def click(stack: Stack, channel: str, user: str, action_id: str, version: str, stage: str) -> str:
    """A click on the announcement's ``action_id`` button (value as the bot renders it)."""
    token = stack.store.issue_response_url(user, channel)
    payload = {
        "type": "block_actions", "user": user_obj(stack.store.member(user) or {}), "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN, "trigger_id": stack.store.issue_trigger(user), "team": team_obj(),
        "container": {"type": "message", "channel_id": channel, "message_ts": "1.000001", "is_ephemeral": False},
        "channel": {"id": channel, "name": channel.lower()}, "state": {"values": {}},
        "response_url": f"{stack.workspace.handle.url}/sandbox/response/{token}",
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button",
                     "value": json.dumps({"v": version, "s": stage}), "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)})


class Load:
    """Sends each request until a replica acks it, as Slack re-delivers one that was not acked;
    re-delivers some acked ones too. Counts what users were told."""

    def __init__(self, stack: Stack, replicas: Replicas, seed: int) -> None:
        self.stack, self.replicas = stack, replicas
        self.rng = random.Random(seed)
        self.client = httpx.Client(timeout=5, limits=httpx.Limits(max_connections=32))
        self.lock = threading.Lock()
        self.started: Counter[str] = Counter()  # "v… started" answers per version
        self.answers: list[str] = []  # command answers other than "started" or a duplicate's empty 200
        self.sent = self.redelivered = self.unanswered = 0

    def deliver(self, body: str, first_retry: int = 0) -> httpx.Response:
        """POST ``body`` to the next live replica until one answers 200."""
        for attempt in range(first_retry, first_retry + 60):
            headers = self.stack.ws.signed_headers(body)
            if attempt:
                headers |= {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_error"}
            with self.lock:
                self.sent += 1
            try:
                resp = self.client.post(self.replicas.next_url() + "/slack/events", content=body, headers=headers)
            except httpx.HTTPError:
                resp = None
            if resp is not None and resp.status_code == 200:
                return resp
            with self.lock:
                self.unanswered += 1
            time.sleep(0.2)
        raise AssertionError(f"no replica acked a request in 60 tries: {body[:200]}")

    def step(self, body: str, version: str) -> None:
        """One user action: delivered until acked, and maybe re-delivered (during or after)."""
        with self.lock:
            again = self.rng.random() < REDELIVER
            during = self.rng.random() < 0.5
        answers: list[httpx.Response] = []
        worker = None
        if again and during:  # Slack timed out on the first delivery while the bot was still on it
            worker = threading.Thread(target=lambda: answers.append(self.deliver(body, first_retry=1)))
            worker.start()
        answers.append(self.deliver(body))
        if worker:
            worker.join()
        elif again:
            answers.append(self.deliver(body, first_retry=1))
        with self.lock:
            self.redelivered += again
            for resp in answers:
                said = resp.json().get("text", "") if resp.content else ""
                if f"{version} started" in said:
                    self.started[version] += 1
                elif said:
                    self.answers.append(f"{version}: {said}")

    def walk(self, i: int, channel: str) -> None:
        """Release i from start to production, in its own channel."""
        v = f"v{i}.0.0"
        st = self.stack
        self.step(command(st, channel, REQ, f"start {v} risk=low chaos"), v)
        self.step(click(st, channel, REQ, "release_promote", v, "dev"), v)
        self.step(click(st, channel, AP1, "release_approve", v, "staging"), v)
        self.step(click(st, channel, REQ, "release_promote", v, "staging"), v)
        self.step(click(st, channel, REQ, "release_promote", v, "canary"), v)


@pytest.mark.postgres
@pytest.mark.timeout(300)  # about a minute; more on a loaded machine
def test_replicas_killed_under_load_lose_and_double_nothing(postgres_url: str, tmp_path: Path) -> None:
    database_url = postgres_url
    workspace = start_workspace(SandboxStore(str(tmp_path / "ws.db")), "", SECRET, host="127.0.0.1", port=0)
    # The stand-in is not Slack: pace for throughput; what is counted here is losses and doubles.
    env = {**BASE_ENV, "WARROOM_SLACK_WORKSPACE_RATE": "500", "WARROOM_SLACK_WORKSPACE_BURST": "500"}
    stack = Stack(workspace=workspace, database_url=database_url, env=env)
    channels = [stack.store.create_channel(f"rel-{i}", creator=REQ, members=[REQ, AP1, BOT_USER_ID])["id"]
                for i in range(RELEASES)]
    replicas = Replicas(stack, 3)
    engine = make_engine(database_url)
    load = Load(stack, replicas, seed=10)
    done = threading.Event()
    t0 = time.monotonic()

    def killer() -> None:  # at ~9, 18, 27 and 36 s, whatever a restart took
        rng = random.Random(20)
        for k in range(1, KILLS + 1):
            if done.wait(max(0.0, t0 + k * LOAD_SECONDS / (KILLS + 0.5) + rng.uniform(-1, 1) - time.monotonic())):
                return
            replicas.kill_one(rng)

    chaos = threading.Thread(target=killer, daemon=True)
    try:
        chaos.start()
        with ThreadPoolExecutor(12) as pool:
            walks = []
            for i, channel in enumerate(channels):
                time.sleep(max(0.0, t0 + i * LOAD_SECONDS / RELEASES - time.monotonic()))
                walks.append(pool.submit(load.walk, i, channel))
            for w in walks:
                w.result()
        chaos.join(120)
        assert replicas.kills == KILLS
        assert load.redelivered >= RELEASES * 5 * REDELIVER / 2

        def pending() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM outbox_message "
                                             "WHERE sent_at IS NULL AND NOT failed")).scalar() or 0)

        stack.ws.wait_for(lambda: pending() == 0, timeout=120, interval=0.5, what="the outbox to drain")
        check(stack, engine, channels, load)
    finally:
        done.set()
        replicas.stop()
        engine.dispose()
        workspace.handle.stop()


def check(stack: Stack, engine: Any, channels: list[str], load: Load) -> None:
    """What users would check: each release, approval, transition, post and update once."""
    versions = [f"v{i}.0.0" for i in range(len(channels))]
    assert load.answers == []  # nobody was told "exists already", "already approved", ...
    assert all(load.started[v] <= 1 for v in versions), load.started  # nobody told twice
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, version, status, stage, channel_id FROM release")).all()
        approvals = conn.execute(text("SELECT release_id, user_id FROM approval")).all()
        audit = conn.execute(text("SELECT subject_id, action, from_state, to_state FROM audit_entry "
                                  "WHERE subject = 'release' ORDER BY id")).all()
        outbox = conn.execute(text("SELECT count(*) FILTER (WHERE sent_at IS NULL), "
                                   "count(*) FILTER (WHERE failed) FROM outbox_message")).one()
    assert sorted(r.version for r in rows) == sorted(versions)  # each stored once, none lost
    assert {(r.status, r.stage) for r in rows} == {("completed", "production")}
    assert {r.version: r.channel_id for r in rows} == dict(zip(versions, channels, strict=True))
    by_id = {r.id: r.version for r in rows}
    assert sorted((by_id[a.release_id], a.user_id) for a in approvals) == sorted((v, AP1) for v in versions)
    trail: dict[int, list[str]] = {}
    for a in audit:
        trail.setdefault(a.subject_id, []).append(a.action)
    assert {by_id[k]: t for k, t in trail.items()} == {
        v: ["start", "promote", "approve", "promote", "promote"] for v in versions}
    assert tuple(outbox) == (0, 0)  # nothing pending, nothing given up on
    for v, channel in zip(versions, channels, strict=True):
        posted = [m for m in stack.ws.messages(channel, include_replies=True) if m.get("bot_id")]
        tops = [m for m in posted if not m["thread_ts"] or m["thread_ts"] == m["ts"]]
        assert len(tops) == 1, (v, [m["text"] for m in tops])  # announced once
        assert "completed" in tops[0]["text"] and "Production 100%" in tops[0]["text"], tops[0]["text"]
        timeline = [m["text"] for m in posted if m is not tops[0]]
        assert len(timeline) == len(TIMELINE), (v, timeline)  # one line per transition
        for line in TIMELINE:
            assert sum(line in t for t in timeline) == 1, (v, line, timeline)
        for user in (REQ, AP1):
            assert stack.ws.ephemerals(user, channel) == [], (v, user)  # no click was refused
