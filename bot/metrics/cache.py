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
a new deployment, in its transaction, so the count moves with them too). A report after a
change reads the kept deployments again (the cost of one uncached report of the horizon).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from bot.metrics.definitions import CHANGE_KINDS, History
from bot.metrics.loading import no_jit, raw
from storage.models import Deployment, DeploymentCommit, table_of

D = table_of(Deployment)
C = table_of(DeploymentCommit)
# (service, horizon) histories kept per snapshot. The services' histories together hold the
# records once more than the all-services one (a year of 50,000 deployments: about 30 MB).
HISTORIES = 64


def fingerprint(conn: Connection, stage: str) -> tuple[Any, ...]:
    """What changes whenever a deployment into ``stage`` or a deployment's commit is added or changed."""
    last_commit = select(func.max(C.c.id)).scalar_subquery()
    return tuple(conn.execute(select(func.count(), func.max(D.c.id), func.coalesce(func.sum(D.c.row_version), 0),
                                     last_commit).where(D.c.environment == stage)).one())


def lead_hours(conn: Connection, stage: str) -> dict[int, list[float]]:
    """Per successful change (into ``stage``): the lead time in hours of each commit it was the
    first successful change of its service to ship (by finished_at, then deployment id)."""
    no_jit(conn)
    rows = conn.execute(
        select(C.c.deployment_id, D.c.service, C.c.sha, raw(C.c.committed_at), raw(D.c.finished_at))
        .select_from(C.join(D, D.c.id == C.c.deployment_id))
        .where(D.c.environment == stage, D.c.kind.in_(CHANGE_KINDS), D.c.result == "success",
               D.c.finished_at.is_not(None))
        .order_by(D.c.finished_at, D.c.id)).all()
    seen: set[tuple[str, str]] = set()
    lead: dict[int, list[float]] = {}
    for dep_id, service, sha, committed, finished in rows:
        if (service, sha) not in seen:
            seen.add((service, sha))
            # Both naive UTC as stored: their difference is the same as of the aware times.
            hours = (_naive(finished) - _naive(committed)).total_seconds() / 3600
            lead.setdefault(dep_id, []).append(hours)
    return lead


def _naive(value: str | datetime) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Snapshot:
    """What was read for one fingerprint of the deployments (for one stage)."""

    def __init__(self, key: tuple[Any, ...], lead: dict[int, list[float]]) -> None:
        self.key = key
        self.lead = lead
        self.histories: OrderedDict[tuple[str | None, datetime], History] = OrderedDict()


class ReportCache:
    """The current snapshot per stage; a new fingerprint starts a new one (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}

    def snapshot(self, conn: Connection, stage: str) -> Snapshot:
        """The snapshot for the records as they stand now (read through ``conn``)."""
        key = (stage, *fingerprint(conn, stage))
        with self._lock:
            snap = self._snapshots.get(stage)
            if snap is not None and snap.key == key:
                return snap
        # Built outside the lock (a concurrent rebuild only repeats work). The fingerprint was
        # read first, so a change during the build moves it again and the next report rebuilds.
        snap = Snapshot(key, lead_hours(conn, stage))
        with self._lock:
            self._snapshots[stage] = snap
        return snap

    def history(self, snap: Snapshot, service: str | None, horizon: datetime) -> History | None:
        """The kept history of ``service`` from ``horizon`` on, if any."""
        with self._lock:
            found = snap.histories.get((service, horizon))
            if found is not None:
                snap.histories.move_to_end((service, horizon))
            return found

    def keep(self, snap: Snapshot, service: str | None, horizon: datetime, history: History) -> None:
        """Keep ``history`` (the least recently used one goes beyond HISTORIES)."""
        with self._lock:
            snap.histories[(service, horizon)] = history
            while len(snap.histories) > HISTORIES:
                snap.histories.popitem(last=False)
