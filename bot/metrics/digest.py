"""The weekly metrics digest: policy ``digest: {channel, weekday, time}``, a schedule held in a
``scheduled_post`` row, claimed by moving ``next_due_at`` on with compare-and-set (one
replica wins), and the post queued in that same transaction, so it goes out once.

A channel given by name is looked up (conversations.list) when the digest is due, so a
channel created or renamed after start-up is found; if none has that name, that week's
digest is skipped with an error in the log naming the policy field."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.database import Database
from bot.metrics.service import MetricsService, Window
from bot.policy import WEEKDAYS, Digest
from storage.models import ScheduledPost, table_of

log = logging.getLogger(__name__)
NAME = "metrics-digest"
T = table_of(ScheduledPost)


def spec(d: Digest, tz: str) -> str:
    """The schedule as stored, e.g. "mon 09:00 Europe/Berlin #releases"."""
    return f"{d.weekday} {d.time} {tz} {d.channel}"


def next_due(d: Digest, tz: str, after: datetime) -> datetime:
    """The first ``weekday`` at ``time`` (in the team's zone) strictly after ``after``."""
    zone = ZoneInfo(tz)
    local = after.astimezone(zone)
    hour, minute = (int(p) for p in d.time.split(":"))
    day = local.date() + timedelta(days=(WEEKDAYS.index(d.weekday) - local.weekday()) % 7)
    while True:
        at = datetime.combine(day, time(hour, minute), zone)
        if at > local:
            return at.astimezone(after.tzinfo)
        day += timedelta(days=7)


class DigestJob:
    """Posts the digest when due; register ``run_due`` with the scheduler."""

    def __init__(self, db: Database, metrics: MetricsService, digest: Digest, tz: str,
                 find_channel: Callable[[str], str | None] | None = None) -> None:
        self.db = db
        self.metrics = metrics
        self.digest = digest
        self.tz = tz
        self.find_channel = find_channel  # name -> ID (the gateway's conversations.list lookup)

    def channel(self) -> str | None:
        """The digest channel's ID: as configured, or looked up by its name (None: no such channel)."""
        name = self.digest.channel_name
        if name is None:
            return self.digest.channel
        if self.find_channel is None:
            raise RuntimeError("a digest channel given by name needs find_channel")
        return self.find_channel(name)

    def run_due(self) -> int:
        """Post the digest if it is due and this replica claims it; returns 1 when posted."""
        now = self.db.clock.now()
        wanted = spec(self.digest, self.tz)
        with self.db.read() as s:
            row = s.execute(select(T.c.spec, T.c.next_due_at).where(T.c.name == NAME)).first()
        if row is None or row.spec != wanted:
            self._plan(now, wanted, exists=row is not None)
            return 0
        if row.next_due_at > now:
            return 0
        # Looked up before the claim: if Slack cannot be reached, the next run tries again.
        channel = self.channel()
        with self.db.transaction() as tx:
            # Compare-and-set on the due time: of several replicas, exactly one moves it on.
            won = tx.session.connection().execute(update(T).where(T.c.name == NAME, T.c.next_due_at == row.next_due_at)
                                                  .values(next_due_at=next_due(self.digest, self.tz, now),
                                                          last_done_at=now))
            if won.rowcount != 1:
                return 0
            if channel is None:
                log.error("metrics digest not posted: no channel is called %s (policy field 'digest.channel'); "
                          "create it and invite the bot, or name another channel", self.digest.channel)
                return 0
            # Missed weeks (the bot was down) coalesce into one digest of the last seven days.
            self.metrics.queue_chart(tx, channel, Window(now - timedelta(days=7), now), comment=True)
        return 1

    def _plan(self, now: datetime, wanted: str, *, exists: bool) -> None:
        due = next_due(self.digest, self.tz, now)
        try:
            with self.db.transaction() as tx:
                if exists:
                    tx.session.execute(update(T).where(T.c.name == NAME).values(spec=wanted, next_due_at=due))
                else:
                    tx.session.execute(insert(T).values(name=NAME, spec=wanted, next_due_at=due))
        except IntegrityError:
            log.debug("another replica planned the digest first")
