"""Predicates of the partial indexes. A query uses such an index only when its WHERE clause
repeats the predicate as written here, so the queries that rely on one import it from here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

HOME_KEYS = text("key LIKE 'home:%'")  # the SlackRefs of opened App Homes (bot.home)


def _outbox(sql: str) -> dict[str, Any]:
    # SQLite spells the booleans 0 and 1, as SQLAlchemy renders them in its queries.
    return {"postgresql_where": text(sql), "sqlite_where": text(sql.replace("false", "0").replace("true", "1"))}


# Only sent rows, for the sweep that drops week-old ones: an index holding the pending rows as well
# drew the claim (sent_at IS NULL) away from its own indexes to read every pending row and sort them.
SENT = _outbox("sent_at IS NOT NULL")
PENDING = _outbox("sent_at IS NULL AND failed = false")  # outbox rows still to send
# ... in the fast lane (its index leads with ``fast``: SQLite's planner, without statistics,
# prefers an index it can search by equality, so it does not take the pending-rows one instead).
PENDING_FAST = _outbox("sent_at IS NULL AND failed = false AND fast = true")
