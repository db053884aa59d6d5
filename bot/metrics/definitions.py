"""The delivery metrics, each defined once, over plain records (no database, no Slack).

Every definition here is written out in the README ("Delivery metrics"); the loader
(``bot.metrics.loading``) only fetches the records these functions read, and the tests
compare the result with an independent computation on random histories.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any, NamedTuple

CHANGE_KINDS = ("planned", "hotfix", "fix_forward")
RECOVERY_KINDS = ("rollback", "fix_forward")
KINDS = ("planned", "hotfix", "rollback", "fix_forward")
RESULTS = ("success", "failure")
FIELDS = (
    "deployments", "deployment_frequency_per_week", "lead_time_hours_median", "change_failure_rate",
    "failed_deployment_recovery_hours_median", "rework_rate", "rollback_rate", "rollback_minutes_median",
    "success_rate", "mttr_hours_median",
)


class Dep(NamedTuple):
    """A finished production deployment (into the policy's final stage). A named tuple: a
    report builds tens of thousands of them, and a tuple is several times cheaper to make."""

    id: int
    service: str
    version: str
    kind: str
    result: str
    started_at: datetime | None
    finished_at: datetime
    release_id: int | None = None
    rolls_back: str | None = None

    @property
    def is_change(self) -> bool:
        """planned, hotfix and fix_forward deployments are changes; rollbacks are not."""
        return self.kind in CHANGE_KINDS


class Inc(NamedTuple):
    """An incident as the metrics read it."""

    id: int
    service: str | None
    declared_at: datetime
    resolved_at: datetime | None
    caused_by_version: str | None = None
    caused_by_release_id: int | None = None


@dataclass
class History:
    """What one report reads: changes and rollbacks, each failure cause attributed to its change.

    ``changes``: changes finished in the window. ``rollbacks``: rollbacks finished at or after
    the window's start. ``rollback_of`` / ``incident_of`` map a rollback / causing incident to
    the deployment id it names (see ``attribute``). ``lead`` holds (finished_at, hours) for
    each commit at the first successful change that shipped it. ``recoveries`` per service:
    the sorted finished_at of successful rollbacks and fix_forwards. ``resolved``: incidents
    resolved in the window; ``causing``: incidents with an attributed cause.
    """

    changes: list[Dep] = field(default_factory=list)
    rollbacks: list[Dep] = field(default_factory=list)
    rollback_of: dict[int, int] = field(default_factory=dict)
    causing: list[Inc] = field(default_factory=list)
    incident_of: dict[int, int] = field(default_factory=dict)
    lead: list[tuple[datetime, float]] = field(default_factory=list)
    recoveries: dict[str, list[datetime]] = field(default_factory=dict)
    resolved: list[Inc] = field(default_factory=list)
    by_version: dict[str, list[Dep]] = field(default_factory=dict)  # what an incident can name (loader's)
    index: _Index | None = None  # built by compute on first use


def attribute(at: datetime, candidates: Iterable[Dep], exclude: int | None = None) -> Dep | None:
    """The deployment a rollback or an incident names: of the production deployments of the
    named version (same service; for an incident, only changes), the latest finished at or
    before ``at`` (the rollback's finish, the incident's declaration); ties by id. None when
    there is none. So a rollback of a rollback names that rollback, not the older change."""
    best: Dep | None = None
    for dep in candidates:
        if dep.id == exclude or dep.finished_at > at:
            continue
        if best is None or (dep.finished_at, dep.id) > (best.finished_at, best.id):
            best = dep
    return best


def _median(values: list[float]) -> float | None:
    # statistics.median is the usual median: the mean of the two middle values when even.
    return float(median(values)) if values else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


@dataclass
class _Index:
    """History sorted by time, with each change's failure and recovery times, built once so
    every week of a report is a couple of bisects."""

    changes: list[Dep]
    change_at: list[datetime]
    rollbacks: list[Dep]
    rollback_at: list[datetime]
    lead: list[tuple[datetime, float]]
    lead_at: list[datetime]
    resolved: list[Inc]
    resolved_at: list[datetime]
    failures: dict[int, list[datetime]]
    incident_ends: dict[int, list[datetime]]


def _index(h: History) -> _Index:
    changes = sorted(h.changes, key=lambda d: (d.finished_at, d.id))
    rollbacks = sorted(h.rollbacks, key=lambda d: (d.finished_at, d.id))
    lead = sorted(h.lead, key=lambda x: x[0])
    closed = sorted(((i.resolved_at, i) for i in h.resolved if i.resolved_at is not None),
                    key=lambda pair: (pair[0], pair[1].id))
    failures: dict[int, list[datetime]] = {}
    ends: dict[int, list[datetime]] = {}
    for d in changes:
        if d.result == "failure":
            failures.setdefault(d.id, []).append(d.finished_at)
    for r in rollbacks:
        target = h.rollback_of.get(r.id)
        if target is not None:
            failures.setdefault(target, []).append(r.started_at or r.finished_at)
    for i in h.causing:
        target = h.incident_of.get(i.id)
        if target is not None:
            failures.setdefault(target, []).append(i.declared_at)
            if i.resolved_at is not None:
                ends.setdefault(target, []).append(i.resolved_at)
    return _Index(changes, [d.finished_at for d in changes], rollbacks, [d.finished_at for d in rollbacks],
                  lead, [x[0] for x in lead], [i for _, i in closed], [at for at, _ in closed],
                  failures, ends)


def with_incidents(kept: History, causing: list[Inc], incident_of: dict[int, int], resolved: list[Inc]) -> History:
    """``kept`` (a history read without incidents, left as it is) with these incidents: its
    sorted lists are shared, only the failures the incidents add are new."""
    if kept.index is None:
        kept.index = _index(kept)
    base = kept.index
    failures = dict(base.failures)
    ends: dict[int, list[datetime]] = {}
    for i in causing:
        target = incident_of.get(i.id)
        if target is not None:
            failures[target] = [*failures.get(target, []), i.declared_at]
            if i.resolved_at is not None:
                ends.setdefault(target, []).append(i.resolved_at)
    closed = sorted(((i.resolved_at, i) for i in resolved if i.resolved_at is not None),
                    key=lambda pair: (pair[0], pair[1].id))
    index = _Index(base.changes, base.change_at, base.rollbacks, base.rollback_at, base.lead, base.lead_at,
                   [i for _, i in closed], [at for at, _ in closed], failures, ends)
    return History(kept.changes, kept.rollbacks, kept.rollback_of, causing, incident_of, kept.lead, kept.recoveries,
                   resolved, kept.by_version, index)


def _slice(items: list[Any], keys: list[datetime], start: datetime, end: datetime) -> list[Any]:
    return items[bisect_left(keys, start):bisect_left(keys, end)]


def compute(history: History, start: datetime, end: datetime) -> dict[str, Any]:
    """Every metric for the window [start, end) from ``history`` (which must cover it)."""
    if history.index is None:
        history.index = _index(history)
    ix = history.index
    days = (end - start).total_seconds() / 86400
    changes = _slice(ix.changes, ix.change_at, start, end)
    rollbacks = _slice(ix.rollbacks, ix.rollback_at, start, end)
    successful = [d for d in changes if d.result == "success"]
    # A change is failed by its result, a rollback naming it, or an incident naming it.
    failed = [d for d in changes if d.id in ix.failures]
    recovery_hours = []
    for d in failed:
        failure = min(ix.failures[d.id])
        ends = list(ix.incident_ends.get(d.id, []))
        fixes = history.recoveries.get(d.service, [])
        k = bisect_right(fixes, failure)
        if k < len(fixes):
            ends.append(fixes[k])
        if ends:
            recovery_hours.append(_hours(failure, min(ends)))
    all_successful = successful + [r for r in rollbacks if r.result == "success"]
    rework = [d for d in all_successful if d.kind != "planned"]
    rollback_minutes = [(r.finished_at - r.started_at).total_seconds() / 60
                        for r in rollbacks if r.result == "success" and r.started_at is not None]
    # A commit's lead time counts once, at the first successful change that shipped it (the
    # loader keeps only those); a commit dated at or after its deployment is left out.
    lead = [h for _, h in _slice(ix.lead, ix.lead_at, start, end) if h > 0]
    mttr = [_hours(i.declared_at, i.resolved_at) for i in _slice(ix.resolved, ix.resolved_at, start, end)]
    kinds = dict.fromkeys(KINDS, 0)
    for d in all_successful:
        kinds[d.kind] += 1
    return {
        "deployments": len(successful),
        "deployment_frequency_per_week": len(successful) / (days / 7) if days > 0 else None,
        "lead_time_hours_median": _median(lead),
        "change_failure_rate": _ratio(len(failed), len(changes)),
        "failed_deployment_recovery_hours_median": _median(recovery_hours),
        "rework_rate": _ratio(len(rework), len(all_successful)),
        # More rollbacks than changes (rollbacks of rollbacks) still reads as "all of them".
        "rollback_rate": min(1.0, len(rollbacks) / len(changes)) if changes else None,
        "rollback_minutes_median": _median(rollback_minutes),
        "success_rate": _ratio(len(successful), len(changes)),
        "mttr_hours_median": _median(mttr),
        "changes": len(changes),
        "failed_changes": len(failed),
        "rollbacks": len(rollbacks),
        "incidents_resolved": len(mttr),
        "kinds": kinds,
    }
