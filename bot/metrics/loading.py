"""Fetch the records one report reads, with a handful of indexed queries (no ORM objects).

The loader decides nothing the definitions decide; it only narrows what is read: changes
finished in the window, rollbacks and causing incidents that can name them, and the
recoveries that can end their failures (the commits' lead times come from ``cache``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, String, and_, func, or_, select, tuple_, type_coerce

from bot.metrics.definitions import CHANGE_KINDS, RECOVERY_KINDS, Dep, History, Inc, attribute, with_incidents
from storage.models import Deployment, Incident, table_of

D = table_of(Deployment)
I = table_of(Incident)  # noqa: E741


def raw(column: Any) -> Any:
    """A time column fetched as the driver gives it: SQLAlchemy's SQLite datetime parsing costs
    more than the query on a year of rows; ``_dt`` turns it into an aware UTC datetime."""
    return type_coerce(column, String)


def _dt(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


_DEP_COLS = (D.c.id, D.c.service, D.c.version, D.c.kind, D.c.result, raw(D.c.started_at), raw(D.c.finished_at),
             D.c.release_id, D.c.rolls_back)
_INC_COLS = (I.c.id, I.c.service, raw(I.c.declared_at), raw(I.c.resolved_at), I.c.caused_by_version,
             I.c.caused_by_release_id)


def no_jit(conn: Connection) -> None:
    """On PostgreSQL, no JIT for the rest of this transaction: the planner's estimates for a
    year of rows make it compile the loader's short queries, which costs more (about 100 ms)
    than running them."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


def production(final: str, service: str | None) -> list[Any]:
    """Deployments into ``final`` (of ``service``) that finished with a result."""
    conds = [D.c.environment == final, D.c.finished_at.is_not(None), D.c.result.is_not(None)]
    if service:
        conds.append(D.c.service == service)
    return conds


def deps_where(conn: Connection, *where: Any) -> list[Dep]:
    """The deployments matching ``where``, by finished_at then id."""
    return [Dep(i, svc, ver, kind, res, _dt(st), _dt(fin), rel, rb) for i, svc, ver, kind, res, st, fin, rel, rb
            in conn.execute(select(*_DEP_COLS).where(*where).order_by(D.c.finished_at, D.c.id)).all()]


def _incs(conn: Connection, *where: Any) -> list[Inc]:
    return [Inc(i, svc, _dt(dec), _dt(res), ver, rel) for i, svc, dec, res, ver, rel
            in conn.execute(select(*_INC_COLS).where(*where)).all()]


def load(conn: Connection, final: str, start: datetime, end: datetime, service: str | None,
         lead: dict[int, list[float]], *, incidents: bool = True) -> History:
    """Everything ``definitions.compute`` needs for [start, end) and any window inside it
    (``lead``: per successful change, the lead hours of the commits it shipped first, see
    ``cache``). Without
    ``incidents``, see ``add_incidents``: the window must then end after every record."""
    no_jit(conn)
    base = production(final, service)
    # Every deployment finished in the window: its changes, and its rollbacks (for the rates).
    deps = deps_where(conn, *base, D.c.finished_at >= start, D.c.finished_at < end)
    # A rollback or an incident names a window change only if no deployment of that version
    # finished after the change and before it; ones finished before the window cannot come
    # between, so the deployments sharing service and version with a window change from the
    # window on are all it takes to tell. Later rollbacks count only when they undo a version
    # of a window change (they fail it).
    window_changes = select(D.c.service, D.c.version).where(
        *base, D.c.kind.in_(CHANGE_KINDS), D.c.finished_at >= start, D.c.finished_at < end)
    later = deps_where(conn, *base, D.c.finished_at >= end, tuple_(D.c.service, D.c.version).in_(window_changes))
    later_rollbacks = deps_where(conn, *base, D.c.finished_at >= end, D.c.kind == "rollback",
                                 tuple_(D.c.service, D.c.rolls_back).in_(window_changes))
    h = assemble(deps, later, later_rollbacks)
    found = _incidents(conn, start, end, service) if incidents else []
    h.causing, h.incident_of = _causing(h, found, start)
    earliest, latest = failure_span(h, start, end)
    for svc, finished in conn.execute(select(D.c.service, raw(D.c.finished_at)).where(
            *recovery_conds(final, service), D.c.finished_at > earliest, D.c.finished_at <= latest)
            .order_by(D.c.finished_at, D.c.id)):
        h.recoveries.setdefault(svc, []).append(_dt(finished))
    for svc, first_after in first_recoveries_after(conn, final, service, latest):
        h.recoveries.setdefault(svc, []).append(first_after)
    # A commit's lead time counts once, at the first successful change that shipped it.
    h.lead = [(d.finished_at, hours) for d in h.changes for hours in lead.get(d.id, ())]
    h.resolved = _resolved(found, start, end, service)
    return h


def assemble(deps: list[Dep], later: list[Dep], later_rollbacks: list[Dep]) -> History:
    """The deployments of a history linked (no incidents, recoveries or lead yet): ``deps``
    finished in the window (sorted by finished_at, id), ``later`` the deployments after it
    sharing service and version with a window change, ``later_rollbacks`` the rollbacks after
    it of such a version (see ``load``; ``cache`` builds one from kept deployments too)."""
    h = History()
    for dep in deps:
        (h.changes if dep.is_change else h.rollbacks).append(dep)
    versions = {(d.service, d.version) for d in h.changes}
    pool: dict[tuple[str, str], list[Dep]] = defaultdict(list)
    for dep in [*h.changes, *h.rollbacks]:
        if (dep.service, dep.version) in versions:
            pool[(dep.service, dep.version)].append(dep)
    for dep in later:
        pool[(dep.service, dep.version)].append(dep)
    h.rollbacks += later_rollbacks
    for r in h.rollbacks:
        named = attribute(r.finished_at, pool.get((r.service, r.rolls_back or ""), []), exclude=r.id)
        if named:
            h.rollback_of[r.id] = named.id
    for (_, ver), group in pool.items():
        h.by_version.setdefault(ver, []).extend(group)
    return h


def failure_span(h: History, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A failure of a window change happens between these two: the first recovery after it is
    one finished in between, or the first one after the second."""
    ids = {d.id for d in h.changes}
    named_at = [r.started_at or r.finished_at for r in h.rollbacks if h.rollback_of.get(r.id) in ids]
    named_at += [i.declared_at for i in h.causing if h.incident_of.get(i.id) in ids]
    return min([start, *named_at]), max([end, *named_at])


def recovery_conds(final: str, service: str | None) -> list[Any]:
    """The successful recoveries (rollbacks and fix_forwards) of ``final`` (and ``service``)."""
    return [*production(final, service), D.c.kind.in_(RECOVERY_KINDS), D.c.result == "success"]


def first_recoveries_after(conn: Connection, final: str, service: str | None, latest: datetime) -> list[Any]:
    """(service, finished_at) of each service's first successful recovery after ``latest``."""
    return [(svc, _dt(first)) for svc, first in conn.execute(
        select(D.c.service, func.min(raw(D.c.finished_at)))
        .where(*recovery_conds(final, service), D.c.finished_at > latest).group_by(D.c.service))]


def _causing(h: History, incidents: list[Inc], start: datetime) -> tuple[list[Inc], dict[int, int]]:
    """The incidents that name a version, each with the deployment it names among ``h``'s.

    Incidents name a change by version (a release's version when set from Slack); one
    declared before the window cannot name a change finished in it."""
    causing = [i for i in incidents if i.caused_by_version is not None and i.declared_at >= start]
    named_by: dict[int, int] = {}
    for i in causing:
        # An incident names the code of a version: the change that shipped it, not a rollback
        # that happened to redeploy it.
        candidates = [d for d in h.by_version.get(i.caused_by_version or "", [])
                      if d.is_change and (i.service is None or d.service == i.service)]
        named = attribute(i.declared_at, candidates)
        if named:
            named_by[i.id] = named.id
    return causing, named_by


def _incidents(conn: Connection, start: datetime, end: datetime, service: str | None) -> list[Inc]:
    """In one query: the incidents that may name a change of the window (declared from its start
    on, naming a version; with ``service``, also those without one) and those resolved in it."""
    naming = [I.c.declared_at >= start, I.c.caused_by_version.is_not(None)]
    resolved = [I.c.resolved_at >= start, I.c.resolved_at < end]
    if service:
        naming.append(or_(I.c.service == service, I.c.service.is_(None)))
        resolved.append(I.c.service == service)
    return _incs(conn, or_(and_(*naming), and_(*resolved)))


def _resolved(incidents: list[Inc], start: datetime, end: datetime, service: str | None) -> list[Inc]:
    return [i for i in incidents if i.resolved_at is not None and start <= i.resolved_at < end
            and (service is None or i.service == service)]


def add_incidents(conn: Connection, kept: History, start: datetime, end: datetime, service: str | None) -> History:
    """``kept`` (read without incidents, from before ``start`` on, left as it is) with the
    incidents a report for [start, end) reads: incidents change often (every status update),
    deployments seldom, so only the deployments are kept between reports."""
    incidents = _incidents(conn, start, end, service)
    causing, named_by = _causing(kept, incidents, start)
    return with_incidents(kept, causing, named_by, _resolved(incidents, start, end, service))
