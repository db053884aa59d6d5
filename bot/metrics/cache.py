"""What reports keep in memory while the deployments stay the same, and how a change is seen.

Lead time counts a commit once, at the first successful change of its service that shipped it
(over all history); deciding that per report means probing every earlier deployment of each
commit in the window (over 100 ms for a 90-day window of a busy year). And a report reads
thousands of deployments for each window. So the lead times of first shipments (per change),
and the deployments from a horizon on (per service), are read once and kept until the
deployments change; incidents (few, and updated often) are read for each report.

A change is seen by a fingerprint, read before every report: the count, highest id and sum of
``row_version`` of the stage's deployments (every update bumps ``row_version``, ``Tx.save``;
deployments are never deleted), and the highest commit row id (commit rows are only added with
a new deployment, in its transaction, so the count moves with them too).

A report after a change reads the ``row_version`` of each of the stage's deployments and only
the rows added or changed since (``_updated``): the first shipments of their commits are read
again (only those can move, to or from a changed deployment), and the kept histories of their
services are built anew from the kept rows and the read ones, as ``loading.load`` would read
them. When that could differ from a full read (a deployment gone from the stage, one finished
at or after END) or is not worth it (many changed), everything is read again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from bot.metrics.definitions import CHANGE_KINDS, RECOVERY_KINDS, Dep, History
from bot.metrics.loading import (
    assemble,
    deps_where,
    failure_span,
    first_recoveries_after,
    no_jit,
    production,
    raw,
    recovery_conds,
)
from storage.models import Deployment, DeploymentCommit, table_of

D = table_of(Deployment)
C = table_of(DeploymentCommit)
# (service, horizon) histories kept per snapshot. The services' histories together hold the
# records once more than the all-services one (a year of 50,000 deployments: about 30 MB).
HISTORIES = 64
# More changed deployments (or commits of theirs) than these: read everything again.
MAX_CHANGED, MAX_KEYS = 1000, 5000
END = datetime(3000, 1, 1, tzinfo=UTC)  # service.LATEST: kept histories are read up to it


def fingerprint(conn: Connection, stage: str) -> tuple[Any, ...]:
    """What changes whenever a deployment into ``stage`` or a deployment's commit is added or changed."""
    last_commit = select(func.max(C.c.id)).scalar_subquery()
    return tuple(conn.execute(select(func.count(), func.max(D.c.id), func.coalesce(func.sum(D.c.row_version), 0),
                                     last_commit).where(D.c.environment == stage)).one())


Key = tuple[str, str]  # (service, sha)


def versions(conn: Connection, stage: str) -> dict[int, int]:
    """``row_version`` of each deployment into ``stage``, by id."""
    # Through the driver: SQLAlchemy's rows cost several times the query for a year of them.
    stmt = select(D.c.id, D.c.row_version).where(D.c.environment == stage).compile(dialect=conn.dialect)
    params = tuple(stmt.params[k] for k in stmt.positiontup or ()) if stmt.positional else stmt.params
    return dict(conn.exec_driver_sql(str(stmt), params).fetchall())


def first_shipments(conn: Connection, stage: str, keys: set[Key] | None = None) -> dict[Key, tuple[int, float]]:
    """Per commit of a service (all, or those of ``keys``): the successful change (into
    ``stage``) that shipped it first (by finished_at, then deployment id), with its lead hours."""
    no_jit(conn)
    where = [D.c.environment == stage, D.c.kind.in_(CHANGE_KINDS), D.c.result == "success",
             D.c.finished_at.is_not(None)]
    if keys is not None:  # by service and sha apart (portable), the pairs picked below
        where += [D.c.service.in_(sorted({svc for svc, _ in keys})), C.c.sha.in_(sorted({sha for _, sha in keys}))]
    rows = conn.execute(
        select(C.c.deployment_id, D.c.service, C.c.sha, raw(C.c.committed_at), raw(D.c.finished_at))
        .select_from(C.join(D, D.c.id == C.c.deployment_id)).where(*where)
        .order_by(D.c.finished_at, D.c.id)).all()
    first: dict[Key, tuple[int, float]] = {}
    for dep_id, service, sha, committed, finished in rows:
        if (service, sha) not in first and (keys is None or (service, sha) in keys):
            # Both naive UTC as stored: their difference is the same as of the aware times.
            first[(service, sha)] = (dep_id, (_naive(finished) - _naive(committed)).total_seconds() / 3600)
    return first


def lead_of(first: dict[Key, tuple[int, float]]) -> dict[int, list[float]]:
    """Per successful change: the lead time in hours of each commit it shipped first."""
    lead: dict[int, list[float]] = {}
    for dep_id, hours in first.values():
        lead.setdefault(dep_id, []).append(hours)
    return lead


def lead_hours(conn: Connection, stage: str) -> dict[int, list[float]]:
    """Per successful change (into ``stage``): the lead time in hours of each commit it was the
    first successful change of its service to ship (by finished_at, then deployment id)."""
    return lead_of(first_shipments(conn, stage))


def _naive(value: str | datetime) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Snapshot:
    """What was read for one fingerprint of the deployments (for one stage)."""

    def __init__(self, key: tuple[Any, ...], first: dict[Key, tuple[int, float]], seen: dict[int, int],
                 lead: dict[int, list[float]] | None = None) -> None:
        self.key = key
        self.first = first
        self.lead = lead_of(first) if lead is None else lead
        self.seen = seen  # row_version per deployment id, as of (at most) what was read
        self.histories: OrderedDict[tuple[str | None, datetime], History] = OrderedDict()


class ReportCache:
    """The current snapshot per stage; a new fingerprint starts a new one (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}
        # What the cache read (for tests and benchmarks): snapshots read in full, snapshots
        # updated from the changed deployments alone, the deployments those updates read, and
        # kept histories asked for and not there (the caller reads those).
        self.full_reads = 0
        self.updates = 0
        self.rows_updated = 0
        self.history_misses = 0

    def snapshot(self, conn: Connection, stage: str) -> Snapshot:
        """The snapshot for the records as they stand now (read through ``conn``)."""
        key = (stage, *fingerprint(conn, stage))
        with self._lock:
            snap = self._snapshots.get(stage)
            if snap is not None and snap.key == key:
                return snap
        # Built outside the lock (a concurrent rebuild only repeats work). The fingerprint was
        # read first, so a change during the build moves it again and the next report rebuilds.
        new = _updated(conn, stage, key, snap, self._lock) if snap is not None else None
        with self._lock:
            if new is None:
                self.full_reads += 1
            else:
                self.updates += 1
                self.rows_updated += new[1]
        if new is None:
            seen = versions(conn, stage)  # before the rows: a later change shows as one next time
            fresh = Snapshot(key, first_shipments(conn, stage), seen)
        else:
            fresh = new[0]
        with self._lock:
            self._snapshots[stage] = fresh
        return fresh

    def history(self, snap: Snapshot, service: str | None, horizon: datetime) -> History | None:
        """The kept history of ``service`` from ``horizon`` on, if any."""
        with self._lock:
            found = snap.histories.get((service, horizon))
            if found is not None:
                snap.histories.move_to_end((service, horizon))
            else:
                self.history_misses += 1
            return found

    def keep(self, snap: Snapshot, service: str | None, horizon: datetime, history: History) -> None:
        """Keep ``history`` (the least recently used one goes beyond HISTORIES)."""
        with self._lock:
            snap.histories[(service, horizon)] = history
            while len(snap.histories) > HISTORIES:
                snap.histories.popitem(last=False)


def _updated(conn: Connection, stage: str, key: tuple[Any, ...], old: Snapshot,
             lock: threading.Lock) -> tuple[Snapshot, int] | None:
    """``old`` brought up to date by reading only the deployments added or changed since (and
    the first shipments of their commits), with the number of deployments read; None when that
    would not be exact (a deployment gone from the stage, one finished at or after END) or not
    worth it (over MAX_CHANGED changed)."""
    seen = versions(conn, stage)
    if not old.seen.keys() <= seen.keys():
        return None
    changed = [i for i, v in seen.items() if old.seen.get(i) != v]
    if len(changed) > MAX_CHANGED or conn.execute(select(D.c.id).where(
            D.c.environment == stage, D.c.finished_at >= END).limit(1)).first() is not None:
        return None
    snap = Snapshot(key, old.first, seen, old.lead)
    with lock:
        kept = list(old.histories.items())
    if not changed:  # only commit rows of another stage's deployments were added
        snap.histories.update(kept)
        return snap, 0
    ids = set(changed)
    rows = {d.id: d for d in deps_where(conn, *production(stage, None), D.c.id.in_(changed))}
    # A commit's first shipment can move only for the commits of the changed deployments (to
    # or from one of them); those are read again, whatever else they shipped stays.
    keys: set[Key] = {(svc, sha) for svc, sha in conn.execute(
        select(D.c.service, C.c.sha).select_from(C.join(D, D.c.id == C.c.deployment_id))
        .where(C.c.deployment_id.in_(changed)))}
    keys |= {k for k, (dep_id, _) in old.first.items() if dep_id in ids}
    if len(keys) > MAX_KEYS:
        return None
    first = dict(old.first)
    if keys:
        for k in keys:
            first.pop(k, None)
        first.update(first_shipments(conn, stage, keys))
        snap = Snapshot(key, first, seen)
    services = {d.service for d in rows.values()} | {svc for svc, _ in keys}
    for (service, horizon), h in kept:
        if service is None or service in services or any(d.id in ids for d in (*h.changes, *h.rollbacks)):
            h = _rebuilt(conn, stage, service, horizon, h, rows, ids, snap.lead)
        snap.histories[(service, horizon)] = h
    return snap, len(changed)


def _rebuilt(conn: Connection, stage: str, service: str | None, horizon: datetime, old: History,
             rows: dict[int, Dep], ids: set[int], lead: dict[int, list[float]]) -> History:
    """What ``loading.load(conn, stage, horizon, END, service, lead, incidents=False)`` reads,
    from ``old`` (read so) without the deployments of ``ids`` and with ``rows`` (their
    production rows now): nothing finished at or after END, so nothing lies after the window."""
    deps = [d for d in (*old.changes, *old.rollbacks) if d.id not in ids]
    deps += [d for d in rows.values() if d.finished_at >= horizon and (service is None or d.service == service)]
    deps.sort(key=lambda d: (d.finished_at, d.id))
    h = assemble(deps, [], [])
    earliest, latest = failure_span(h, horizon, END)
    recoveries: dict[str, list[datetime]] = {}
    if earliest < horizon:  # a rollback started before the horizon names a kept change
        for d in deps_where(conn, *recovery_conds(stage, service), D.c.finished_at > earliest,
                            D.c.finished_at < horizon):
            recoveries.setdefault(d.service, []).append(d.finished_at)
    for d in deps:
        if d.kind in RECOVERY_KINDS and d.result == "success" and d.finished_at > earliest:
            recoveries.setdefault(d.service, []).append(d.finished_at)
    for svc, first_after in first_recoveries_after(conn, stage, service, latest):
        recoveries.setdefault(svc, []).append(first_after)
    h.recoveries = recoveries
    h.lead = [(d.finished_at, hours) for d in h.changes for hours in lead.get(d.id, ())]
    return h
