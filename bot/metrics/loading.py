"""Fetch the records one report reads, with a handful of indexed queries (no ORM objects).

The loader decides nothing the definitions decide; it only narrows what is read: changes
finished in the window, rollbacks and causing incidents that can name them, the commits at
their first successful shipment, and the recoveries that can end their failures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, or_, select
from sqlalchemy.orm import aliased

from bot.metrics.definitions import CHANGE_KINDS, RECOVERY_KINDS, Dep, History, Inc, attribute
from storage.models import Deployment, DeploymentCommit, Incident

D = Deployment.__table__  # type: ignore[attr-defined]
C = DeploymentCommit.__table__  # type: ignore[attr-defined]
I = Incident.__table__  # type: ignore[attr-defined]  # noqa: E741
CHUNK = 500  # bound parameters per IN list, well under SQLite's limit
_DEP_COLS = (D.c.id, D.c.service, D.c.version, D.c.kind, D.c.result, D.c.started_at, D.c.finished_at,
             D.c.release_id, D.c.rolls_back)
_INC_COLS = (I.c.id, I.c.service, I.c.declared_at, I.c.resolved_at, I.c.caused_by_version, I.c.caused_by_release_id)


def _production(final: str, service: str | None) -> list[Any]:
    conds = [D.c.environment == final, D.c.finished_at.is_not(None), D.c.result.is_not(None)]
    if service:
        conds.append(D.c.service == service)
    return conds


def _deps(conn: Connection, *where: Any) -> list[Dep]:
    return [Dep(*row) for row in conn.execute(select(*_DEP_COLS).where(*where).order_by(D.c.finished_at, D.c.id))]


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = sorted(set(values))
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _candidates(conn: Connection, base: list[Any], versions: Iterable[str], release_ids: Iterable[int],
                ) -> tuple[dict[tuple[str, str], list[Dep]], dict[int, list[Dep]]]:
    """Production deployments of the named versions / releases, grouped for attribution."""
    by_version: dict[tuple[str, str], list[Dep]] = defaultdict(list)
    by_release: dict[int, list[Dep]] = defaultdict(list)
    for chunk in _chunks(versions):
        for dep in _deps(conn, *base, D.c.version.in_(chunk)):
            by_version[(dep.service, dep.version)].append(dep)
    for chunk in _chunks(release_ids):
        for dep in _deps(conn, *base, D.c.release_id.in_(chunk)):
            by_release[dep.release_id or 0].append(dep)
    return by_version, by_release


def _lead(conn: Connection, base: list[Any], start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """(finished_at, hours) per commit of a successful change in the window that is the first
    successful change of its service to ship that commit (by finished_at, then id)."""
    d2, c2 = aliased(D), aliased(C)
    earlier = exists().where(
        c2.c.sha == C.c.sha, d2.c.id == c2.c.deployment_id, d2.c.service == D.c.service,
        d2.c.environment == D.c.environment, d2.c.result == "success", d2.c.kind.in_(CHANGE_KINDS),
        or_(d2.c.finished_at < D.c.finished_at, and_(d2.c.finished_at == D.c.finished_at, d2.c.id < D.c.id)))
    rows = conn.execute(select(D.c.finished_at, C.c.committed_at).select_from(C.join(D, D.c.id == C.c.deployment_id))
                        .where(*base, D.c.kind.in_(CHANGE_KINDS), D.c.result == "success",
                               D.c.finished_at >= start, D.c.finished_at < end, ~earlier))
    return [(fin, (fin - com).total_seconds() / 3600) for fin, com in rows]


def load(conn: Connection, final: str, start: datetime, end: datetime, service: str | None) -> History:
    """Everything ``definitions.compute`` needs for [start, end) and any window inside it."""
    base = _production(final, service)
    h = History()
    h.changes = _deps(conn, *base, D.c.kind.in_(CHANGE_KINDS), D.c.finished_at >= start, D.c.finished_at < end)
    # A rollback or an incident names a deployment finished before it: only those from the
    # window's start on can name a change in the window.
    h.rollbacks = _deps(conn, *base, D.c.kind == "rollback", D.c.finished_at >= start)
    inc_where: list[Any] = [I.c.declared_at >= start,
                            or_(I.c.caused_by_version.is_not(None), I.c.caused_by_release_id.is_not(None))]
    if service:
        inc_where.append(or_(I.c.service == service, I.c.service.is_(None)))
    h.causing = [Inc(*row) for row in conn.execute(select(*_INC_COLS).where(*inc_where))]
    versions = [r.rolls_back for r in h.rollbacks if r.rolls_back] + [
        i.caused_by_version for i in h.causing if i.caused_by_version and i.caused_by_release_id is None]
    releases = [i.caused_by_release_id for i in h.causing if i.caused_by_release_id is not None]
    by_version, by_release = _candidates(conn, base, versions, releases)
    for r in h.rollbacks:
        named = attribute(r.finished_at, by_version.get((r.service, r.rolls_back or ""), []), exclude=r.id)
        if named:
            h.rollback_of[r.id] = named.id
    for i in h.causing:
        if i.caused_by_release_id is not None:
            pool = by_release.get(i.caused_by_release_id, [])
        else:
            pool = [d for (svc, ver), deps in by_version.items() if ver == i.caused_by_version
                    and (i.service is None or svc == i.service) for d in deps]
        named = attribute(i.declared_at, pool)
        if named:
            h.incident_of[i.id] = named.id
    # Recoveries can only end failures that began at or after the earliest failure time.
    earliest = min([start] + [r.started_at for r in h.rollbacks if r.started_at is not None])
    for dep in _deps(conn, *base, D.c.kind.in_(RECOVERY_KINDS), D.c.result == "success", D.c.finished_at > earliest):
        h.recoveries.setdefault(dep.service, []).append(dep.finished_at)
    h.lead = _lead(conn, base, start, end)
    res_where: list[Any] = [I.c.resolved_at >= start, I.c.resolved_at < end]
    if service:
        res_where.append(I.c.service == service)
    h.resolved = [Inc(*row) for row in conn.execute(select(*_INC_COLS).where(*res_where))]
    return h
