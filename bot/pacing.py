"""Pacing of outgoing messages, shared by every replica through the database.

Slack allows about one message per second per channel with short bursts, and a budget per
workspace; sending faster only earns 429s. Each channel (and the workspace) is a GCRA token
bucket stored in ``send_pace``: its theoretical arrival time (TAT) is read and advanced in the
same transaction that claims the rows, so N replicas together send what one would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.models import SendPace, table_of

# Calls that Slack does not limit per channel (or that a user waits for) go out at once.
UNPACED = frozenset({"ephemeral", "open_view", "dm", "create_channel", "invite", "topic", "pin"})
WORKSPACE = "workspace"
UNLIMITED = 1 << 30


@dataclass(frozen=True)
class Bucket:
    """``rate`` calls per second with bursts of ``burst`` (GCRA parameters)."""

    rate: float
    burst: int

    @property
    def interval(self) -> timedelta:
        """Time one call uses up."""
        return timedelta(seconds=1.0 / self.rate)

    @property
    def tolerance(self) -> timedelta:
        """How far ahead of now the TAT may run: the burst."""
        return self.interval * (max(self.burst, 1) - 1)


class SharedPacer:
    """Decides, inside the claim transaction, which rows may go now and when the others may."""

    def __init__(self, channel: Bucket, workspace: Bucket | None = None) -> None:
        self.channel = channel
        self.workspace = workspace

    def paced(self, op: str, channel: Any) -> bool:
        """True when ``op`` to ``channel`` counts against the channel's budget."""
        return op not in UNPACED and isinstance(channel, str) and bool(channel)

    def workspace_tokens(self, conn: Any, now: datetime) -> int:
        """How many calls the workspace's budget allows now, read without a lock (``reserve`` then
        charges it under one); a large number without a workspace budget."""
        if self.workspace is None:
            return UNLIMITED
        table = table_of(SendPace)
        tat = conn.execute(select(table.c.tat).where(table.c.key == WORKSPACE)).scalar()
        if tat is None or tat <= now:
            return self.workspace.burst
        spare = now + self.workspace.tolerance - tat  # how far the TAT may still advance
        return int(spare / self.workspace.interval) + 1 if spare >= timedelta(0) else 0

    def reserve(self, conn: Any, now: datetime, rows: Iterable[tuple[int, str, Any]]) -> dict[int, datetime]:
        """Take a slot for each (row id, op, channel) in order; returns when held-back rows may go."""
        rows = [r for r in rows if self.paced(r[1], r[2])]
        if not rows:
            return {}
        keys = sorted({str(r[2]) for r in rows} | ({WORKSPACE} if self.workspace else set()))
        tats = self._lock(conn, now, keys)
        later: dict[int, datetime] = {}
        for row_id, _op, channel in rows:
            buckets = [(str(channel), self.channel)] + ([(WORKSPACE, self.workspace)] if self.workspace else [])
            # A call may go when every bucket it draws on allows it; only then are both charged.
            allowed = max(max(tats[k], now) - b.tolerance for k, b in buckets)
            if allowed > now:
                later[row_id] = allowed
                continue
            for key, bucket in buckets:
                tats[key] = max(tats[key], now) + bucket.interval
        table = table_of(SendPace)
        # One executemany, not a statement per channel: a batch across a hundred channels took
        # most of the claim's time under the write lock.
        conn.execute(update(table).where(table.c.key == bindparam("k")).values(tat=bindparam("t")),
                     [{"k": key, "t": tat} for key, tat in tats.items()])
        return later

    def _lock(self, conn: Any, now: datetime, keys: list[str]) -> dict[str, datetime]:
        table = table_of(SendPace)
        postgres = conn.dialect.name == "postgresql"
        insert = pg_insert if postgres else sqlite_insert
        conn.execute(insert(table).values([{"key": k, "tat": now} for k in keys]).on_conflict_do_nothing())
        stmt = select(table.c.key, table.c.tat).where(table.c.key.in_(keys)).order_by(table.c.key)
        if postgres:
            # Sorted keys, so two replicas lock them in one order and never deadlock.
            stmt = stmt.with_for_update()
        return {k: t for k, t in conn.execute(stmt)}
