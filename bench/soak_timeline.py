"""The soak's timeline: per window, ack latency, CPU used by each process (PostgreSQL's server
processes included) and, on PostgreSQL, which tables were read row by row. A tail that grows
over an hour shows here as work that grows with the tables, or as a process taking more CPU."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from ack_latency import cpu_seconds, pct

_TABLES = ("SELECT relname, seq_scan, seq_tup_read, coalesce(idx_tup_fetch, 0), n_live_tup, n_dead_tup, "
           "autovacuum_count + vacuum_count FROM pg_stat_user_tables WHERE schemaname = :schema")
_INDEXES = ("SELECT indexrelname, idx_scan, idx_tup_read, idx_tup_fetch FROM pg_stat_user_indexes "
            "WHERE schemaname = :schema ORDER BY idx_tup_read DESC LIMIT 5")


def postgres_cpu() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL server process running on this machine."""
    used: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if Path(entry.path, "comm").read_text().strip() == "postgres":
                    used[int(entry.name)] = cpu_seconds(int(entry.name))
            except OSError:  # the process ended meanwhile
                continue
    return used


class Timeline:
    """Prints one line per window: requests, p50/p99 ms, outbox backlog, CPU seconds per process,
    table reads."""

    def __init__(self, pids: dict[str, int], db_url: str, schema: str | None) -> None:
        from sqlalchemy import create_engine

        from storage.db import normalize_url

        self.pids = pids
        self.schema = schema  # PostgreSQL: the bench's schema, whose statistics are shown
        self.db: Any = create_engine(normalize_url(db_url))
        self.engine: Any = self.db if schema else None
        self._pg: dict[int, float] = {}
        self._cpu: dict[str, float] = {}
        self._cpu = self._cpu_now()
        self._tables = self._table_stats()

    def _cpu_now(self) -> dict[str, float]:
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        if self.engine is not None:
            # By process: one that ended since the last window drops out of both sums, not just one.
            now, before = postgres_cpu(), self._pg
            self._pg = now
            cpu["postgres"] = self._cpu.get("postgres", 0.0) + sum(
                used - before.get(pid, 0.0) for pid, used in now.items())
        return cpu

    def _table_stats(self) -> dict[str, tuple[int, ...]]:
        if self.engine is None:
            return {}
        from sqlalchemy import text

        with self.engine.connect() as conn:
            rows = conn.execute(text(_TABLES), {"schema": self.schema})
            return {r[0]: tuple(int(x or 0) for x in r[1:]) for r in rows}

    def _pending(self) -> int:
        """Outbox rows not yet delivered: a sender that keeps up holds this steady."""
        from sqlalchemy import text

        with self.db.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM outbox_message WHERE sent_at IS NULL "
                                         "AND failed = :no"), {"no": False}).scalar() or 0)

    def window(self, start: float, end: float, latencies: list[float]) -> None:
        """Report the window [start, end) seconds of the run, whose acks took ``latencies`` ms."""
        cpu, tables = self._cpu_now(), self._table_stats()
        used = "  ".join(f"{k} {cpu[k] - self._cpu.get(k, 0):.1f}" for k in cpu)
        p50 = statistics.median(latencies) if latencies else 0.0
        p99 = pct(latencies, 99) if latencies else 0.0
        line = (f"  {start:5.0f}-{end:5.0f} s: {len(latencies)} acks, p50 {p50:.2f} p99 {p99:.2f} ms; "
                f"outbox pending {self._pending()}; CPU s {used}")
        if tables:
            # Rows read by sequential scans this window, the largest three: a scan whose cost grows with
            # its table is what makes a tail drift over an hour.
            seq = sorted(((v[1] - self._tables.get(k, (0, 0))[1], k) for k, v in tables.items()), reverse=True)[:3]
            line += "; seq rows " + ", ".join(f"{k} {n}" for n, k in seq if n)
        print(line, flush=True)
        self._cpu, self._tables = cpu, tables

    def tables(self) -> None:
        """The tables at the end of the run (live and dead rows, scans, vacuums) and the busiest indexes."""
        for name, (seq_scan, seq_rows, idx_rows, live, dead, vacuums) in sorted(
                self._table_stats().items(), key=lambda kv: -kv[1][3]):
            if live or dead:
                print(f"  {name}: {live} live, {dead} dead rows; {seq_scan} seq scans ({seq_rows} rows), "
                      f"{idx_rows} rows by index; vacuumed {vacuums}x")

        if self.engine is not None:
            from sqlalchemy import text

            with self.engine.connect() as conn:
                for name, scans, read, fetched in conn.execute(text(_INDEXES), {"schema": self.schema}):
                    print(f"  index {name}: {scans} scans read {read} entries, fetched {fetched} rows")

    def close(self) -> None:
        """Release the statistics connection."""
        self.db.dispose()
