"""`warroom sandbox`: the bot and the local Slack workspace (with its browser UI) in one process."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
import yaml
from pydantic import SecretStr

from bot.errors import ConfigError
from bot.settings import Settings
from slackbox import ci_panel
from slackbox.deploys import HOOK_PATH, DeployInbox, deploy_routes, local_policy, new_secret
from slackbox.guard import is_loopback
from slackbox.seed import APPROVERS_GROUP
from slackbox.serve import ServerHandle, serve_in_thread
from slackbox.server import create_workspace_app
from slackbox.store import SandboxStore
from slackbox.ui import ui_routes

if TYPE_CHECKING:
    from bot.app import Runtime

DEFAULT_STORE_PATH = "warroom-sandbox.db"
QUIET_LOGGERS = ("apscheduler", "alembic", "httpx", "slack_bolt.App")
LOCAL_API_TOKEN = "local"  # noqa: S105 - lets a user try the JSON API of the local bot
LOCAL_DEPLOYER_SECRET_ENV = "WARROOM_LOCAL_DEPLOYER_SECRET"  # noqa: S105 - the name, not the secret


def manifest_path() -> Path | None:
    """The app manifest (the repository's manifest.yml, else one in the working directory)."""
    for candidate in (Path(__file__).resolve().parents[1] / "manifest.yml", Path.cwd() / "manifest.yml"):
        if candidate.is_file():
            return candidate
    return None


def loopback(host: str) -> str:
    """The address to reach a server bound to `host` from this machine."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalSecrets:
    """What the bot and the workspace share: the public constants on loopback, random ones with --public."""

    signing_secret: str
    bot_token: str
    api_token: str
    public: bool = False
    # What the CI & monitoring panel signs its deliveries with (the bot verifies them as any other).
    checks_secret: str = ci_panel.LOCAL_CHECKS_SECRET
    alertmanager_token: str = ci_panel.LOCAL_ALERTMANAGER_TOKEN

    @classmethod
    def make(cls, public: bool) -> LocalSecrets:
        """Constants for a loopback-only workspace; fresh random secrets for one shared on the network."""
        from bot.app import LOCAL_BOT_TOKEN, LOCAL_SIGNING_SECRET

        if not public:
            return cls(LOCAL_SIGNING_SECRET, LOCAL_BOT_TOKEN, LOCAL_API_TOKEN)
        return cls(secrets.token_hex(32), "xoxb-" + secrets.token_urlsafe(24), secrets.token_urlsafe(24), True,
                   "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(), secrets.token_urlsafe(24))


def check_host(host: str, public: bool) -> None:
    """Refuse a non-loopback address unless --public: anyone who reaches it can act as anyone."""
    if not public and not is_loopback(host):
        raise ConfigError(f"refusing to serve the local workspace on {host or 'every interface'}: anyone who can "
                          "reach it could act as any user. Use --host 127.0.0.1, or --public to share it on the "
                          "network with freshly generated secrets.")


def sandbox_settings(settings: Settings, api_url: str, keys: LocalSecrets | None = None) -> Settings:
    """The user's settings with the bot pointed at the local workspace and local defaults filled in."""
    keys = keys or LocalSecrets.make(public=False)
    update: dict[str, Any] = {
        "slack_api_url": api_url,
        "slack_bot_token": SecretStr(keys.bot_token),
        "slack_signing_secret": SecretStr(keys.signing_secret),
        "slack_app_token": None,
    }
    if not settings.approvers:
        update["approvers"] = [APPROVERS_GROUP]
    if settings.api_token is None:
        update["api_token"] = SecretStr(keys.api_token)
    if settings.checks_webhook_secret is None:
        update["checks_webhook_secret"] = SecretStr(keys.checks_secret)
    if settings.alertmanager_token is None:
        update["alertmanager_token"] = SecretStr(keys.alertmanager_token)
    return settings.model_copy(update=update)


@dataclass
class Sandbox:
    """The bot and the workspace, built and wired, not yet (or already) served."""

    runtime: Runtime
    store: SandboxStore
    workspace_app: Any
    url: str
    bot_url: str
    handles: list[ServerHandle]
    keys: LocalSecrets
    scratch: Path | None = None  # the generated policy's folder (the built-in deployer), removed on stop

    def stop(self) -> None:
        """Stop both servers and close the workspace."""
        for handle in reversed(self.handles):
            handle.stop()
        self.handles.clear()
        self.workspace_app.state.workspace.close()
        self.runtime.services.db.engine.dispose()
        self.store.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def with_local_deployer(settings: Settings, url: str, bot_url: str,
                        store: SandboxStore) -> tuple[Settings, DeployInbox | None, Path | None]:
    """Without a team policy, the workspace itself deploys staging, canary and production (the
    "Deploys" panel, its requests kept in ``store``); with one, the team's executors are used as configured.
    Also returns the folder of the policy file it wrote, for the caller to remove when done."""
    if settings.config:
        return settings, None, None
    secret = os.environ.setdefault(LOCAL_DEPLOYER_SECRET_ENV, new_secret())
    folder = Path(tempfile.mkdtemp(prefix="warroom-local-"))
    path = folder / "policy.yml"
    path.write_text(yaml.safe_dump(local_policy(url + HOOK_PATH, LOCAL_DEPLOYER_SECRET_ENV)), encoding="utf-8")
    changed = settings.model_copy(update={"config": str(path), "public_url": bot_url})
    changed.__dict__.pop("policy", None)  # the cached policy was read from the old file
    return changed, DeployInbox(secret, store), folder


def build_sandbox(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    bot_port: int = 3001,
    store_path: str = DEFAULT_STORE_PATH,
    local_deployer: bool = False,
    public: bool = False,
) -> Sandbox:
    """Build the bot runtime and the workspace app that talk to each other (nothing served yet)."""
    from bot.app import build_runtime  # imported late: migrations log on import

    check_host(host, public)
    keys = LocalSecrets.make(public)
    local = loopback(host)
    url, bot_url = f"http://{local}:{port}", f"http://{local}:{bot_port}"
    store = SandboxStore(store_path)
    inbox, scratch = None, None
    if local_deployer:
        settings, inbox, scratch = with_local_deployer(settings, url, bot_url, store)
    try:
        runtime = build_runtime(sandbox_settings(settings, f"{url}/api/", keys))
    except BaseException:
        store.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    clock = runtime.services.clock

    def advance(seconds: float) -> dict[str, float]:
        clock.advance(seconds)
        runtime.due.run_once()  # due work runs at once, not at the next scheduler tick
        return {"offset_seconds": clock.offset_seconds}

    app = create_workspace_app(
        store,
        f"{bot_url}/slack/events",
        keys.signing_secret,
        on_clock_advance=advance,
        public=public,
        bot_token=keys.bot_token if public else None,
        manifest_path=manifest_path(),
        extra_routes=[*ui_routes(manifest_path(), clock_offset=lambda: clock.offset_seconds),
                      *ci_panel.routes(bot_url, _secret(runtime.services.settings.checks_webhook_secret),
                                       _secret(runtime.services.settings.alertmanager_token)),
                      *(deploy_routes(inbox) if inbox else [])],
    )
    app.state.workspace.base_url = url
    return Sandbox(runtime, store, app, url, bot_url, [], keys, scratch)


def start_sandbox(settings: Settings, *, host: str = "127.0.0.1", port: int = 0, bot_port: int = 0,
                  store_path: str = DEFAULT_STORE_PATH, public: bool = False, local_deployer: bool = False) -> Sandbox:
    """Build and serve both apps in background threads (port 0: a free port); for tests and embedding."""
    check_host(host, public)
    port = port or free_port(loopback(host))
    bot_port = bot_port or free_port(loopback(host))
    box = build_sandbox(settings, host=host, port=port, bot_port=bot_port, store_path=store_path, public=public,
                        local_deployer=local_deployer)
    # The workspace first: the bot's background work calls it as soon as the bot starts (the approver
    # group), and stops after the bot (whose sender finishes its call on the way out).
    try:
        handle = _serve(box.workspace_app, host, port, "workspace")
        box.handles.append(handle)
        box.workspace_app.state.stopping = lambda: handle.server.should_exit  # ends open event streams
        box.handles.append(_serve(box.runtime.asgi, host, bot_port, "bot"))
    except BaseException:
        box.stop()
        raise
    return box


def _serve(app: Any, host: str, port: int, what: str) -> ServerHandle:
    try:
        return serve_in_thread(app, host=host, port=port, timeout_graceful_shutdown=1)
    except OSError as exc:
        flag = "--port" if what == "workspace" else "--bot-port"
        raise ConfigError(f"cannot serve the {what} on {host}:{port} ({exc.strerror}); "
                          f"choose another port with {flag}") from exc


def run_sandbox(settings: Settings, *, host: str = "127.0.0.1", port: int = 3000, bot_port: int = 3001,
                store_path: str = DEFAULT_STORE_PATH, public: bool = False) -> None:
    """Serve the bot on bot_port and the workspace with its UI on port until Ctrl-C."""
    check_host(host, public)
    print("warroom: no Slack credentials are used here: running the bot with the local Slack workspace.",
          flush=True)
    print(f"warroom: open http://{loopback(host)}:{port} in your browser", flush=True)
    for noisy in QUIET_LOGGERS:  # the scheduler ticks every second; keep the console for what matters
        logging.getLogger(noisy).setLevel(logging.WARNING)
    box = build_sandbox(settings, host=host, port=port, bot_port=bot_port, store_path=store_path, public=public,
                        local_deployer=True)
    try:
        if public:
            _print_public(box, host)
        # Listening before the bot starts: its background work's first calls to the workspace (the
        # approver group) wait in the backlog until the workspace serves them, instead of failing.
        sock = _bind(host, port)
        sock.listen(128)
        box.handles.append(_serve(box.runtime.asgi, host, bot_port, "bot"))
        config = uvicorn.Config(box.workspace_app, host=host, port=port, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        box.workspace_app.state.stopping = lambda: server.should_exit  # ends open event streams
        print(f"warroom: bot on {box.bot_url} (API token: {_api_token(box)}); "
              f"workspace data in {store_path}, bot data in {settings.database_url}; Ctrl-C stops", flush=True)
        server.run(sockets=[sock])
    finally:
        box.stop()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot serve the workspace on {host}:{port} ({exc.strerror}); "
                          "choose another port with --port") from exc
    return sock


def _api_token(box: Sandbox) -> str:
    token = box.runtime.services.settings.api_token
    if token and token.get_secret_value() == box.keys.api_token:
        return box.keys.api_token  # ours to show (the constant, or the random one printed for --public)
    return "as you set it"


def _print_public(box: Sandbox, host: str) -> None:
    # Printed once to the console of the person who started it, never logged: they need these to
    # point another Slack-like client (or curl) at a workspace reachable from the network.
    print(f"warroom: --public: serving on {host}; anyone who can reach it can use the workspace UI.", flush=True)
    print(f"warroom: generated signing secret: {box.keys.signing_secret}", flush=True)
    print(f"warroom: generated bot token:      {box.keys.bot_token}", flush=True)
    print(f"warroom: API token:                {_api_token(box)}", flush=True)
