"""One transaction per request: state change, audit row and outgoing messages commit
together; the sender is woken only after the commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, SQLModel

from bot.clock import Clock
from bot.errors import Conflict
from storage.db import session_scope
from storage.models import AuditEntry, OutboxMessage, ProcessedRequest

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Origin:
    """Who asked and through which request: recorded on every audit row."""

    user: str
    source: str  # e.g. "slack:/release", "slack:block_actions", "api", "scheduler"
    request_id: str | None = None


class Duplicate(Exception):
    """This request was applied already (Slack re-delivered it, or a double click)."""


def ref(key: str, field: str = "ts") -> dict[str, str]:
    """A placeholder in an outbox payload, filled from SlackRef ``key`` when sent."""
    return {"$ref": key, "field": field}


class Tx:
    """The unit of work handed to workflow code."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.queued = 0

    def once(self, key: str | None) -> None:
        """Record an idempotency key; raise Duplicate when it was seen before."""
        if not key:
            return
        if self.session.get(ProcessedRequest, key) is not None:
            raise Duplicate(key)
        self.session.add(ProcessedRequest(key=key, at=self.now))

    def send(self, op: str, *, store_as: str | None = None, delay: float = 0, **payload: Any) -> None:
        """Queue a Slack call to run after commit (see bot.outbox for the ops)."""
        self.session.add(OutboxMessage(
            op=op, payload=payload, store_as=store_as, created_at=self.now,
            not_before=self.now + timedelta(seconds=delay),
        ))
        self.queued += 1

    def audit(self, origin: Origin, subject: str, subject_id: int, action: str, *,
              from_state: str | None = None, to_state: str | None = None,
              reason: str | None = None, **detail: Any) -> None:
        """Append an audit row: who, when, what, from which request, why."""
        self.session.add(AuditEntry(
            subject=subject, subject_id=subject_id, actor=origin.user, action=action,
            from_state=from_state, to_state=to_state, reason=reason, source=origin.source,
            request_id=origin.request_id, detail=detail, at=self.now,
        ))

    def save(self, row: SQLModel, **changes: Any) -> None:
        """Compare-and-set: apply ``changes`` only if nobody bumped ``row_version`` meanwhile."""
        model = type(row)
        seen = row.row_version  # type: ignore[attr-defined]
        changes["row_version"] = seen + 1
        stmt = (update(model).where(model.id == row.id, model.row_version == seen)  # type: ignore[attr-defined]
                .values(**changes).execution_options(synchronize_session=False))
        if self.session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"{model.__name__} {row.id} changed meanwhile")  # type: ignore[attr-defined]
        for key, value in changes.items():
            setattr(row, key, value)


class Database:
    """Opens transactions, retries lost compare-and-set races, wakes the sender."""

    def __init__(self, engine: Engine, clock: Clock, on_commit: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.on_commit = on_commit

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A single transaction; queued messages are released after it commits."""
        with session_scope(self.engine) as session:
            tx = Tx(session, self.clock.now())
            yield tx
        if tx.queued and self.on_commit:
            self.on_commit()

    def run(self, work: Callable[[Tx], T], *, attempts: int = 8) -> T:
        """Run ``work`` in a transaction, again from the top when a concurrent writer won."""
        for attempt in range(attempts):
            try:
                with self.transaction() as tx:
                    return work(tx)
            except (Conflict, OperationalError) as exc:
                if attempt == attempts - 1:
                    raise Conflict("too many concurrent changes; try again") from exc
                log.debug("retrying after %s", type(exc).__name__)
                time.sleep(0.005 * (attempt + 1))
            except IntegrityError as exc:
                # A unique key lost a race: for idempotency keys that means a duplicate.
                if "processed_request" in str(exc.orig) or "uq_approval" in str(exc.orig):
                    raise Duplicate(str(exc.orig)) from exc
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def read(self) -> Session:
        """A session for reads (use as a context manager)."""
        return Session(self.engine, expire_on_commit=False)
