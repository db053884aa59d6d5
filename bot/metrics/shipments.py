"""Which commit rows are first shipments, kept in memory while the records stay the same.

Lead time counts a commit once, at the first successful change of its service that shipped it
(over all history). Deciding that per report means probing every earlier deployment of each
commit in the window (over 100 ms for a 90-day window of a busy year); instead the ids of the
commit rows that are first shipments are read once per stage and kept until the deployments or
their commits change. A change is seen by a fingerprint: the deployments' count, highest id and
sum of ``row_version`` (which every update of a deployment bumps, ``Tx.save``; deployments are
never deleted), and the highest commit row id (commit rows are only ever added with a new
deployment, in its transaction, so the deployment count moves with them; the id is a check).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, func, select

from bot.metrics.definitions import CHANGE_KINDS
from storage.models import Deployment, DeploymentCommit, table_of

D = table_of(Deployment)
C = table_of(DeploymentCommit)


def fingerprint(conn: Connection) -> tuple[Any, ...]:
    """What changes whenever a deployment or a deployment's commit is added or changed."""
    deps = select(func.count(), func.max(D.c.id), func.coalesce(func.sum(D.c.row_version), 0)).select_from(D)
    commits = select(func.max(C.c.id)).select_from(C)
    return (*conn.execute(deps).one(), *conn.execute(commits).one())


def first_shipments(conn: Connection, stage: str) -> set[int]:
    """Ids of the commit rows that are the first successful change of their service (into
    ``stage``) to ship their sha, by finished_at, then deployment id."""
    rows = conn.execute(
        select(C.c.id, D.c.service, C.c.sha).select_from(C.join(D, D.c.id == C.c.deployment_id))
        .where(D.c.environment == stage, D.c.kind.in_(CHANGE_KINDS), D.c.result == "success",
               D.c.finished_at.is_not(None))
        .order_by(D.c.finished_at, D.c.id))
    seen: set[tuple[str, str]] = set()
    first: set[int] = set()
    for commit_id, service, sha in rows:
        if (service, sha) not in seen:
            seen.add((service, sha))
            first.add(commit_id)
    return first


class FirstShipments:
    """The first-shipment ids per stage, rebuilt when the fingerprint moves (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[tuple[Any, ...], set[int]]] = {}

    def get(self, conn: Connection, stage: str) -> set[int]:
        """The ids as the records stand now (read through ``conn``)."""
        now = fingerprint(conn)
        with self._lock:
            hit = self._cached.get(stage)
            if hit is not None and hit[0] == now:
                return hit[1]
        # Built outside the lock (a concurrent rebuild only repeats work); the fingerprint was
        # read first, so a change during the build moves it again and the next call rebuilds.
        ids = first_shipments(conn, stage)
        with self._lock:
            self._cached[stage] = (now, ids)
        return ids
