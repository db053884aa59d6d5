"""Due work for incidents: status updates, response-deadline and post-mortem reminders.

Due times live in Incident rows. Each tick claims one due row per transaction (PostgreSQL:
``FOR UPDATE SKIP LOCKED``; SQLite's BEGIN IMMEDIATE already serialises writers), does the
work in that transaction and sets the next due time from *now*, so an update that fell due
while the bot was down is posted once, not once per missed interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlmodel import col, select

from bot.database import Database
from bot.incidents import prose, render, room, view
from bot.incidents.state import INVESTIGATING, OPEN, RESOLVED
from bot.policy import Policy, Postmortem
from bot.text import duration, local_time, mention
from bot.tx import Origin, Tx
from storage.db import is_postgres
from storage.models import Incident

log = logging.getLogger(__name__)
SCHEDULER = Origin(user="warroom", source="scheduler")
MAX_PER_TICK = 100
# Warn this long before a response deadline, at most a quarter of the response window.
RESPONSE_LEAD_MAX = 1800


# --- the maths (pure) ------------------------------------------------------------------
def next_status_at(now: datetime, interval_seconds: int) -> datetime:
    """The next automatic update: a full interval from now (never from the old due time)."""
    return now + timedelta(seconds=interval_seconds)


def pings(missed: int) -> tuple[bool, bool]:
    """Whom an automatic update pings: (commander, comms) after 1 and 2 missed intervals."""
    return missed >= 1, missed >= 2


def response_schedule(declared_at: datetime, response_seconds: int | None) -> tuple[datetime | None, datetime | None]:
    """(response deadline, first reminder); P0's immediate deadline and P3's none need no reminder."""
    if response_seconds is None:
        return None, None
    due = declared_at + timedelta(seconds=response_seconds)
    if response_seconds == 0:
        return due, None
    lead = min(RESPONSE_LEAD_MAX, response_seconds // 4)
    return due, due - timedelta(seconds=lead)


def next_response_reminder(now: datetime, due: datetime) -> datetime | None:
    """After the 'before' reminder comes the 'passed' one at the deadline; then nothing."""
    return due if now < due else None


def postmortem_reminders(due: datetime, pm: Postmortem) -> list[datetime]:
    """The reminders before the due time, and the due time itself, in order."""
    return sorted({due - timedelta(seconds=s) for s in pm.remind_before_seconds} | {due})


def next_postmortem_reminder(due: datetime, after: datetime, pm: Postmortem) -> datetime:
    """The first reminder strictly after ``after``: before-due ones, the due time, then every overdue step."""
    for at in postmortem_reminders(due, pm):
        if at > after:
            return at
    every = timedelta(seconds=pm.overdue_every_seconds)
    return due + every * ((after - due) // every + 1)


# --- the work --------------------------------------------------------------------------
class Cadence:
    """Claims due incident rows and acts on them; one instance per process."""

    def __init__(self, db: Database, policy: Policy, template_dir: str | None = None) -> None:
        self.db = db
        self.policy = policy
        self.template_dir = template_dir
        self._kinds: list[tuple[str, Any, tuple[str, ...], Callable[[Tx, Incident], None]]] = [
            ("status", Incident.next_status_at, OPEN, self.status_update),
            ("response", Incident.response_reminder_at, (INVESTIGATING,), self.response_reminder),
            ("postmortem", Incident.postmortem_reminder_at, (RESOLVED,), self.postmortem_reminder),
        ]

    def run_due(self) -> int:
        """Do every piece of due work; returns how many were done."""
        done = 0
        for name, column, statuses, act in self._kinds:
            for _ in range(MAX_PER_TICK):
                try:
                    if not self.db.run(partial(self._one, column=column, statuses=statuses, act=act),
                                       background=True):
                        break
                except Exception:
                    # The row stays due and is tried again next tick; other kinds still run.
                    log.exception("incident %s work failed", name)
                    break
                done += 1
        return done

    def _one(self, tx: Tx, column: Any, statuses: tuple[str, ...], act: Callable[[Tx, Incident], None]) -> bool:
        stmt = (select(Incident).where(col(column).is_not(None), col(column) <= tx.now,
                                       col(Incident.status).in_(statuses))
                .order_by(col(column), col(Incident.id)).limit(1))
        if is_postgres(tx.session.get_bind()):
            # A row another process is working on is skipped, not waited for (and not done twice).
            stmt = stmt.with_for_update(skip_locked=True)
        incident = tx.session.exec(stmt).first()
        if incident is None:
            return False
        act(tx, incident)
        return True

    def status_update(self, tx: Tx, incident: Incident) -> None:
        """Post the automatic update, count the missed interval, schedule the next one from now."""
        missed = incident.missed_updates + 1
        since = max(t for t in (incident.declared_at, incident.last_status_at, incident.last_human_update_at) if t)
        nxt = next_status_at(tx.now, self.policy.interval_for(incident.severity))
        current = view.load(tx.session, incident)
        text = prose.status_update(current, self.policy, tx.now, since=since, next_due=nxt, missed=missed,
                                   ping=pings(missed), template_dir=self.template_dir)
        tx.save(incident, next_status_at=nxt, last_status_at=tx.now, missed_updates=missed, updated_at=tx.now)
        # After an outage the war room gets this one current update, not the stale queued ones.
        key = view.status_key(incident.id)
        room.post(tx, incident, text, render.chunks(text), store_as=key, coalesce=key)
        room.refresh(tx, self.policy, incident)
        tx.audit(SCHEDULER, "incident", incident.id or 0, "status_update", missed=missed)

    def response_reminder(self, tx: Tx, incident: Incident) -> None:
        """Remind the commander of the response deadline (before it, then once it has passed)."""
        text, nxt = response_text(incident, self.policy, tx.now)
        tx.save(incident, response_reminder_at=nxt, updated_at=tx.now)
        room.post(tx, incident, text)
        tx.audit(SCHEDULER, "incident", incident.id or 0, "response_reminder")

    def postmortem_reminder(self, tx: Tx, incident: Incident) -> None:
        """Remind the commander of the post-mortem; the chain goes on daily while it is overdue."""
        assert incident.postmortem_due_at is not None
        text = postmortem_text(incident, self.policy, tx.now)
        nxt = next_postmortem_reminder(incident.postmortem_due_at, tx.now, self.policy.postmortem)
        tx.save(incident, postmortem_reminder_at=nxt, updated_at=tx.now)
        room.post(tx, incident, text, render.postmortem_reminder_blocks(text, incident))
        tx.audit(SCHEDULER, "incident", incident.id or 0, "postmortem_reminder")


def response_text(incident: Incident, policy: Policy, now: datetime) -> tuple[str, datetime | None]:
    """The response-deadline reminder and when the next one is due."""
    due = incident.response_due_at
    assert due is not None
    when = local_time(due, policy.timezone)
    if now < due:
        text = (f":alarm_clock: {mention(incident.commander)} the {incident.severity} response deadline is {when} "
                f"(in {duration((due - now).total_seconds())}). Record the mitigation with `/incident mitigated`.")
    else:
        text = (f":warning: {mention(incident.commander)} the {incident.severity} response deadline passed at "
                f"{when} without a mitigation. Record it with `/incident mitigated` once it is in place.")
    return text, next_response_reminder(now, due)


def postmortem_text(incident: Incident, policy: Policy, now: datetime) -> str:
    """The post-mortem reminder: before, at, or after the due time."""
    due = incident.postmortem_due_at
    assert due is not None
    who = mention(incident.commander)
    when = local_time(due, policy.timezone)
    if now < due:
        return (f":memo: {who} the post-mortem of incident #{incident.id} is due {when} "
                f"(in {duration((due - now).total_seconds())}).")
    if now - due < timedelta(seconds=min(policy.postmortem.overdue_every_seconds, 3600)):
        return f":memo: {who} the post-mortem of incident #{incident.id} is due now ({when})."
    return (f":warning: {who} the post-mortem of incident #{incident.id} is overdue by "
            f"{duration((now - due).total_seconds())} (it was due {when}).")
