"""The `warroom` command: serve, sandbox, run (picks one), db upgrade, token."""

from __future__ import annotations

import argparse
import logging
import sys

from bot.errors import ConfigError, WarroomError
from bot.settings import Settings, load_settings


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from bot.app import build_runtime

    if not settings.has_slack_credentials:
        raise ConfigError("SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are needed to serve a real workspace; "
                          "`warroom sandbox` runs the local one instead.")
    runtime = build_runtime(settings)
    if settings.slack_app_token:
        from bot.server import start_socket_mode

        start_socket_mode(runtime, settings.slack_app_token.get_secret_value())
    uvicorn.run(runtime.asgi, host=host, port=port, log_level="info")


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
    try:
        settings = load_settings()
        if args.cmd == "serve":
            _serve(settings, args.host, args.port)
        elif args.cmd == "sandbox":
            _sandbox(settings, args.host, args.port, args.bot_port, args.public)
        elif args.cmd == "run":
            if settings.has_slack_credentials:
                print("warroom: Slack credentials found; serving your workspace.", flush=True)
                _serve(settings, args.host or "0.0.0.0", args.port or 8000)
            else:  # run_sandbox says so in its first lines, with the URL to open
                _sandbox(settings, args.host or "127.0.0.1", args.port or 3000, args.bot_port, args.public)
        elif args.cmd == "token":
            _token(settings, args)
        else:
            _db_upgrade(settings)
    except ConfigError as exc:
        print(f"warroom: configuration error: {exc.message}", file=sys.stderr)
        return 2
    except WarroomError as exc:
        print(f"warroom: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
