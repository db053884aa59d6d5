"""The `warroom` command: serve, sandbox, run (picks one), db upgrade, token."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from bot.errors import ConfigError, UsageError, WarroomError
from bot.settings import Settings, load_settings


class _Terminated(BaseException):
    """SIGTERM arrived: unwinds the stack so that ``finally`` blocks run on the way out."""


def _on_sigterm(*_: object) -> None:
    # uvicorn drains on SIGTERM, puts this handler back and raises the signal again "to trigger the
    # expected behaviour": with the default handler the process would die right there, before the
    # `finally` that stops `warroom run`'s worker (left running, orphaned) or the sandbox's bot.
    raise _Terminated


def _die_by_sigterm() -> None:
    # After the cleanup, end as the signal would have: a supervisor reads the status (-SIGTERM).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _serve(settings: Settings, host: str, port: int, *, with_worker: bool) -> None:
    import uvicorn

    from bot.app import build_runtime, settle_heap

    if not settings.has_slack_credentials:
        raise ConfigError("SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are needed to serve a real workspace; "
                          "`warroom sandbox` runs the local one instead.")
    runtime = build_runtime(settings, worker=with_worker)
    if settings.slack_app_token:
        from bot.server import start_socket_mode

        start_socket_mode(runtime, settings.slack_app_token.get_secret_value())
    settle_heap()
    # SIGTERM: stop accepting, finish requests in flight, then the lifespan drains the sender.
    uvicorn.run(runtime.asgi, host=host, port=port, log_level="info", timeout_graceful_shutdown=3)


def _worker(settings: Settings, parent: int | None = None) -> None:
    from bot.app import run_worker

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if parent is not None:
        threading.Thread(target=_stop_when_orphaned, args=(parent, stop), name="warroom-parent", daemon=True).start()
    run_worker(settings, stop)


def _stop_when_orphaned(parent: int, stop: threading.Event) -> None:
    """Drain and stop once ``parent`` (the `warroom run` that started this worker) is gone: killed
    with SIGKILL it cannot stop us, and each restart of it would add one more worker."""
    while not stop.wait(1.0):
        if os.getppid() != parent:  # re-parented: the parent died
            stop.set()


def _serve_with_worker_process(settings: Settings, host: str, port: int) -> None:
    """`warroom run`: the worker in its own process, so the web process's GIL serves requests
    only (on SQLite the two processes' writers queue on storage.gate's file locks). An
    in-memory SQLite database cannot be shared, so there one process does both."""
    import subprocess

    if settings.database_url.startswith("sqlite") and ":memory:" in settings.database_url \
            or settings.database_url in ("sqlite://", "sqlite:///"):
        _serve(settings, host, port, with_worker=True)
        return
    worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--parent", str(os.getpid())])  # noqa: S603
    try:
        _serve(settings, host, port, with_worker=False)
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()


def _outbox(settings: Settings, args: argparse.Namespace) -> None:
    from bot.clock import Clock
    from bot.outbox_admin import failed_rows, retry_failed
    from storage.db import make_engine

    engine = make_engine(settings.database_url)
    if args.action == "list":
        rows = failed_rows(engine, args.limit)
        for row in rows:
            print(f"{row.id}\t{row.op}\t{row.order_key or '-'}\t{row.attempts} tries\t"
                  f"created {row.created_at:%Y-%m-%d %H:%M:%S}\t{row.last_error or ''}")
        print(f"{len(rows)} failed row(s)")
        return
    if not args.all and not args.ids:
        raise UsageError("name the rows to retry (`warroom outbox retry 12 13`) or pass --all")
    n = retry_failed(engine, Clock().now(), None if args.all else args.ids)
    print(f"{n} row(s) queued again")


def _sandbox(settings: Settings, host: str, port: int, bot_port: int, public: bool = False) -> None:
    from slackbox.launch import run_sandbox

    run_sandbox(settings, host=host, port=port, bot_port=bot_port, public=public)


def _db_upgrade(settings: Settings) -> None:
    from storage.db import make_engine
    from storage.migrate import upgrade

    upgrade(make_engine(settings.database_url))
    print("database is up to date")


def _token(settings: Settings, args: argparse.Namespace) -> None:
    from bot.app import build_services

    tokens = build_services(settings).tokens
    if args.action == "create":
        secret = tokens.create(args.name, args.scope or ["read"])
        print(f"token {args.name!r} created; it is shown once, keep it now:")
        print(secret)  # the last line of the output, for scripts
    elif args.action == "revoke":
        tokens.revoke(args.name)
        print(f"token {args.name!r} revoked")
    else:
        for row in tokens.list():
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            print(f"{row.name}\t{','.join(row.scopes)}\t{state}\tcreated {row.created_at:%Y-%m-%d}")


PUBLIC_HELP = ("let the local workspace bind a non-loopback --host; random secrets are generated and "
               "printed instead of the public local ones")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `warroom` console script."""
    parser = argparse.ArgumentParser(prog="warroom", description="Release and incident coordination in Slack.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the bot for a real Slack workspace (HTTP or Socket Mode)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--with-worker", action="store_true",
                       help="also deliver the outbox and run due work in this process (one-process installs)")
    worker = sub.add_parser("worker", help="deliver the outbox and run due work (beside `warroom serve`)")
    worker.add_argument("--parent", type=int, default=None, help=argparse.SUPPRESS)  # set by `warroom run`
    outbox = sub.add_parser("outbox", help="outbox rows given up on: list --failed, retry ID... | --all")
    outbox.add_argument("action", choices=["list", "retry"])
    outbox.add_argument("ids", nargs="*", type=int)
    outbox.add_argument("--failed", action="store_true", help="list the failed rows (the only list there is)")
    outbox.add_argument("--all", action="store_true", help="retry every failed row")
    outbox.add_argument("--limit", type=int, default=100)
    box = sub.add_parser("sandbox", help="run the bot with the local workspace in your browser")
    box.add_argument("--host", default="127.0.0.1")
    box.add_argument("--port", type=int, default=3000, help="the local workspace's port")
    box.add_argument("--bot-port", type=int, default=3001, help="the bot's own HTTP port")
    box.add_argument("--public", action="store_true", help=PUBLIC_HELP)
    run = sub.add_parser("run", help="serve when Slack credentials are set, else the sandbox")
    run.add_argument("--host", default=None)
    run.add_argument("--port", type=int, default=None)
    run.add_argument("--bot-port", type=int, default=3001, help="the bot's own port when the sandbox runs")
    run.add_argument("--public", action="store_true", help=PUBLIC_HELP)
    db = sub.add_parser("db", help="database tasks")
    db.add_argument("task", choices=["upgrade"])
    token = sub.add_parser("token", help="API tokens: create NAME --scope S..., list, revoke NAME")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("name", nargs="?", default="")
    token.add_argument("--scope", action="append", help="read, releases:write, checks:write (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The scheduler logs each run of its one-second job at INFO: two lines a second, all day.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Put back on return: a caller in the same process (a test) keeps its own handling.
    previous = signal.signal(signal.SIGTERM, _on_sigterm)  # `worker` sets its own
    try:
        settings = load_settings()
        if args.cmd == "serve":
            sqlite = not settings.database_url.startswith(("postgres://", "postgresql"))
            _serve(settings, args.host, args.port, with_worker=args.with_worker or sqlite)
        elif args.cmd == "worker":
            _worker(settings, args.parent)
        elif args.cmd == "outbox":
            _outbox(settings, args)
        elif args.cmd == "sandbox":
            _sandbox(settings, args.host, args.port, args.bot_port, args.public)
        elif args.cmd == "run":
            if settings.has_slack_credentials:
                print("warroom: Slack credentials found; serving your workspace.", flush=True)
                _serve_with_worker_process(settings, args.host or "0.0.0.0", args.port or 8000)
            else:  # run_sandbox says so in its first lines, with the URL to open
                _sandbox(settings, args.host or "127.0.0.1", args.port or 3000, args.bot_port, args.public)
        elif args.cmd == "token":
            _token(settings, args)
        else:
            _db_upgrade(settings)
    except _Terminated:
        _die_by_sigterm()
        return 128 + signal.SIGTERM  # (not reached: the signal ends the process)
    except ConfigError as exc:
        print(f"warroom: configuration error: {exc.message}", file=sys.stderr)
        return 2
    except WarroomError as exc:
        print(f"warroom: {exc.message}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
