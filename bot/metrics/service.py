"""Delivery metrics reports (API, Slack, Home, Prometheus) and history imports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from bot.database import Database
from bot.errors import UsageError
from bot.metrics import imports
from bot.metrics.cache import ReportCache
from bot.metrics.definitions import FIELDS, History, compute
from bot.metrics.levels import REPORT_YEAR, levels, targets
from bot.metrics.loading import add_incidents, load
from bot.ops import Op
from bot.policy import Policy
from bot.text import escape
from bot.tx import Origin, Tx

MAX_DAYS = 800
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@+-]{0,63}$")
PERIODS = {"30d": 30, "90d": 90}
# Reports cover these years (a week at the edge of datetime's range cannot be computed).
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)
METRICS_REPORT = "metrics_report"  # the outbox renderer that draws and uploads a report's chart


@dataclass(frozen=True)
class Window:
    """A half-open window [start, end) and the service it is about (None: all)."""

    start: datetime
    end: datetime
    service: str | None = None

    @property
    def days(self) -> float:
        """Length in days."""
        return (self.end - self.start).total_seconds() / 86400


def _instant(raw: str, name: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC when no zone is given)."""
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), UTC)
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise UsageError(f"{name}: {raw!r} is not an ISO date (2026-01-31) or date-time in range") from exc


def parse_window(now: datetime, start: str | None, end: str | None, service: str | None) -> Window:
    """The window named by the API's from/to (default: the 30 days before ``now``)."""
    to = _instant(end, "to") if end else now
    try:
        frm = _instant(start, "from") if start else to - timedelta(days=30)
    except OverflowError as exc:  # a `to` in the year 1
        raise UsageError("to is too early; give from as well") from exc
    if not EARLIEST <= frm < to <= LATEST:
        raise UsageError("from must be before to" if frm >= to else "from and to must lie between 1900 and 3000")
    if to - frm > timedelta(days=MAX_DAYS):
        raise UsageError(f"the window is at most {MAX_DAYS} days")
    return Window(frm, to, check_service(service))


def check_service(service: str | None) -> str | None:
    """A service name as deployments carry it, or UsageError."""
    if service is None or service == "":
        return None
    if not _SERVICE.match(service):
        raise UsageError("service: up to 64 letters, digits and . _ / @ + -, starting with a letter or digit")
    return service


def period_window(now: datetime, period: str, service: str | None) -> Window:
    """/release metrics periods: 30d, 90d or quarter (the current calendar quarter so far)."""
    if period == "quarter":
        first = date(now.year, 3 * ((now.month - 1) // 3) + 1, 1)
        return Window(datetime.combine(first, time(), UTC), now, check_service(service))
    if period not in PERIODS:
        raise UsageError("Usage: `/release metrics [30d|90d|quarter] [service]`")
    return Window(now - timedelta(days=PERIODS[period]), now, check_service(service))


def iso_weeks(w: Window) -> list[tuple[str, datetime, datetime]]:
    """The ISO weeks the window touches, each clipped to the window: (label, start, end)."""
    monday = datetime.combine((w.start - timedelta(days=w.start.weekday())).date(), time(), UTC)
    out = []
    while monday < w.end:
        nxt = monday + timedelta(days=7)
        year, week, _ = monday.isocalendar()
        out.append((f"{year}-W{week:02d}", max(monday, w.start), min(nxt, w.end)))
        monday = nxt
    return out


class MetricsService:
    """Reads reports from the records; imports history through the API."""

    def __init__(self, db: Database, policy: Policy) -> None:
        self.db = db
        self.policy = policy
        self.cache = ReportCache()

    def report(self, w: Window, *, weekly: bool = True) -> dict[str, Any]:
        """Every metric for the window, with targets, DORA levels and (optionally) per ISO week."""
        with self.db.engine.connect() as conn:
            history = self._history(conn, w)
        metrics = compute(history, w.start, w.end)
        out: dict[str, Any] = {name: metrics[name] for name in FIELDS}
        out["counts"] = {k: metrics[k] for k in ("changes", "failed_changes", "rollbacks", "incidents_resolved")}
        out["window"] = {"from": w.start.isoformat(), "to": w.end.isoformat(), "days": w.days,
                         "service": w.service, "environment": self.policy.final_stage}
        out["targets"] = targets(metrics, self.policy.targets)
        out["levels"] = levels(metrics)
        out["report_year"] = REPORT_YEAR
        if weekly:
            out["weekly"] = []
            for label, start, end in iso_weeks(w):
                week = compute(history, start, end)
                out["weekly"].append({"week": label, "from": start.isoformat(), "to": end.isoformat(),
                                      **{name: week[name] for name in FIELDS}, "kinds": week["kinds"]})
        return out

    def _history(self, conn: Connection, w: Window) -> History:
        """The records for ``w``: the kept deployments from the horizon on (read once per change
        of them) with the window's incidents when the window lies after the horizon, else all
        read for the window alone."""
        stage = self.policy.final_stage
        snap = self.cache.snapshot(conn, stage)
        back = self.db.clock.now() - timedelta(days=MAX_DAYS)
        horizon = datetime(back.year, back.month, 1, tzinfo=UTC)  # moves once a month
        if w.start < horizon:
            return load(conn, stage, w.start, w.end, w.service, snap.lead)
        kept = self.cache.history(snap, w.service, horizon)
        if kept is None:
            kept = load(conn, stage, horizon, LATEST, w.service, snap.lead, incidents=False)
            self.cache.keep(snap, w.service, horizon, kept)
        return add_incidents(conn, kept, w.start, w.end, w.service)

    def share(self, channel: str, period: str, service: str | None, origin: Origin) -> str:
        """`/release metrics`: queue the report and its chart for ``channel``; returns what is coming.

        Nothing is computed here (a long history takes a while): the outbox draws the report
        when it sends it, so the command is acknowledged at once.
        """
        w = period_window(self.db.clock.now(), period, service)
        with self.db.transaction() as tx:
            tx.audit(origin, "metrics", 0, "share", channel=channel, period=period, service=service)
            self.queue_chart(tx, channel, w, comment=True)
        span = {"30d": "the last 30 days", "90d": "the last 90 days"}.get(period, "this quarter so far")
        who = f"`{escape(w.service)}`" if w.service else "all services"
        return (f"Computing delivery metrics for {span} ({who})… "
                "the report and its chart will be posted in this channel.")

    def queue_chart(self, tx: Tx, channel: str, w: Window, comment: bool = False) -> None:
        """Queue the report's chart for ``channel`` (drawn when sent, so it is current);
        ``comment``: with the figures as the message's text."""
        tx.slack.render(METRICS_REPORT, channel=channel, start=w.start.isoformat(), end=w.end.isoformat(),
                        service=w.service, comment=comment)

    def render_chart(self, _s: Any, args: dict[str, Any]) -> tuple[Op, dict[str, Any]] | None:
        """Outbox renderer: the report's chart as a PNG upload with the numbers as alt text
        (not shared in any channel when ``args['channel']`` is None: the Home tab shows it)."""
        from bot.metrics.charts import alt_text, render_png, title

        w = Window(datetime.fromisoformat(args["start"]), datetime.fromisoformat(args["end"]), args.get("service"))
        report = self.report(w)
        name = f"delivery-metrics-{w.service or 'all'}-{w.end.date().isoformat()}.png"
        return Op.UPLOAD_PNG, {"channel": args.get("channel"), "filename": name, "png": render_png(report),
                              "title": title(report), "alt_txt": alt_text(report),
                              "comment": report_text(report) if args.get("comment") else None}

    def import_deployment(self, data: object, origin: Origin) -> dict[str, Any]:
        """POST /api/deployments: store one past deployment (a no-op when it is there already)."""
        body = imports.parse(imports.DeploymentIn, data)

        def work(tx: Tx) -> tuple[int, bool]:
            return imports.import_deployment(tx, body, origin)
        dep_id, created = self.db.run(work)
        return {"id": dep_id, "created": created}

    def import_incident(self, data: object, origin: Origin) -> dict[str, Any]:
        """POST /api/incidents/import: store one past incident."""
        body = imports.parse(imports.IncidentIn, data)

        def work(tx: Tx) -> tuple[int, bool]:
            return imports.import_incident(tx, body, origin)
        inc_id, created = self.db.run(work)
        return {"id": inc_id, "created": created}


def report_text(report: dict[str, Any]) -> str:
    """The report as a Slack message: a title line and one line per figure."""
    from bot.metrics.charts import lines, title

    return f"*{title(report)}*\n" + "\n".join(f"• {line}" for line in lines(report))
