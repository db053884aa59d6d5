"""The outbox claim: one short write transaction that picks what a sender may deliver now.

Candidates are pending rows at the head of their order key (no earlier row of the same
channel still pending), taken in the order they fell due (then id), which is the order of the
pending-rows index: a pass reads about as many index entries as it claims rows, however long
the queue behind them. PostgreSQL locks them with ``FOR UPDATE SKIP LOCKED`` so replicas never
wait for, deadlock on, or share a row. A pass claims no more rows than the workspace's shared
budget has tokens for: while it is spent, the queue is not read and held rows are not rewritten.
On SQLite (one writer at a time) the candidates are found in a read snapshot, outside the write
lock, and the write transaction keeps those still unsent and unleased. Within the write
transaction superseded updates are dropped, rows whose reference is not posted yet are parked,
paced rows get a later ``not_before`` (the shared token bucket, ``bot.pacing``), and the rest
are leased to this sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Integer, and_, bindparam, false, func, literal, or_, select, true, update

from bot.pacing import SharedPacer
from storage.db import session_scope
from storage.models import OutboxMessage, SlackRef, table_of

PARKED = timedelta(hours=1)  # how long a row waits for its reference before it is looked at again


@dataclass(frozen=True)
class Claim:
    """A leased row, its references resolved."""

    id: int
    op: str
    args: dict[str, Any]
    # A call was attempted before and its outcome is unknown (a replica died mid-call, or
    # the answer was lost to a timeout): since when.
    sending_at: datetime | None

    @property
    def tried_before(self) -> bool:
        """True when an earlier try may have reached the remote."""
        return self.sending_at is not None


class _Unresolved(Exception):
    """A referenced message has not been posted yet."""


def ref_keys(value: Any) -> list[str]:
    """The SlackRef keys a payload refers to."""
    if isinstance(value, dict):
        if set(value) == {"$ref", "field"}:
            return [value["$ref"]]
        return [k for v in value.values() for k in ref_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in ref_keys(v)]
    return []


def resolve(value: Any, refs: dict[str, Any]) -> Any:
    """The payload with each placeholder replaced by the stored value (or _Unresolved)."""
    if isinstance(value, dict):
        if set(value) == {"$ref", "field"}:
            found = getattr(refs.get(value["$ref"]), value["field"], None)
            if found is None:
                raise _Unresolved(value["$ref"])
            return found
        return {k: resolve(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    return value


def _free(t: Any, now: Any) -> Any:
    """Unsent, not failed, and leased to nobody (or the lease ran out)."""
    return and_(t.c.sent_at.is_(None), t.c.failed == False,  # noqa: E712
                or_(t.c.claimed_until.is_(None), t.c.claimed_until < now))


def _candidates(fast: bool, postgres: bool) -> Any:
    t = table_of(OutboxMessage)
    p = t.alias("earlier")
    now: BindParameter[datetime] = bindparam("now")
    # An earlier row with the same coalesce key that is due and unclaimed does not hold this one
    # back: it is a candidate of this very pass (lower id), marked superseded by the newest. One
    # not due yet (backing off) still does, or it would be sent after the newer one.
    same_update = and_(p.c.coalesce_key.is_not(None), t.c.coalesce_key.is_not(None),
                       p.c.coalesce_key == t.c.coalesce_key, p.c.not_before <= now,
                       or_(p.c.claimed_until.is_(None), p.c.claimed_until < now))
    earlier = (select(literal(1)).select_from(p)
               .where(p.c.order_key == t.c.order_key, p.c.id < t.c.id, p.c.sent_at.is_(None),
                      p.c.failed == False, ~same_update)  # noqa: E712
               .exists())
    stmt = (select(t.c.id, t.c.op, t.c.payload, t.c.coalesce_key, t.c.created_at, t.c.sending_at)
            # A literal, not a parameter, so the fast lane's partial index (fast = true) applies.
            .where(_free(t, now), t.c.fast == (true() if fast else false()), t.c.not_before <= now,
                   or_(t.c.order_key.is_(None), ~earlier))
            .order_by(t.c.not_before, t.c.id).limit(bindparam("batch", type_=Integer)))
    if postgres:
        # Rows another replica is claiming are skipped, not waited for: no lock waits, no deadlock.
        stmt = stmt.with_for_update(skip_locked=True, of=t)
    return stmt


# The claim's statements, built once (params ``now``, ``batch``, ``ids``, ``keys``): building the
# candidate query (an alias and a correlated subquery) and its cache key on every pass cost about
# as much as running it. Keyed by (fast lane, PostgreSQL).
_CANDIDATES = {(fast, postgres): _candidates(fast, postgres) for fast in (False, True) for postgres in (False, True)}
_T = table_of(OutboxMessage)
_NEWEST = (select(_T.c.coalesce_key, func.max(_T.c.id))
           .where(_T.c.coalesce_key.in_(bindparam("keys", expanding=True)), _T.c.sent_at.is_(None),
                  _T.c.failed == False)  # noqa: E712
           .group_by(_T.c.coalesce_key))
_REFS = select(table_of(SlackRef)).where(table_of(SlackRef).c.key.in_(bindparam("keys", expanding=True)))
_STILL_FREE = select(_T.c.id).where(_T.c.id.in_(bindparam("ids", expanding=True)), _free(_T, bindparam("now")))


@dataclass
class _Found:
    """What the candidate query found: rows, the newest row per coalesce key, the refs."""

    rows: list[Any]
    newest: dict[str, int]
    refs: dict[str, Any]


def _find(conn: Any, now: datetime, fast: bool, batch: int) -> _Found:
    query = _CANDIDATES[(fast, conn.dialect.name == "postgresql")]
    rows = list(conn.execute(query, {"now": now, "batch": batch}))
    if not rows:
        return _Found([], {}, {})
    newest: dict[str, int] = {}
    keys = {r.coalesce_key for r in rows if r.coalesce_key}
    if keys:
        newest = {str(k): int(v) for k, v in conn.execute(_NEWEST, {"keys": sorted(keys)})}
    wanted = {k for r in rows for k in ref_keys(r.payload)}
    refs = {r.key: r for r in conn.execute(_REFS, {"keys": sorted(wanted)})} if wanted else {}
    return _Found(rows, newest, refs)


def _still_free(conn: Any, now: datetime, found: _Found) -> _Found:
    """The rows found in a read snapshot that nobody sent or leased since (SQLite: the check
    runs under the write lock, so what it keeps is this sender's alone)."""
    free = set(conn.execute(_STILL_FREE, {"ids": [r.id for r in found.rows], "now": now}).scalars())
    return _Found([r for r in found.rows if r.id in free], found.newest, found.refs)


def claim_rows(engine: Any, now: datetime, *, fast: bool, batch: int, worker: str, lease: timedelta,
               pacer: SharedPacer | None, give_up: timedelta) -> list[Claim]:
    """Lease the rows this sender may deliver now (see the module docstring)."""
    def find(conn: Any) -> _Found:
        # Under a backlog the budget, not the queue, sets the pace: claiming more than it allows
        # only read rows to hold them back (a rewrite of each) on every pass.
        size = batch if pacer is None or fast else min(batch, pacer.workspace_tokens(conn, now))
        return _find(conn, now, fast, size) if size > 0 else _Found([], {}, {})

    if engine.dialect.name == "postgresql":
        with session_scope(engine, background=True) as s:
            conn = s.connection()
            return _lease(conn, now, find(conn), worker=worker, lease=lease, pacer=pacer, give_up=give_up)
    # SQLite: the candidate query walks the pending rows, and it was most of the time the write
    # lock was held (acks queue behind it). It runs in a read snapshot instead; the write
    # transaction only checks that its rows are still free.
    with engine.connect() as conn:
        found = find(conn)
    if not found.rows:
        return []
    with session_scope(engine, background=True) as s:
        conn = s.connection()
        return _lease(conn, now, _still_free(conn, now, found), worker=worker, lease=lease, pacer=pacer,
                      give_up=give_up)


def _lease(conn: Any, now: datetime, found: _Found, *, worker: str, lease: timedelta,
           pacer: SharedPacer | None, give_up: timedelta) -> list[Claim]:
    t = table_of(OutboxMessage)
    refs_table = table_of(SlackRef)
    superseded: list[int] = []
    parked: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    ready: list[Claim] = []
    for row in found.rows:
        if row.coalesce_key and row.id < found.newest.get(row.coalesce_key, row.id):
            superseded.append(row.id)
            continue
        try:
            args = resolve(row.payload, found.refs)
        except _Unresolved as missing:
            (late if now - row.created_at > give_up else parked).append({"rid": row.id, "key": str(missing)})
            continue
        ready.append(Claim(row.id, row.op, args, row.sending_at))
    rid: BindParameter[int] = bindparam("rid")
    if superseded:
        conn.execute(update(t).where(t.c.id.in_(superseded)).values(sent_at=now, last_error="superseded"))
    if parked:
        posted = select(refs_table.c.key).where(refs_table.c.key == bindparam("key")).exists()
        conn.execute(update(t).where(and_(t.c.id == rid, ~posted))
                     .values(waits_for=bindparam("key"), not_before=now + PARKED), parked)
    if late:
        conn.execute(update(t).where(t.c.id.in_([p["rid"] for p in late]))
                     .values(failed=True, last_error="what it refers to was never posted"))
    if pacer and ready:
        held = pacer.reserve(conn, now, [(c.id, c.op, c.args.get("channel")) for c in ready])
        if held:
            conn.execute(update(t).where(t.c.id == rid).values(not_before=bindparam("nb")),
                         [{"rid": i, "nb": at} for i, at in held.items()])
            ready = [c for c in ready if c.id not in held]
    if ready:
        conn.execute(update(t).where(t.c.id.in_([c.id for c in ready]))
                     # The first try in doubt is kept: a retry looks for a post made since then.
                     .values(claimed_until=now + lease, claimed_by=worker,
                             sending_at=func.coalesce(t.c.sending_at, literal(now, t.c.sending_at.type))))
    return ready
