"""Delivers queued calls (Slack's, and other systems' through ``targets``) after their
transaction commits.

- Nothing deliverable is given up: connection errors, timeouts, 5xx and 429 are retried with
  capped, jittered back-off (Retry-After honoured for that one row) until ``give_up`` seconds
  after the row was queued; only permanent errors fail a row at once.
- Order per key: a row is claimed only when no earlier row with its ``order_key`` (its
  channel) is still pending, so retries never overtake; a thread reply or an update waits for
  the message it refers to (``bot.tx.ref``); of pending rows sharing a ``coalesce_key`` only the
  newest is sent, so a burst of changes is one update.
- Claims are short leases (``claimed_until``) renewed by a heartbeat: a replica that dies has
  its rows taken over within seconds. ``sending_at`` is set by a claim, before any call, kept by
  later claims while in doubt, and cleared when a failure shows the call did not happen, so a
  retry knows since when an earlier try may have gone through (a post is then looked up in the
  channel, a rendered one by the text it was tried with; a channel create adopts the channel it
  finds by its name).
- Two lanes: calls a user is waiting for (views.open, ephemeral replies) are claimed by their
  own thread and never wait behind channel traffic. Calls to other systems (``targets``:
  executor webhooks, GitHub) go out side by side on a small pool, and their temporary failures
  are retried without giving up (an executor down for a while must not lose a request).
- Messages that mirror state (a release announcement, an incident's pinned summary) are rendered
  by a registered renderer at send time (``Op.RENDER``), so a burst of changes is one update.
- A programming error (an unknown op or renderer, a payload the verb does not take) cannot
  succeed on a retry: the row is failed at once and logged at ERROR.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from bot.clock import Clock
from bot.gateway import SlackGateway
from bot.ops import Op
from bot.outbox_claim import Claim, claim_rows
from bot.outbox_record import AfterSent, Recorder
from bot.pacing import SharedPacer
from storage.db import session_scope
from storage.models import OutboxMessage, SlackRef

log = logging.getLogger(__name__)
BATCH_WINDOW = 0.02  # seconds: gather what commits meanwhile into one claim
LEASE = timedelta(seconds=3)  # a dead replica's rows are free again this long after its last heartbeat
HEARTBEAT = 1.0  # seconds between lease renewals
SWEEP_EVERY = 30.0  # seconds
KEEP_SENT = timedelta(days=7)  # sent rows stay this long, for looking into what went out
SENT = "sent"  # in a rendered post's payload: the call as last tried (see _keep_sent)
# A renderer turns a stored payload into a gateway call: (op, args), or None for nothing to send.
Renderer = Callable[[Session, dict[str, Any]], tuple[Op, dict[str, Any]] | None]
# A target delivers one op to a system other than Slack; it raises TemporaryFailure or
# PermanentFailure (bot.errors) and returns what may be stored under the row's store_as.
Target = Callable[[dict[str, Any]], dict[str, Any]]
QUEUE, FAST = "queue", "fast"
# The ops the gateway delivers itself (Op.RENDER resolves to one of these at send time).
_GATEWAY_VERBS = frozenset({Op.POST, Op.UPDATE, Op.EPHEMERAL, Op.DM, Op.CREATE_CHANNEL, Op.INVITE, Op.TOPIC,
                            Op.PIN, Op.UPLOAD, Op.UPLOAD_PNG, Op.OPEN_VIEW, Op.PUBLISH_VIEW})


@dataclass(frozen=True)
class RendererEntry:
    """A registered renderer and what to do once its call succeeded."""

    render: Renderer
    after_sent: AfterSent | None = None


class OutboxSender:
    """Background threads per process that drain the outbox: one per lane, plus a heartbeat."""

    def __init__(self, engine: Any, gateway: SlackGateway, clock: Clock, *, batch: int = 50,
                 pacer: SharedPacer | None = None, give_up: float = 86400.0,
                 lanes: tuple[str, ...] = (QUEUE, FAST)) -> None:
        self.engine = engine
        self.pacer = pacer
        self.gateway = gateway
        self.clock = clock
        self.batch = batch
        self.give_up = timedelta(seconds=give_up)
        self.lanes = lanes
        self.worker_id = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.renderers: dict[str, RendererEntry] = {}
        # Non-Slack ops (Op.WEBHOOK, Op.GITHUB): op -> deliver(args) -> result, registered by
        # the composition root.
        self.targets: dict[str, Target] = {}
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="warroom-outbox-target")
        self._wake = {lane: threading.Event() for lane in (QUEUE, FAST)}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Rows a drain pass holds right now: only these leases are renewed, so a row a
        # failed pass let go of is free again when its lease runs out.
        self._held: set[int] = set()
        self._tried: set[int] = set()  # of those, the ones whose call has started
        self._held_lock = threading.Lock()
        self._recorder = Recorder(engine, clock, self.give_up, self.targets, self._after_sent)

    def _after_sent(self, renderer: str) -> AfterSent | None:
        entry = self.renderers.get(renderer)
        return entry.after_sent if entry else None

    def register_renderer(self, name: str, render: Renderer, *, after_sent: AfterSent | None = None) -> None:
        """Make ``tx.slack.render(name, ...)`` rows deliverable (the composition root calls this)."""
        if name in self.renderers:
            raise ValueError(f"renderer {name!r} is registered already")
        self.renderers[name] = RendererEntry(render, after_sent)

    def kick(self, fast: bool | None = None) -> None:
        """Wake the sender: new rows were committed (``fast``: only a fast-lane row among them
        wakes that lane; None wakes both)."""
        self._wake[QUEUE].set()
        if fast is None or fast:
            self._wake[FAST].set()

    def start(self) -> None:
        """Start a thread per lane and the lease heartbeat."""
        self._stop.clear()
        self._threads = [threading.Thread(target=self._loop, args=(lane,), name=f"warroom-outbox-{lane}",
                                          daemon=True) for lane in self.lanes]
        self._threads.append(threading.Thread(target=self._heartbeat, name="warroom-outbox-lease", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the call in flight, then hand every unsent claim back (a drain)."""
        self._stop.set()
        self.kick()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        try:
            self.release_claims()
        except Exception:  # the leases run out on their own
            log.warning("could not release outbox claims", exc_info=True)

    def release_claims(self) -> int:
        """Free the rows this sender claimed but did not send: another replica takes them at once."""
        with session_scope(self.engine, background=True) as s:
            return int(s.connection().execute(update(OutboxMessage).where(
                col(OutboxMessage.claimed_by) == self.worker_id, col(OutboxMessage.sent_at).is_(None))
                .values(claimed_until=None, claimed_by=None)).rowcount or 0)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self.renew()
            except Exception:  # the database is away: the loops reconnect, so does this
                log.warning("outbox lease renewal failed", exc_info=True)

    def renew(self) -> None:
        """Extend the leases of every row this sender holds."""
        with self._held_lock:
            held = sorted(self._held)
        if not held:
            return
        now = self.clock.now()
        # PostgreSQL: rows locked by a transaction writing their outcome are skipped, not waited for
        # (they need no lease any more). Waiting deadlocked with an outcome batch that locked the
        # same rows in another order, and the losing heartbeat left leases to run out.
        mine = (select(col(OutboxMessage.id)).where(
            col(OutboxMessage.id).in_(held), col(OutboxMessage.claimed_by) == self.worker_id,
            col(OutboxMessage.sent_at).is_(None)).order_by(col(OutboxMessage.id)).with_for_update(skip_locked=True))
        with session_scope(self.engine, background=True) as s:
            s.execute(update(OutboxMessage).where(col(OutboxMessage.id).in_(mine))
                      .values(claimed_until=now + LEASE))

    def _loop(self, lane: str) -> None:
        next_sweep = time.monotonic() + SWEEP_EVERY
        pause = 0.25
        while not self._stop.is_set():
            try:
                if lane == QUEUE and time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_EVERY
                    self.sweep()
                busy = self.drain_once(lane)
                pause = 0.25
            except Exception:  # the database is unreachable, say: back off and reconnect
                log.warning("outbox %s pass failed; retrying in %.1fs", lane, pause, exc_info=True)
                busy = False
                self._stop.wait(pause)
                pause = min(pause * 2, 5.0)
            if not busy:
                if self._wake[lane].wait(0.25) and lane == QUEUE:
                    # Gather what commits in the next few ms into one pass.
                    time.sleep(BATCH_WINDOW)
                self._wake[lane].clear()

    def drain_once(self, lane: str = QUEUE) -> bool:
        """Send what is due now in ``lane``; True when anything was claimed (there may be more)."""
        claimed = claim_rows(self.engine, self.clock.now(), fast=lane == FAST, batch=self.batch,
                             worker=self.worker_id, lease=LEASE, pacer=None if lane == FAST else self.pacer,
                             give_up=self.give_up)
        ids = {c.id for c in claimed}
        with self._held_lock:
            self._held |= ids
        try:
            # Requests to other systems go out side by side, so one slow executor does not
            # hold up the Slack calls behind it, nor each other.
            remote = [self._pool.submit(self._deliver, c) for c in claimed if c.op in self.targets]
            for claim in claimed:
                if self._stop.is_set() and lane == QUEUE:
                    break  # draining: the rest is released to another replica
                if claim.op not in self.targets:
                    self._deliver(claim)
            for future in remote:
                future.result()
        finally:
            with self._held_lock:
                untried = sorted(ids - self._tried)
                self._held -= ids
                self._tried -= ids
            if untried and self._stop.is_set():
                self._hand_back(untried)
        return bool(claimed)

    def _hand_back(self, ids: list[int]) -> None:
        """Release rows claimed but never tried (a drain): no call was made, so none is in doubt."""
        with session_scope(self.engine, background=True) as s:
            s.execute(update(OutboxMessage).where(col(OutboxMessage.id).in_(ids),
                                                  col(OutboxMessage.claimed_by) == self.worker_id,
                                                  col(OutboxMessage.sent_at).is_(None))
                      .values(sending_at=None, claimed_until=None, claimed_by=None))

    def _deliver(self, claim: Claim) -> None:
        with self._held_lock:
            self._tried.add(claim.id)
        call = self._render_one(claim)
        if call is None:
            return
        op, args = call
        if op == Op.CREATE_CHANNEL and claim.tried_before:
            args = {**args, "adopt": True}
        try:
            if claim.op == Op.RENDER and op == Op.POST and claim.args.get(SENT) != args:
                self._keep_sent(claim.id, args)
            result = self._already_posted(claim, op, args) or self._call(op, args)
            error: Exception | None = None
        except Exception as exc:  # classified and recorded on the row
            result, error = None, exc
        self._recorder.record(claim, result, error)

    def _already_posted(self, claim: Claim, op: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """After a try whose outcome is unknown (a crash or timeout mid-call), look in the
        channel before posting again: Slack cannot dedupe chat.postMessage for us."""
        if not claim.tried_before or op != Op.POST or claim.sending_at is None:
            return None
        channel, text = args.get("channel"), args.get("text")
        if not isinstance(channel, str) or not isinstance(text, str):
            return None
        ts = self.gateway.find_posted(channel, text, claim.sending_at.timestamp(), args.get("thread_ts"))
        if ts is None:
            return None
        log.info("outbox %s was posted before its sender stopped; not posting it again", claim.id)
        return {"channel": channel, "ts": ts}

    def _keep_sent(self, row_id: int, args: dict[str, Any]) -> None:
        """Store a rendered post as it is about to be made: should its outcome be lost, the retry
        looks for this text in the channel, which a fresh render of a changed state would not find."""
        with session_scope(self.engine, background=True) as s:
            row = s.get(OutboxMessage, row_id)
            if row is not None and row.sent_at is None:
                row.payload = {**row.payload, SENT: args}

    def _call(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        target = self.targets.get(op)
        if target is not None:
            return target(args)
        if op not in _GATEWAY_VERBS:
            raise KeyError(f"unknown outbox op {op!r}")
        verb: Callable[..., dict[str, Any]] = getattr(self.gateway, op)
        return verb(**args)

    def _render_one(self, claim: Claim) -> tuple[str, dict[str, Any]] | None:
        if claim.op != Op.RENDER:
            return claim.op, claim.args
        sent = claim.args.get(SENT)
        if claim.tried_before and isinstance(sent, dict):
            # The earlier try may have posted this; the updates queued since bring it up to date.
            return Op.POST, sent
        try:
            entry = self.renderers[claim.args["renderer"]]
            with Session(self.engine, expire_on_commit=False) as s:
                call = entry.render(s, {k: v for k, v in claim.args.items() if k not in ("renderer", SENT)})
        except Exception as exc:  # an unknown renderer or a payload it cannot read: failed at once
            self._recorder.record(claim, None, exc)
            return None
        if call is None:
            self._recorder.record(claim, None, None)
            return None
        return str(call[0]), call[1]

    def sweep(self) -> None:
        """Housekeeping: wake parked rows whose message exists (a ref another replica stored
        while the row was being parked), and drop rows sent more than KEEP_SENT ago."""
        now = self.clock.now()
        with session_scope(self.engine, background=True) as s:
            # From the parked rows (an index on waits_for) to their refs (primary key): "waits_for IN
            # (every key)" read all of slack_ref, one row per message ever stored, every 30 s.
            posted = select(col(SlackRef.key)).where(col(SlackRef.key) == col(OutboxMessage.waits_for)).exists()
            s.execute(update(OutboxMessage)
                      .where(col(OutboxMessage.waits_for).is_not(None), col(OutboxMessage.sent_at).is_(None), posted)
                      .values(waits_for=None, not_before=now))
            s.execute(delete(OutboxMessage).where(col(OutboxMessage.sent_at) < now - KEEP_SENT))
