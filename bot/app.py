"""Composition root: build the services, the Bolt app and the ASGI app; start background work."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import handlers
from bot.clock import Clock
from bot.directory import Directory
from bot.gateway import SlackGateway, make_client
from bot.outbox import FAST, QUEUE, OutboxSender
from bot.pacing import Bucket, SharedPacer
from bot.releases.service import ANNOUNCEMENT, ReleaseService
from bot.scheduler import DueWork
from bot.services import Services
from bot.settings import Settings
from bot.tokens import Tokens
from bot.tx import Database
from handlers import api
from storage.db import make_engine
from storage.migrate import upgrade

log = logging.getLogger(__name__)
# Used only when no real credentials are set: the local workspace signs with this.
LOCAL_SIGNING_SECRET = "local-sandbox-signing-secret"  # noqa: S105
LOCAL_BOT_TOKEN = "xoxb-local-sandbox"  # noqa: S105


def build_services(settings: Settings, clock: Clock | None = None, *, migrate: bool = True) -> Services:
    """Wire storage, the Slack gateway, the outbox and the workflows."""
    clock = clock or Clock()
    engine = make_engine(settings.database_url, timeout=settings.db_timeout)
    if migrate:
        upgrade(engine)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else LOCAL_BOT_TOKEN
    # No retries inside the SDK: the sender schedules each retry itself, per row. No group
    # cache in the gateway: bot.directory keeps one, refreshed in the background.
    gateway = SlackGateway(make_client(token, settings.slack_api_url, max_retries=0), group_cache_seconds=0)
    pacer = SharedPacer(Bucket(settings.channel_rate, settings.channel_burst),
                        Bucket(settings.workspace_rate, settings.workspace_burst))
    outbox = OutboxSender(engine, gateway, clock, pacer=pacer, give_up=settings.outbox_give_up)
    db = Database(engine, clock, on_commit=outbox.kick)
    directory = Directory(settings.approvers, gateway)
    tokens = Tokens(db, settings.api_token.get_secret_value() if settings.api_token else None)
    services = Services(settings=settings, policy=settings.policy, clock=clock, db=db, gateway=gateway,
                        outbox=outbox, directory=directory, tokens=tokens)
    services.releases = ReleaseService(db, settings.policy, directory.is_approver)
    outbox.renderers[ANNOUNCEMENT] = services.releases.render_announcement
    _add_incidents(services)
    return services


def _add_incidents(services: Services) -> None:
    try:
        from bot.incidents.service import IncidentService
    except ImportError:  # the incident workflow is optional while it is being built
        return
    services.incidents = IncidentService(services)


class _NoTokenSkippedWarning(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN is ignored when ``authorize`` is given; here that is the design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage()


def build_bolt(services: Services) -> App:
    """The Bolt app: verifies signatures, acks from the listener (no 10 ms ack polling)."""
    settings = services.settings
    secret = (settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret
              else LOCAL_SIGNING_SECRET)
    token = services.gateway.client.token or LOCAL_BOT_TOKEN

    def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        # One workspace, one token: no auth.test call in the first request's ack path.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token)

    logging.getLogger("slack_bolt.App").addFilter(_NoTokenSkippedWarning())
    app = App(
        signing_secret=secret,
        client=services.gateway.client,
        authorize=authorize,
        # Our listeners only touch the database; Slack calls go through the outbox, so the
        # response can wait for the listener and skip Bolt's ack polling.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    handlers.register(app, services)
    return app


@dataclass
class Runtime:
    """What a running process holds: services, apps and background work.

    ``worker``: this process delivers the queue and runs due work. Without it (a web process
    beside a `warroom worker`) it still delivers the fast lane (forms, ephemeral replies),
    which a user is waiting for, and keeps the approver-group cache fresh.
    """

    services: Services
    bolt: App
    asgi: Starlette
    due: DueWork
    worker: bool = True
    draining: bool = False

    def start_background(self) -> None:
        """Start the outbox sender, the scheduler and the directory refresh."""
        self.services.outbox.lanes = (QUEUE, FAST) if self.worker else (FAST,)
        self.services.outbox.start()
        self.services.directory.start()
        if self.worker:
            self.due.start()

    def stop_background(self) -> None:
        """Stop the scheduler and the sender (finishing the call in flight, releasing claims)."""
        self.draining = True
        self.due.stop()
        self.services.directory.stop()
        self.services.outbox.stop()


def build_runtime(settings: Settings, clock: Clock | None = None, *, worker: bool = True) -> Runtime:
    """Everything for one process, not yet started."""
    services = build_services(settings, clock)
    bolt = build_bolt(services)
    due = DueWork(settings.scheduler_tick)
    if hasattr(services, "incidents"):
        services.incidents.register_jobs(due)
    runtime_holder: list[Runtime] = []

    async def slack_events(request: Request) -> Response:
        from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

        body = await request.body()
        bolt_response = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(_: Request) -> Response:
        if runtime_holder[0].draining:
            return JSONResponse({"ready": False, "reason": "shutting down"}, status_code=503)
        problem = await run_in_threadpool(services.db.ping)
        if problem:
            return JSONResponse({"ready": False, "reason": problem}, status_code=503)
        return JSONResponse({"ready": True})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        runtime_holder[0].start_background()
        try:
            yield
        finally:
            runtime_holder[0].stop_background()

    asgi = Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Mount("/api", routes=api.routes(services)),
        ],
        lifespan=lifespan,
    )
    runtime = Runtime(services, bolt, asgi, due, worker=worker)
    runtime_holder.append(runtime)
    return runtime


def run_worker(settings: Settings, stop: threading.Event, clock: Clock | None = None) -> None:
    """Deliver the outbox and run due work until ``stop`` is set, then drain (`warroom worker`)."""
    services = build_services(settings, clock)
    due = DueWork(settings.scheduler_tick)
    if hasattr(services, "incidents"):
        services.incidents.register_jobs(due)
    services.outbox.start()
    due.start()
    log.info("warroom worker %s running", services.outbox.worker_id)
    stop.wait()
    log.info("warroom worker draining")
    due.stop()
    services.outbox.stop(timeout=6.0)
    services.db.engine.dispose()
