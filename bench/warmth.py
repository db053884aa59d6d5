"""CPU time of one `/release start` and one Approve through the real services, called back to back
and called at the pace of the ack benchmark (one every 20 ms, 50 req/s), in one process.

Why: at 50 req/s the bot's own work per request costs several times its back-to-back figure on a
machine whose caches are shared with other work between requests. This separates the code's cost
from the machine's, before anyone tunes the ack path by the latency figures alone.

    .venv/bin/python bench/warmth.py [--db sqlite|URL] [--calls 300]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ack_latency import drop_schema, pg_schema  # noqa: E402

from bot.app import build_services  # noqa: E402
from bot.releases.requests import StartRelease  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.tx import Origin  # noqa: E402


def cpu_ms(calls: int, pause: float, call: Callable[[int], object]) -> float:
    """Median CPU milliseconds of ``call(i)``, sleeping ``pause`` seconds before each call."""
    spent = []
    for i in range(calls):
        if pause:
            time.sleep(pause)
        started = time.thread_time()
        call(i)
        spent.append((time.thread_time() - started) * 1000)
    return statistics.median(spent[calls // 10:])  # the first tenth warms statement caches


def main() -> int:
    """Print the four medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="warroom-bench-")
    db, schema = ((f"sqlite:///{tmp}/warmth.db", None) if args.db == "sqlite" else pg_schema(args.db))
    try:
        services = build_services(load_settings(DATABASE_URL=db, WARROOM_APPROVERS="U0APPROVE1",
                                                WARROOM_FREEZE_DAYS=""))
        run = uuid.uuid4().hex[:6]
        print(f"CPU ms per call, median of {args.calls} ({args.db}):")
        for label, pause in (("back to back", 0.0), ("one per 20 ms", 0.02)):
            def start(i: int, tag: str = f"{run}{pause}") -> object:
                return services.releases.start(StartRelease.build(version=f"v{i}.0.0-{tag}", channel_id=f"C{i}",
                                                                  risk="low"), Origin("U0REQUEST", "bench", None))

            def approve(i: int, tag: str = f"{run}{pause}") -> object:
                return services.releases.approve(f"v{i}.0.0-{tag}", Origin("U0APPROVE1", "bench", None))
            print(f"  {label:14} /release start {cpu_ms(args.calls, pause, start):6.2f}   "
                  f"Approve {cpu_ms(args.calls, pause, approve):6.2f}")
    finally:
        if schema:
            drop_schema(args.db, schema)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
