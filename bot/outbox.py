"""Delivers queued Slack calls after their transaction commits.

Rows are claimed in id order (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), sent, and marked
sent; a failure is retried with back-off, so a Slack hiccup never loses a message. A call
that needs another call's result (an update needs the ts of the post) names it with
``bot.tx.ref`` and waits until that result is stored. Messages that mirror state (a release
announcement, an incident's pinned summary) are rendered by a registered renderer at send
time (``Op.RENDER``), so they are always current and a burst of changes becomes one update.
A programming error (a payload the gateway's verb does not take, an unknown op or renderer)
cannot succeed on a retry: the row is failed at once and logged at ERROR.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, and_, bindparam, delete, or_, select, update
from sqlmodel import Session, col

from bot.clock import Clock
from bot.gateway import SlackCallFailed, SlackGateway
from bot.ops import Op
from bot.pacing import ChannelPacer
from storage.db import session_scope
from storage.models import OutboxMessage, SlackRef, table_of

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BATCH_WINDOW = 0.1  # seconds
PARKED = timedelta(hours=1)  # how long a row waits for its reference before it is looked at again
SWEEP_EVERY = 30.0  # seconds
KEEP_SENT = timedelta(days=7)  # sent rows stay this long, for looking into what went out
# A renderer turns a stored payload into a gateway call: (op, args), or None for nothing to send.
Renderer = Callable[[Session, dict[str, Any]], tuple[Op, dict[str, Any]] | None]
# Runs in the transaction that marks a rendered call sent: (session, the row's args, the result).
AfterSent = Callable[[Session, dict[str, Any], dict[str, Any]], None]
# Errors in our own code or payloads: retrying cannot help.
PROGRAMMING_ERRORS = (TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class RendererEntry:
    """A registered renderer and what to do once its call succeeded."""

    render: Renderer
    after_sent: AfterSent | None = None


# The ops the gateway delivers itself (Op.RENDER resolves to one of these at send time).
_GATEWAY_VERBS = frozenset({Op.POST, Op.UPDATE, Op.EPHEMERAL, Op.DM, Op.CREATE_CHANNEL, Op.INVITE, Op.TOPIC,
                            Op.PIN, Op.UPLOAD, Op.OPEN_VIEW})


Target = Callable[[dict[str, Any]], dict[str, Any]]


class TargetFailed(Exception):
    """A non-Slack delivery failed; ``permanent`` ones are not retried."""

    def __init__(self, error: str, *, permanent: bool) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent


class _Unresolved(Exception):
    """A referenced message has not been posted yet."""


def _ref_keys(value: Any) -> list[str]:
    """The SlackRef keys a payload refers to."""
    if isinstance(value, dict):
        if set(value) == {"$ref", "field"}:
            return [value["$ref"]]
        return [k for v in value.values() for k in _ref_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _ref_keys(v)]
    return []


def _resolve(value: Any, refs: dict[str, SlackRef]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$ref", "field"}:
            found = getattr(refs.get(value["$ref"]), value["field"], None)
            if found is None:
                raise _Unresolved(value["$ref"])
            return found
        return {k: _resolve(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, refs) for v in value]
    return value


class OutboxSender:
    """A background thread per process that drains the outbox."""

    def __init__(self, engine: Any, gateway: SlackGateway, clock: Clock, *, batch: int = 50,
                 pacer: ChannelPacer | None = None) -> None:
        self.engine = engine
        self.pacer = pacer
        self.gateway = gateway
        self.clock = clock
        self.batch = batch
        self.renderers: dict[str, RendererEntry] = {}
        # Non-Slack ops (executor webhooks, GitHub): op -> deliver(args) -> result. Consulted
        # before the Slack gateway; they raise TargetFailed, and are retried without giving up
        # on temporary failures (an executor that is down for a while must not lose a request).
        self.targets: dict[str, Target] = {}
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="warroom-outbox-target")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register_renderer(self, name: str, render: Renderer, *, after_sent: AfterSent | None = None) -> None:
        """Make ``tx.slack.render(name, ...)`` rows deliverable (the composition root calls this)."""
        if name in self.renderers:
            raise ValueError(f"renderer {name!r} is registered already")
        self.renderers[name] = RendererEntry(render, after_sent)

    def kick(self) -> None:
        """Wake the sender: new rows were committed."""
        self._wake.set()

    def start(self) -> None:
        """Start the sender thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="warroom-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the call in flight."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        next_sweep = time.monotonic() + SWEEP_EVERY
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_EVERY
                    self.sweep()
                busy = self.drain_once()
            except Exception:  # keep the thread alive; the rows stay pending
                log.exception("outbox pass failed")
                busy = False
            if not busy:
                if self._wake.wait(0.25):
                    # Gather what commits in the next few ms into one pass: under load that
                    # is one claim per batch instead of one per request.
                    time.sleep(BATCH_WINDOW)
                self._wake.clear()

    def drain_once(self) -> bool:
        """Send what is due now; True when anything was sent (so there may be more to do)."""
        ready = self._claim()
        # Requests to other systems go out side by side, so one slow executor (or a burst of
        # them) does not hold up the Slack calls behind it, nor each other.
        remote = [self._pool.submit(self._deliver, *row) for row in ready if row[1] in self.targets]
        for row in ready:
            if row[1] not in self.targets:
                self._deliver(*row)
        for future in remote:
            future.result()
        return bool(ready)

    def _deliver(self, row_id: int, op: str, args: dict[str, Any]) -> None:
        result: dict[str, Any] | None = None
        error: Exception | None = None
        try:
            call = self._render_one(op, args)
            if call is not None:
                result = self._verb(call[0])(**call[1])
        except Exception as exc:  # recorded on the row; connection trouble is retried
            error = exc
        self._record(row_id, result, error)

    def _verb(self, op: str) -> Callable[..., dict[str, Any]]:
        target = self.targets.get(op)
        if target is not None:
            return lambda **args: target(args)
        if op not in _GATEWAY_VERBS:
            raise KeyError(f"unknown outbox op {op!r}")
        verb: Callable[..., dict[str, Any]] = getattr(self.gateway, op)
        return verb

    def _render_one(self, op: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if op != Op.RENDER:
            return op, args
        entry = self.renderers[args["renderer"]]
        with Session(self.engine, expire_on_commit=False) as s:
            call = entry.render(s, {k: v for k, v in args.items() if k != "renderer"})
        return (str(call[0]), call[1]) if call is not None else None

    def _claim(self) -> list[tuple[int, str, dict[str, Any]]]:
        """Take the due rows: decide while only reading, then write the outcome in bulk.

        Superseded updates are dropped, rows whose reference is not posted yet are parked
        until it is (see _store), paced rows get a later not_before, the rest are claimed.
        The write lock is held for a few bulk statements only, never for the reading.
        """
        now = self.clock.now()
        table = table_of(OutboxMessage)
        with Session(self.engine) as s:
            rows = list(s.execute(
                select(table.c.id, table.c.op, table.c.payload, table.c.coalesce_key, table.c.created_at)
                # Spelled as the partial index ix_outbox_due is, so the planner uses it.
                .where(table.c.sent_at.is_(None), table.c.failed == False,  # noqa: E712
                       table.c.not_before <= now,
                       or_(table.c.claimed_until.is_(None), table.c.claimed_until < now))
                .order_by(table.c.not_before, table.c.id).limit(self.batch)))
            keys = {k for row in rows for k in _ref_keys(row.payload)}
            found = list(s.execute(select(SlackRef).where(col(SlackRef.key).in_(keys))).scalars()) if keys else []
            refs: dict[str, SlackRef] = {r.key: r for r in found}
        newest: dict[str, int] = {}
        for row in rows:
            if row.coalesce_key:
                newest[row.coalesce_key] = max(newest.get(row.coalesce_key, 0), row.id)
        superseded, parked, paced, ready = [], [], [], []
        for row in rows:
            if row.coalesce_key and row.id < newest[row.coalesce_key]:
                superseded.append(row.id)
                continue
            try:
                args = _resolve(row.payload, refs)
            except _Unresolved as missing:
                parked.append({"rid": row.id, "key": str(missing), "late": now - row.created_at > PARKED})
                continue
            wait = self.pacer.delay(row.id, row.op, args.get("channel")) if self.pacer else 0.0
            if wait > 0:
                paced.append({"rid": row.id, "nb": now + timedelta(seconds=wait)})
            else:
                ready.append((row.id, row.op, args))
        if not rows:
            return []
        return self._apply_claim(now, superseded, parked, paced, ready)

    def _apply_claim(self, now: datetime, superseded: list[int], parked: list[dict[str, Any]],
                     paced: list[dict[str, Any]], ready: list[tuple[int, str, dict[str, Any]]],
                     ) -> list[tuple[int, str, dict[str, Any]]]:
        table = table_of(OutboxMessage)
        # Only rows nobody else claimed meanwhile (another replica) are touched.
        free = and_(table.c.sent_at.is_(None), or_(table.c.claimed_until.is_(None), table.c.claimed_until < now))
        rid: BindParameter[int] = bindparam("rid")
        with session_scope(self.engine) as s:
            conn = s.connection()
            if superseded:
                conn.execute(update(table).where(table.c.id.in_(superseded), free)
                             .values(sent_at=now, last_error="superseded"))
            if parked:
                posted = select(col(SlackRef.key)).where(col(SlackRef.key) == bindparam("key")).exists()
                conn.execute(update(table).where(table.c.id == rid, free, ~posted).values(
                    waits_for=bindparam("key"), not_before=now + PARKED), parked)
                late = [p["rid"] for p in parked if p["late"]]
                if late:
                    conn.execute(update(table).where(table.c.id.in_(late))
                                 .values(failed=True, last_error="what it refers to was never posted"))
            if paced:
                conn.execute(update(table).where(table.c.id == rid, free).values(not_before=bindparam("nb")), paced)
            if not ready:
                return []
            won = set(conn.execute(update(table).where(table.c.id.in_([r[0] for r in ready]), free)
                                   .values(claimed_until=now + timedelta(seconds=60))
                                   .returning(table.c.id)).scalars())
        return [r for r in ready if r[0] in won]

    def sweep(self) -> None:
        """Housekeeping: wake parked rows whose message exists (a ref another replica stored
        while the row was being parked), and drop rows sent more than KEEP_SENT ago."""
        now = self.clock.now()
        with session_scope(self.engine) as s:
            s.execute(update(OutboxMessage)
                      .where(col(OutboxMessage.waits_for).in_(select(col(SlackRef.key))),
                             col(OutboxMessage.sent_at).is_(None))
                      .values(waits_for=None, not_before=now))
            s.execute(delete(OutboxMessage).where(col(OutboxMessage.sent_at) < now - KEEP_SENT))

    def _record(self, row_id: int, result: dict[str, Any] | None, error: Exception | None) -> None:
        now = self.clock.now()
        with session_scope(self.engine) as s:
            row = s.get(OutboxMessage, row_id)
            if row is None:
                return
            row.claimed_until = None
            if error is None:
                row.sent_at = now
                if row.op in self.targets and "secret" in row.payload:
                    # A callback token is kept only until the request is out.
                    row.payload = {k: v for k, v in row.payload.items() if k != "secret"}
                if row.store_as and result is not None:
                    self._store(s, row.store_as, result)
                entry = self.renderers.get(row.payload.get("renderer", "")) if row.op == Op.RENDER else None
                if entry and entry.after_sent and result is not None:
                    entry.after_sent(s, row.payload, result)
                return
            row.attempts += 1
            known = error if isinstance(error, (SlackCallFailed, TargetFailed)) else None
            row.last_error = known.error if known else type(error).__name__
            if isinstance(error, PROGRAMMING_ERRORS):
                # A bug, not Slack: trying again would fail the same way for minutes.
                row.failed, row.last_error = True, f"{type(error).__name__}: {error}"[:1000]
                log.error("outbox %s %s cannot be sent (programming error); failed: %s", row.id, row.op,
                          row.last_error, exc_info=error)
                return
            permanent = known is not None and known.permanent
            if permanent or (row.attempts >= MAX_ATTEMPTS and row.op not in self.targets):
                row.failed = True
                log.warning("giving up on outbox %s %s: %s", row.id, row.op, row.last_error)
            else:
                row.not_before = now + timedelta(seconds=min(2 ** row.attempts, 300))
                log.info("outbox %s %s failed (%s); retrying", row.id, row.op, row.last_error)

    def _store(self, s: Session, key: str, result: dict[str, Any]) -> None:
        existing = s.get(SlackRef, key)
        if existing:
            existing.channel = result.get("channel") or existing.channel
            existing.ts = result.get("ts") or existing.ts
        else:
            s.add(SlackRef(key=key, channel=result.get("channel") or "", ts=result.get("ts")))
        s.flush()
        # Wake what waited for this message (a thread reply, an update of it).
        s.execute(update(OutboxMessage).where(col(OutboxMessage.waits_for) == key,
                                              col(OutboxMessage.sent_at).is_(None))
                  .values(waits_for=None, not_before=self.clock.now()))
