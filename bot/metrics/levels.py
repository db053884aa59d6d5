"""DORA performance levels (by report year) and the policy's targets, met or not met.

A later report's table is added as a new year; answers name the year they used, so an old
answer never changes meaning.
"""

from __future__ import annotations

from typing import Any

from bot.policy import Targets

REPORT_YEAR = 2024

# Accelerate State of DevOps Report 2024, the four software-delivery clusters.
# Ranges: a value is placed in the first level whose bound it meets.
_RANGES_2024: dict[str, tuple[str, list[tuple[str, float]]]] = {
    # deployments per week: elite on demand (daily or more), high daily..weekly,
    # medium weekly..monthly, low monthly..every six months.
    "deployment_frequency_per_week": (">=", [("elite", 7.0), ("high", 1.0), ("medium", 7 / 30), ("low", 0.0)]),
    # hours: elite under a day, high a day..a week, medium a week..a month, low beyond.
    "lead_time_hours_median": ("<", [("elite", 24.0), ("high", 168.0), ("medium", 720.0),
                                     ("low", float("inf"))]),
    # hours: elite under an hour, high and medium under a day, low a week..a month.
    "failed_deployment_recovery_hours_median": ("<", [("elite", 1.0), ("high", 24.0), ("medium", 168.0),
                                                      ("low", float("inf"))]),
}
# 2024's change failure rates are points, not ranges (elite 5%, high 20%, medium 10%,
# low 40%): a rate is placed at the closest one.
_CFR_2024 = {"elite": 0.05, "medium": 0.10, "high": 0.20, "low": 0.40}
LEVEL_METRICS = (*_RANGES_2024, "change_failure_rate")


def levels(metrics: dict[str, Any], year: int = REPORT_YEAR) -> dict[str, str | None]:
    """The DORA level of each leveled metric (None without data)."""
    if year != REPORT_YEAR:
        raise ValueError(f"no DORA table for {year}")
    out: dict[str, str | None] = {}
    for name, (op, bounds) in _RANGES_2024.items():
        value = metrics.get(name)
        out[name] = None if value is None else next(
            level for level, bound in bounds if (value >= bound if op == ">=" else value < bound))
    cfr = metrics.get("change_failure_rate")
    out["change_failure_rate"] = None if cfr is None else min(
        _CFR_2024, key=lambda level: (abs(_CFR_2024[level] - cfr), _CFR_2024[level]))
    return out


def targets(metrics: dict[str, Any], t: Targets) -> dict[str, dict[str, Any]]:
    """Each target with the measured value and met (True/False, None without data)."""
    freq = metrics.get("deployment_frequency_per_week")
    per_month = None if freq is None else freq * 30 / 7
    rows = {
        "deployments_per_month": (">=", t.deployments_per_month, per_month),
        "lead_time_hours": ("<", t.lead_time_hours, metrics.get("lead_time_hours_median")),
        "success_rate": (">", t.success_rate, metrics.get("success_rate")),
        "mttr_hours": ("<", t.mttr_hours, metrics.get("mttr_hours_median")),
        "rollback_minutes": ("<", t.rollback_minutes, metrics.get("rollback_minutes_median")),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, (op, target, value) in rows.items():
        met = None if value is None else {">=": value >= target, ">": value > target, "<": value < target}[op]
        out[name] = {"target": target, "op": op, "value": value, "met": met}
    return out
