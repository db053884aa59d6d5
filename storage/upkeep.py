"""PostgreSQL upkeep the bot does for its own tables.

The outbox, the send paces and the incidents' due times are queue-like: each row is updated
several times (claimed, paced, sent), and every update leaves a dead row version and dead index
entries behind. The sender's claim reads its pending-rows index on every pass, so the dead
entries it walks grow with time until a vacuum removes them. Autovacuum does that on a server
that runs it, but only once a fifth of a table is dead by default (late, on an outbox that keeps
a week of sent rows), and never on one where it is turned off. So the worker vacuums (and
analyzes) any of its tables with more than a bound of dead rows itself, one replica at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, text

from storage.db import is_postgres

log = logging.getLogger(__name__)

DEAD_ROWS = 2000  # the default bound (WARROOM_DB_VACUUM_DEAD_ROWS); 0 leaves it all to autovacuum
LOCK_KEY = 0x7761_7272_6F6F_6D01  # pg_try_advisory_lock key: one replica vacuums, the others skip a round
_STATS = text("SELECT relname, n_dead_tup, n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables "
              "WHERE schemaname = current_schema() ORDER BY relname")


def due_tables(stats: Iterable[Any], dead_rows: int) -> list[str]:
    """The tables to vacuum: more dead rows than ``dead_rows``, or changed enough since their last
    analyze (a tenth of them, at least ``dead_rows``) that the planner's picture of them is stale."""
    return [name for name, dead, changed, live in stats
            if dead >= dead_rows or changed >= max(dead_rows, live // 10)]


def vacuum_due(engine: Engine, dead_rows: int = DEAD_ROWS) -> list[str]:
    """VACUUM (ANALYZE) this schema's tables that ``due_tables`` picks; the ones vacuumed.

    Nothing on SQLite (it reuses freed pages itself), with ``dead_rows`` 0, or while another
    replica is at it. A table that cannot be vacuumed now (a lock held too long, no privilege)
    is logged and left for the next round.
    """
    if dead_rows <= 0 or not is_postgres(engine):
        return []
    done: list[str] = []
    with engine.connect() as plain:
        conn = plain.execution_options(isolation_level="AUTOCOMMIT")
        if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar():
            return []
        try:
            # A migration holding a table waits for nobody: this round skips the table instead.
            conn.execute(text("SET lock_timeout = '2s'"))
            quote = conn.dialect.identifier_preparer.quote
            for name in due_tables(conn.execute(_STATS), dead_rows):
                try:
                    conn.execute(text(f"VACUUM (ANALYZE) {quote(name)}"))
                except Exception as exc:  # noqa: BLE001 - upkeep must never stop the worker's other jobs
                    log.warning("vacuum of %s skipped this round: %s", name, exc)
                    continue
                done.append(name)
        finally:
            conn.execute(text("RESET lock_timeout"))
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    return done
