"""The App Home tab: open releases with stage and gates, open incidents with their next update,
overdue post-mortems, and this month's delivery metrics against their targets with their chart.

The view is built when the outbox sends it and published only when it differs from what the
user last got (its digest is stored under ``home:<user>``), so a burst of changes or a
periodic refresh costs nothing when nothing a user sees changed.

The chart is an image block showing an uploaded file by its ID (Slack fetches no URL of
ours). The upload goes through the outbox like /release metrics' chart; its file ID is kept
under CHART with the digest of the figures it draws, so a new chart is uploaded (and the
Homes republished) only when those figures change.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

from sqlmodel import Session, col, select

from bot.database import Database
from bot.incidents.state import OPEN
from bot.metrics.charts import alt_text, lines, title
from bot.metrics.service import METRICS_REPORT, MetricsService, Window
from bot.ops import Op
from bot.outbox_port import SlackPort, session_sink
from bot.policy import Policy
from bot.releases import gates
from bot.text import escape
from bot.tx import Origin, Tx
from storage.indexes import HOME_KEYS
from storage.models import Approval, Incident, Release, SlackRef
from storage.vocab import ReleaseStatus

PREFIX = "home:"  # storage.indexes.HOME_KEYS matches these keys
HOME = "home"  # the outbox renderer that builds and publishes a user's Home
CHART = "metrics-chart:home"  # SlackRef: channel = digest of the figures drawn, ts = the file's ID
REFRESH_SECONDS = 60.0  # a periodic check catches changes no listener announces (incidents)
# How long a process trusts its list of opened Homes: re-read at most this often, not in every
# release transaction (a round trip on the ack path). A Home first opened through another
# replica meanwhile is caught by that replica's own publish and the periodic refresh.
USERS_TTL = 10.0


def _when(at: datetime) -> str:
    """A time every reader sees in their own zone (Slack's date formatting)."""
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def month_window(now: datetime) -> Window:
    """The calendar month ``now`` is in (a fixed window: the figures change only with the records)."""
    first = date(now.year, now.month, 1)
    nxt = date(now.year + (now.month == 12), now.month % 12 + 1, 1)
    return Window(datetime.combine(first, dtime(), UTC), datetime.combine(nxt, dtime(), UTC))


class HomeService:
    """Publishes each user's Home tab through the outbox."""

    def __init__(self, db: Database, policy: Policy, metrics: MetricsService) -> None:
        self.db = db
        self.policy = policy
        self.metrics = metrics
        self._next_refresh = 0.0
        self._users: tuple[str, ...] = ()
        self._users_read = -USERS_TTL

    def opened(self, user: str, origin: Origin) -> None:
        """``app_home_opened``: publish the user's Home (a no-op when it is current)."""
        with self.db.transaction() as tx:
            self.queue(tx, user)
        if user not in self._users:
            self._users = (*self._users, user)

    def queue(self, tx: Tx, user: str) -> None:
        """Queue a (coalesced) publish of ``user``'s Home."""
        _queue(tx.slack, user)

    def changed(self, tx: Tx, *_: Any) -> None:
        """Something on the dashboard changed: refresh every Home that was ever opened."""
        for user in self._opened_homes(tx):
            _queue(tx.slack, user)

    def chart_sent(self, s: Session, args: dict[str, Any], result: dict[str, Any]) -> None:
        """After a Home chart upload (outbox hook): keep its file ID and republish the Homes."""
        key, file_id = args.get("home"), result.get("file")
        if not key or not file_id:
            return  # a /release metrics chart, shared in a channel
        stored = s.get(SlackRef, CHART)
        if stored is None:
            s.add(SlackRef(key=CHART, channel=str(key)[:32], ts=str(file_id)[:32]))
        else:
            stored.channel, stored.ts = str(key)[:32], str(file_id)[:32]
        s.flush()
        _refresh_all(s, SlackPort(session_sink(s), self.db.clock.now()))

    def _opened_homes(self, tx: Tx) -> tuple[str, ...]:
        if time.monotonic() - self._users_read > USERS_TTL:
            self._users = tuple(tx.session.exec(select(SlackRef.channel).where(HOME_KEYS)).all())
            self._users_read = time.monotonic()
        return self._users

    def refresh_due(self) -> int:
        """Scheduler job: every REFRESH_SECONDS, recheck every opened Home."""
        if time.monotonic() < self._next_refresh:
            return 0
        self._next_refresh = time.monotonic() + REFRESH_SECONDS
        self._users_read = -USERS_TTL  # the periodic check reads every opened Home afresh
        with self.db.transaction() as tx:
            self.changed(tx)
            return tx.queued

    def render(self, s: Session, args: dict[str, Any]) -> tuple[Op, dict[str, Any]] | None:
        """Outbox renderer: the view for ``args['user']``, or None when it is what they have."""
        user = args["user"]
        view, upload = self.view(s, self.db.clock.now())
        digest = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:16]
        stored = s.get(SlackRef, f"{PREFIX}{user}")
        shown = stored.ts if stored is not None else None
        s.rollback()  # the renderer's session only reads: end it before writing below
        if upload is not None:
            # Queued in a transaction of its own; Homes rendered before it is sent queue it
            # again, and the coalesce key sends it once.
            with self.db.transaction(background=True) as tx:
                tx.slack.render(METRICS_REPORT, coalesce=CHART, channel=None, service=None, start=upload["start"],
                                end=upload["end"], home=upload["home"])
        if shown == digest:
            return None
        return Op.PUBLISH_VIEW, {"user_id": user, "view": view, "digest": digest}

    def view(self, s: Session, now: datetime) -> tuple[dict[str, Any], dict[str, str] | None]:
        """The Home view as it stands at ``now``, and the chart upload it waits for (if any)."""
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": "warroom"}}]
        metrics, upload = self._metrics(s, now)
        blocks += self._releases(s, now) + self._incidents(s, now) + metrics
        return {"type": "home", "blocks": blocks[:100]}, upload

    def _section(self, title: str, rows: list[str], empty: str) -> list[dict[str, Any]]:
        text = f"*{title}*\n" + ("\n".join(rows) if rows else f"_{empty}_")
        return [{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]

    def _releases(self, s: Session, now: datetime) -> list[dict[str, Any]]:
        rows = []
        for r in s.exec(select(Release).where(Release.status == ReleaseStatus.ACTIVE).order_by(col(Release.id).desc())
                        .limit(15)).all():
            approvals = len(s.exec(select(Approval.id).where(Approval.release_id == r.id)).all())
            target = self.policy.next_stage(r.stage)
            gate = "last stage" if target is None else (
                gates.blocked_by(self.policy, r, target, approvals, now) or f"ready for {target.label}")
            needed = gates.approvals_needed(self.policy, r.risk)
            rows.append(f"• *{escape(r.version)}* ({r.risk}) at *{self.policy.stage(r.stage).label}*, "
                        f"approvals {approvals}/{needed}: {escape(gate)}")
        return self._section("Open releases", rows, "No release in progress.")

    def _incidents(self, s: Session, now: datetime) -> list[dict[str, Any]]:
        rows = []
        for i in s.exec(select(Incident).where(col(Incident.status).in_(OPEN))
                        .order_by(col(Incident.id).desc()).limit(15)).all():
            nxt = f"next update {_when(i.next_status_at)}" if i.next_status_at else "no update scheduled"
            room = f"<#{i.channel_id}>" if i.channel_id else escape(i.channel_name)
            rows.append(f"• #{i.id} {i.severity} {escape(i.title)} ({i.status}) in {room}: {nxt}")
        out = self._section("Open incidents", rows, "No open incident.")
        overdue = [f"• #{i.id} {escape(i.title)}: due {_when(i.postmortem_due_at)}"
                   for i in s.exec(select(Incident).where(col(Incident.postmortem_due_at) < now,
                                                          col(Incident.postmortem_done_at).is_(None))
                                   .order_by(col(Incident.postmortem_due_at)).limit(15)).all()
                   if i.postmortem_due_at is not None]
        return out + self._section("Overdue post-mortems", overdue, "None overdue.")

    def _metrics(self, s: Session, now: datetime) -> tuple[list[dict[str, Any]], dict[str, str] | None]:
        w = month_window(now)
        report = self.metrics.report(w)
        blocks = self._section(f"Delivery this month ({w.start:%B %Y})", [f"• {line}" for line in lines(report)],
                               "No data.")
        key = hashlib.sha256(json.dumps(report, sort_keys=True, default=str).encode()).hexdigest()[:16]
        stored = s.get(SlackRef, CHART)
        if stored is None or stored.channel != key or not stored.ts:
            # No image until the chart of these figures is uploaded (chart_sent republishes).
            return blocks, {"start": w.start.isoformat(), "end": w.end.isoformat(), "home": key}
        image = {"type": "image", "slack_file": {"id": stored.ts}, "alt_text": alt_text(report),
                 "title": {"type": "plain_text", "text": title(report)[:2000]}}
        return [*blocks, image], None


def _queue(port: SlackPort, user: str) -> None:
    port.render(HOME, store_as=f"{PREFIX}{user}", coalesce=f"{PREFIX}{user}", user=user)


def _refresh_all(s: Session, port: SlackPort) -> None:
    """Queue a refresh of every Home that was ever opened."""
    for user in s.exec(select(SlackRef.channel).where(HOME_KEYS)).all():
        _queue(port, user)
