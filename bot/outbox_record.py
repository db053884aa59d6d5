"""What the sender's calls answered, written to their outbox rows: sent, or failed with the time
of the next try.

Remote requests go out side by side, and under load their answers arrive faster than one write
transaction each can commit (on SQLite each takes the writer gate, behind the requests). So
answers that arrive while another batch is being written are written together, in one
transaction (a group commit), and each caller returns once its own answer is stored. Should a
batch fail, each of its answers is written alone, so one bad row holds no other back.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from http.client import HTTPException
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col

from bot.clock import Clock
from bot.errors import PermanentFailure, TemporaryFailure
from bot.gateway import SlackCallFailed
from bot.ops import Op
from bot.outbox_claim import Claim
from storage.db import session_scope
from storage.models import OutboxMessage, SlackRef

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0  # seconds, the longest wait between two tries of one row
# Errors in our own code or payloads: retrying cannot help.
PROGRAMMING_ERRORS = (TypeError, KeyError, AttributeError)
# Runs in the transaction that marks a rendered call sent: (session, the row's args, the result).
AfterSent = Callable[[Session, dict[str, Any], dict[str, Any]], None]


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: Retry-After when the remote said, else capped full jitter."""
    if retry_after is not None:
        return max(0.0, retry_after) + random.uniform(0, 0.25)  # noqa: S311 (jitter, not a secret)
    ceiling = min(MAX_BACKOFF, 0.5 * 2 ** min(attempts, 16))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311


def classify(error: Exception) -> tuple[bool, str, float | None]:
    """(permanent?, what to record, Retry-After) for an exception a delivery raised."""
    if isinstance(error, SlackCallFailed):
        return error.permanent, error.error, error.retry_after
    if isinstance(error, TemporaryFailure):
        return False, error.error, error.retry_after
    if isinstance(error, PermanentFailure):
        return True, error.error, None
    if isinstance(error, OSError | HTTPException):  # refused, reset, timed out
        return False, f"unreachable: {type(error).__name__}", None
    # A programming error (a bad argument, a missing key, an unknown op): trying again repeats it.
    return True, f"{type(error).__name__}: {error}"[:500], None


def did_not_happen(error: str) -> bool:
    """True when a failed call surely had no effect: refused before it was made, rate limited,
    or answered ok=false. A timeout or a 5xx (a gateway may have passed it on) leaves doubt."""
    if error == "ratelimited" or error == "unreachable: ConnectionRefusedError":
        return True
    return not error.startswith(("http_", "unreachable"))


@dataclass
class Answer:
    """One call's outcome, waiting to be written."""

    claim: Claim
    result: dict[str, Any] | None
    error: Exception | None
    written: bool = False
    failure: Exception | None = None  # why it could not be written


class Recorder:
    """Writes answers to their rows, gathering those that arrive together into one transaction."""

    def __init__(self, engine: Engine, clock: Clock, give_up: timedelta, targets: Mapping[str, object],
                 after_sent: Callable[[str], AfterSent | None]) -> None:
        self.engine = engine
        self.clock = clock
        self.give_up = give_up
        self.targets = targets  # the sender's: ops to other systems, which never give up
        self.after_sent = after_sent  # a renderer's name -> what runs once its call succeeded
        self._waiting: list[Answer] = []
        self._turn = threading.Condition()
        self._writing = False  # a batch is being written; answers arriving meanwhile gather for the next

    def record(self, claim: Claim, result: dict[str, Any] | None, error: Exception | None) -> None:
        """Store one call's outcome on its row; returns once it is committed."""
        answer = Answer(claim, result, error)
        with self._turn:
            self._waiting.append(answer)
            while self._writing and not answer.written:
                self._turn.wait()
            if answer.written:  # a batch that started after it arrived took it along
                batch = []
            else:
                self._writing = True
                batch, self._waiting = self._waiting, []
        if batch:
            try:
                self._write(batch)
            finally:
                with self._turn:
                    for done in batch:
                        done.written = True
                    self._writing = False
                    self._turn.notify_all()
        if answer.failure is not None:
            raise answer.failure

    def _write(self, batch: list[Answer]) -> None:
        try:
            with session_scope(self.engine, background=True) as s:
                for answer in batch:
                    self._apply(s, answer)
            return
        except Exception as exc:
            if len(batch) == 1:
                batch[0].failure = exc
                return
        for answer in batch:  # alone, so one bad row holds no other back
            try:
                with session_scope(self.engine, background=True) as s:
                    self._apply(s, answer)
            except Exception as exc:
                answer.failure = exc

    def _apply(self, s: Session, answer: Answer) -> None:
        claim, result, error = answer.claim, answer.result, answer.error
        now = self.clock.now()
        row = s.get(OutboxMessage, claim.id)
        if row is None or row.sent_at is not None:
            return
        row.claimed_until, row.claimed_by = None, None
        if error is None:
            row.sent_at = now
            if row.op in self.targets and "secret" in row.payload:
                # A callback token is kept only until the request is out.
                row.payload = {k: v for k, v in row.payload.items() if k != "secret"}
            if row.store_as and result is not None:
                self._store(s, row.store_as, result)
            after = self.after_sent(row.payload.get("renderer", "")) if row.op == Op.RENDER else None
            if after is not None and result is not None:
                after(s, row.payload, result)
            return
        row.attempts += 1
        permanent, row.last_error, retry_after = classify(error)
        if isinstance(error, PROGRAMMING_ERRORS):
            # A bug, not the remote: trying again would fail the same way.
            log.error("outbox %s %s cannot be sent (programming error); failed: %s", row.id, row.op,
                      row.last_error, exc_info=error)
        if did_not_happen(row.last_error or ""):
            row.sending_at = None  # no retry needs to wonder whether this try went through
        # An executor that is down for a day still gets its request: targets never give up.
        if permanent or (now - row.created_at >= self.give_up and row.op not in self.targets):
            row.failed = True
            log.warning("giving up on outbox %s %s after %d tries: %s", row.id, row.op, row.attempts,
                        row.last_error)
        else:
            wait = backoff(row.attempts, retry_after)
            row.not_before = now + timedelta(seconds=wait)
            log.info("outbox %s %s failed (%s); next try in %.1fs", row.id, row.op, row.last_error, wait)

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
