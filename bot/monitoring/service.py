"""Alerts on a watched release: posted in its thread, pausing promotion, rolling back, opening
an incident; resolution posted once, repeats ignored.

Slack-free: it records state and queues messages through ``Tx``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlmodel import col, select

from bot import blocks as bk
from bot.checks.rules import link
from bot.errors import InvalidTransition, NotFound
from bot.hooks.inbox import Inbox
from bot.incidents import room
from bot.incidents.cadence import response_schedule
from bot.monitoring.alerts import Alert, parse
from bot.policy import Policy
from bot.releases.service import ReleaseService
from bot.releases.state import ACTIVE, COMPLETED
from bot.text import clip, escape, mention
from bot.tx import Duplicate, Origin, Tx
from storage.models import InboundEvent, Release, ReleaseAlert

log = logging.getLogger(__name__)


class MonitoringService:
    """Applies alert notifications to the releases that watch their service."""

    def __init__(self, releases: ReleaseService, policy: Policy, inbox: Inbox) -> None:
        self.releases = releases
        self.policy = policy
        self.inbox = inbox
        self.db = releases.db

    def process(self, tx: Tx, event: InboundEvent) -> bool:
        """Inbox processor for alertmanager/grafana deliveries."""
        matched = False
        for alert in parse(event.payload if isinstance(event.payload, dict) else {}):
            if alert.status == "firing":
                matched = self._fired(tx, alert, event.source) or matched
            elif alert.status == "resolved":
                matched = self._resolved(tx, alert) or matched
        return matched

    def watched(self, tx: Tx, service: str) -> list[Release]:
        """Releases of ``service`` in a production stage, or completed within their monitoring window."""
        rows = tx.session.exec(select(Release).where(Release.service == service,
                                                     col(Release.status).in_([ACTIVE, COMPLETED]))).all()
        out = []
        for r in rows:
            if r.status == ACTIVE and self.policy.stage(r.stage).production:
                out.append(r)
            elif r.status == COMPLETED and r.finished_at:
                window = timedelta(minutes=self.policy.risk_levels[r.risk].monitor_minutes)
                if tx.now <= r.finished_at + window:
                    out.append(r)
        return out

    def _fired(self, tx: Tx, alert: Alert, source: str) -> bool:
        if not alert.service:
            return False
        releases = self.watched(tx, alert.service)
        started = alert.starts_at or tx.now
        for release in releases:
            seen = tx.session.exec(select(ReleaseAlert).where(
                ReleaseAlert.release_id == release.id, ReleaseAlert.fingerprint == alert.fingerprint,
                ReleaseAlert.started_at == started)).first()
            if seen is not None:
                continue  # Alertmanager repeats a firing alert every repeat_interval: say nothing new
            row = ReleaseAlert(release_id=release.id or 0, source=source, fingerprint=alert.fingerprint,
                               name=alert.name[:200], severity=(alert.severity or None) and alert.severity[:32],
                               status="firing", summary=alert.summary, labels=alert.labels, url=alert.url,
                               started_at=started, updated_at=tx.now)
            tx.session.add(row)
            tx.session.flush()
            tx.audit(Origin(user=source, source=f"hook:{source}"), "release", release.id or 0, "alert_firing",
                     alert=alert.name, fingerprint=alert.fingerprint, severity=alert.severity)
            self._post_firing(tx, release, row)
            if alert.severity in self.policy.monitoring.open_incident_for:
                self._incident(tx, release, row)
            if self.policy.stage(release.stage).auto_rollback:
                self.inbox.later(partial(self._auto_rollback, release.version, row))
        return bool(releases)

    def _post_firing(self, tx: Tx, release: Release, row: ReleaseAlert) -> None:
        labels = ", ".join(f"{escape(k)}={escape(v)}" for k, v in sorted(row.labels.items()))
        text = (f":rotating_light: Alert *{escape(row.name)}* is firing on `{escape(release.service)}`: "
                f"{escape(row.summary) or '_no summary_'}")
        ref = {"v": release.version, "s": release.stage}
        blocks = [bk.section(text + (f" {link(row.url, 'source')}" if row.url else "")),
                  bk.context(clip(labels, 2900) or "no labels"),
                  bk.section(f"Promotion of {release.version} is paused until the alert resolves "
                             f"or an approver runs `/release bypass {release.version} <reason>`.")]
        buttons = [bk.button("Acknowledge", "alert_ack", {"a": row.id})]
        if release.status in (ACTIVE, COMPLETED):
            buttons.insert(0, bk.button("Roll back", "release_rollback", ref, style="danger", confirm=(
                "Roll back?", f"Roll back release {release.version}? You will be asked for a reason.",
                "Roll back")))
        blocks.append(bk.actions(*buttons))
        self.releases.thread(tx, release, text, bk.to_dicts(blocks))
        self.releases.announce(tx, release)

    def _incident(self, tx: Tx, release: Release, row: ReleaseAlert) -> None:
        severity = self.policy.monitoring.incident_severity
        origin = Origin(user=release.requested_by, source=f"hook:{row.source}")
        response = response_schedule(tx.now, self.policy.severities[severity].response_seconds)
        title = clip(f"{row.name} on {release.service} after {release.version}", 200)
        opened = room.open_war_room(tx, self.policy, origin, severity=severity, title=title, response=response,
                                    invite=[release.requested_by])
        incident = opened.incident
        tx.save(incident, caused_by_release_id=release.id, caused_by_version=release.version,
                service=release.service, updated_at=tx.now)
        tx.save(row, incident_id=incident.id, updated_at=tx.now)
        room.post(tx, incident, f":link: Suspected cause: release *{release.version}* of `{escape(release.service)}` "
                                f"(alert *{escape(row.name)}*: {escape(row.summary) or 'no summary'}"
                                + (f", {link(row.url, 'source')}" if row.url else "") + ").")
        self.releases.thread(tx, release, f":fire: Incident #{incident.id} ({severity}) declared for "
                             f"*{escape(row.name)}*; release {release.version} is its suspected cause.")

    def _auto_rollback(self, version: str, row: ReleaseAlert) -> None:
        origin = Origin(user="warroom", source=f"hook:{row.source}", request_id=f"alert:{row.id}:rollback")
        try:
            self.releases.rollback(version, origin, f"automatic: alert {row.name} fired ({clip(row.summary, 300)})",
                                   automatic=True)
        except (InvalidTransition, Duplicate) as exc:
            # Rolled back already (by a person, or for another alert): nothing more to do.
            log.info("no automatic rollback of %s: %s", version, exc)

    def _resolved(self, tx: Tx, alert: Alert) -> bool:
        rows = tx.session.exec(select(ReleaseAlert).where(ReleaseAlert.fingerprint == alert.fingerprint,
                                                          ReleaseAlert.status == "firing")).all()
        for row in rows:
            if alert.starts_at and row.started_at != alert.starts_at:
                continue
            tx.save(row, status="resolved", resolved_at=alert.ends_at or tx.now, updated_at=tx.now)
            release = tx.session.get(Release, row.release_id)
            if release is None:
                continue
            tx.audit(Origin(user=row.source, source=f"hook:{row.source}"), "release", release.id or 0,
                     "alert_resolved", alert=row.name, fingerprint=row.fingerprint)
            self.releases.thread(tx, release, f":white_check_mark: Alert *{escape(row.name)}* resolved.")
            self.releases.announce(tx, release)
        return bool(rows)

    def acknowledge(self, alert_id: int, origin: Origin) -> ReleaseAlert:
        """Someone looked at the alert: recorded once, said in the thread."""
        def work(tx: Tx) -> ReleaseAlert:
            tx.once(origin.request_id)
            row = tx.session.get(ReleaseAlert, alert_id)
            if row is None:
                raise NotFound(f"There is no alert {alert_id}.")
            if row.acknowledged_by:
                return row
            tx.save(row, acknowledged_by=origin.user, updated_at=tx.now)
            release = tx.session.get(Release, row.release_id)
            if release is not None:
                tx.audit(origin, "release", release.id or 0, "alert_ack", alert=row.name)
                self.releases.thread(tx, release, f":eyes: {mention(origin.user)} acknowledged "
                                     f"*{escape(row.name)}*.")
            return row
        return self.db.run(work)

    def section(self, s: Any, release: Release, now: datetime) -> list[str]:
        """Announcement lines: alerts firing on the release."""
        rows = s.exec(select(ReleaseAlert).where(ReleaseAlert.release_id == release.id,
                                                 ReleaseAlert.status == "firing")).all()
        out = []
        for row in rows:
            extra = (f" _(bypassed by {mention(row.override['by'])}: {escape(row.override['reason'])})_"
                     if row.override else "")
            out.append(f":rotating_light: alert *{escape(row.name)}* firing since "
                       f"{row.started_at.strftime('%H:%M')} UTC{extra}")
        return out
