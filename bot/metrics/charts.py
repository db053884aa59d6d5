"""The metrics report as words (each figure against its target and DORA level) and as a PNG
chart (matplotlib, Agg): deployments per week by kind, lead time and recovery medians per
week against their targets, change failure rate per week."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display
# Figure objects, not pyplot: pyplot's global state is not safe across the sender's threads.
from matplotlib.figure import Figure  # noqa: E402

KIND_COLOURS = {"planned": "#2e7d32", "hotfix": "#ef6c00", "fix_forward": "#1565c0", "rollback": "#c62828"}
_TARGET_OF = {"deployment_frequency_per_week": "deployments_per_month", "lead_time_hours_median": "lead_time_hours",
              "success_rate": "success_rate", "mttr_hours_median": "mttr_hours",
              "rollback_minutes_median": "rollback_minutes"}
LINES = (
    ("deployments", "Deployments", "{:.0f}"),
    ("deployment_frequency_per_week", "Deployment frequency", "{:.2f}/week"),
    ("lead_time_hours_median", "Lead time (median)", "{:.1f} h"),
    ("change_failure_rate", "Change failure rate", "pct"),
    ("failed_deployment_recovery_hours_median", "Failed deployment recovery (median)", "{:.2f} h"),
    ("success_rate", "Success rate", "pct"),
    ("mttr_hours_median", "MTTR (median)", "{:.2f} h"),
    ("rollback_rate", "Rollback rate", "pct"),
    ("rollback_minutes_median", "Rollback time (median)", "{:.1f} min"),
    ("rework_rate", "Rework rate", "pct"),
)


def fmt(value: Any, spec: str) -> str:
    """A figure as people read it; "no data" for null."""
    if value is None:
        return "no data"
    return f"{value * 100:.1f}%" if spec == "pct" else spec.format(value)


def _target_word(report: dict[str, Any], name: str) -> str:
    target = report["targets"].get(_TARGET_OF.get(name, ""))
    if target is None:
        return ""
    unit = {"deployments_per_month": "/month", "lead_time_hours": " h", "mttr_hours": " h",
            "rollback_minutes": " min", "success_rate": ""}[_TARGET_OF[name]]
    goal = f"{target['target'] * 100:g}%" if _TARGET_OF[name] == "success_rate" else f"{target['target']:g}{unit}"
    verdict = {True: "met", False: "NOT met", None: "no data"}[target["met"]]
    return f"target {target['op']} {goal}: {verdict}"


def lines(report: dict[str, Any]) -> list[str]:
    """One plain line per figure: value, target verdict, DORA level."""
    out = []
    for name, label, spec in LINES:
        extra = [w for w in (_target_word(report, name),
                             f"DORA {report['report_year']}: {report['levels'][name]}"
                             if report["levels"].get(name) else "") if w]
        out.append(f"{label}: {fmt(report[name], spec)}" + (f" ({'; '.join(extra)})" if extra else ""))
    return out


def title(report: dict[str, Any]) -> str:
    """What the report covers, e.g. "Delivery metrics, shop, 2026-01-01 to 2026-01-31"."""
    w = report["window"]
    who = w["service"] or "all services"
    return f"Delivery metrics, {who}, {w['from'][:10]} to {w['to'][:10]} ({w['days']:.0f} days)"


def alt_text(report: dict[str, Any]) -> str:
    """The chart's alt text: what it shows and the numbers (Slack allows 1,000 characters)."""
    weeks = report.get("weekly", [])
    per_week = ", ".join(f"{w['week']}: {w['deployments']}" for w in weeks[-8:])
    text = (f"{title(report)}. Deployments per week: {per_week}. "
            + "; ".join(lines(report)[1:6]) + ".")
    return text[:1000]


def render_png(report: dict[str, Any], *, dpi: int = 100) -> bytes:
    """The three panels as one PNG."""
    weeks = report.get("weekly", [])
    labels = [w["week"][5:] for w in weeks]
    x = list(range(len(weeks)))
    targets = report["targets"]
    fig = Figure(figsize=(8, 9))
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    bottom = [0] * len(weeks)
    for kind, colour in KIND_COLOURS.items():
        counts = [w["kinds"][kind] for w in weeks]
        ax1.bar(x, counts, bottom=bottom, color=colour, label=kind.replace("_", " "))
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax1.set_ylabel("deployments")
    ax1.set_title(title(report), fontsize=10)
    ax1.legend(loc="upper left", fontsize=8, ncols=4)
    lead = [w["lead_time_hours_median"] for w in weeks]
    recovery = [w["failed_deployment_recovery_hours_median"] for w in weeks]
    ax2.plot(x, [float("nan") if v is None else v for v in lead], "o-", color="#6a1b9a", label="lead time median")
    ax2.plot(x, [float("nan") if v is None else v for v in recovery], "s-", color="#c62828",
             label="recovery median")
    ax2.axhline(targets["lead_time_hours"]["target"], color="#6a1b9a", linestyle="--", linewidth=1,
                label=f"lead time target {targets['lead_time_hours']['target']:g} h")
    ax2.axhline(targets["mttr_hours"]["target"], color="#c62828", linestyle=":", linewidth=1,
                label=f"recovery target {targets['mttr_hours']['target']:g} h")
    ax2.set_ylabel("hours")
    ax2.legend(loc="upper left", fontsize=8)
    cfr = [w["change_failure_rate"] for w in weeks]
    ax3.bar(x, [0 if v is None else v * 100 for v in cfr], color="#ef6c00")
    ax3.set_ylabel("change failure rate %")
    ax3.set_ylim(0, 100)
    ax3.set_xticks(x, labels, rotation=45, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
