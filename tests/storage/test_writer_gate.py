"""Writers of two processes on one SQLite file (the web process and `warroom worker`) queue on
storage.gate's file locks, so neither ever meets a locked database.

SQLite's busy handler is switched off in both processes (busy_timeout 0): a write that found
the database locked would fail at once with "database is locked" instead of sleeping. Every
write of both processes must succeed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from sqlalchemy import event, text

from storage.db import make_engine, session_scope

WRITES = 300

SCRIPT = textwrap.dedent("""
    import sys
    from sqlalchemy import event, text
    from storage.db import make_engine, session_scope

    engine = make_engine(sys.argv[1])

    @event.listens_for(engine, "connect")
    def no_busy_wait(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    print("ready", flush=True)
    for i in range(int(sys.argv[2])):
        with session_scope(engine, background=sys.argv[3] == "background") as s:
            s.execute(text("INSERT INTO log (who, n) VALUES ('other', :n)"), {"n": i})
            s.execute(text("UPDATE counter SET n = n + 1"))
""")


def _engine(url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def no_busy_wait(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    return engine


def _run(tmp_path: Path, other_kind: str) -> tuple[int, int, list[BaseException]]:
    url = f"sqlite:///{tmp_path}/shared.db"
    engine = _engine(url)
    with session_scope(engine) as s:
        s.execute(text("CREATE TABLE log (id INTEGER PRIMARY KEY, who TEXT, n INTEGER)"))
        s.execute(text("CREATE TABLE counter (n INTEGER)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))
    root = Path(__file__).resolve().parents[2]
    other = subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(WRITES), other_kind],
                             cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert other.stdout is not None
    assert other.stdout.readline().strip() == "ready"
    errors: list[BaseException] = []

    def requests(k: int) -> None:
        try:
            for i in range(WRITES // 3):
                with session_scope(engine) as s:
                    s.execute(text("INSERT INTO log (who, n) VALUES (:who, :n)"), {"who": f"web{k}", "n": i})
                    s.execute(text("UPDATE counter SET n = n + 1"))
        except BaseException as exc:  # collected: the assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=requests, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _, stderr = other.communicate(timeout=120)
    assert other.returncode == 0, stderr[-2000:]
    with engine.connect() as conn:
        logged = conn.execute(text("SELECT count(*) FROM log")).scalar_one()
        counted = conn.execute(text("SELECT n FROM counter")).scalar_one()
    engine.dispose()
    return logged, counted, errors


def test_a_background_writer_in_another_process_never_meets_a_locked_database(tmp_path: Path) -> None:
    logged, counted, errors = _run(tmp_path, "background")
    assert errors == []
    assert logged == counted == 2 * WRITES


def test_request_writers_of_two_processes_take_turns(tmp_path: Path) -> None:
    logged, counted, errors = _run(tmp_path, "request")
    assert errors == []
    assert logged == counted == 2 * WRITES


def test_a_background_writer_is_not_starved_by_a_steady_stream_of_requests(tmp_path: Path) -> None:
    # Outbox results and deploy requests are background writes that someone waits for too: four
    # request threads that never pause must still let each one in within a bounded wait.
    engine = _engine(f"sqlite:///{tmp_path}/busy.db")
    with session_scope(engine) as s:
        s.execute(text("CREATE TABLE log (id INTEGER PRIMARY KEY, who TEXT)"))
    stop = threading.Event()
    give_up = threading.Timer(10.0, stop.set)  # without a bound, the background waits until then
    give_up.start()

    def requests() -> None:
        while not stop.is_set():
            with session_scope(engine) as s:
                s.execute(text("INSERT INTO log (who) VALUES ('request')"))

    threads = [threading.Thread(target=requests) for _ in range(4)]
    for t in threads:
        t.start()
    waits = []
    try:
        for _ in range(20):
            started = time.perf_counter()
            with session_scope(engine, background=True) as s:
                s.execute(text("INSERT INTO log (who) VALUES ('background')"))
            waits.append(time.perf_counter() - started)
        requests_during = not stop.is_set()
    finally:
        stop.set()
        give_up.cancel()
        for t in threads:
            t.join()
    with engine.connect() as conn:
        background = conn.execute(text("SELECT count(*) FROM log WHERE who = 'background'")).scalar_one()
    engine.dispose()
    assert requests_during, "the requests stopped before the background writer finished"
    assert background == 20
    assert max(waits) < 1.0, f"a background write waited {max(waits):.2f} s behind requests"
