"""Composition root: build the services, the Bolt app and the ASGI app; start background work."""

from __future__ import annotations

import logging
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
from bot.outbox import OutboxSender
from bot.pacing import ChannelPacer
from bot.releases.service import ANNOUNCEMENT, ReleaseService
from bot.scheduler import DueWork
from bot.services import Services
from bot.settings import Settings
from bot.tokens import Tokens
from bot.tx import Database
from handlers import api, hooks
from storage.db import make_engine
from storage.migrate import upgrade

log = logging.getLogger(__name__)
# Used only when no real credentials are set: the local workspace signs with this.
LOCAL_SIGNING_SECRET = "local-sandbox-signing-secret"  # noqa: S105
LOCAL_BOT_TOKEN = "xoxb-local-sandbox"  # noqa: S105


def build_services(settings: Settings, clock: Clock | None = None, *, migrate: bool = True) -> Services:
    """Wire storage, the Slack gateway, the outbox and the workflows."""
    clock = clock or Clock()
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else LOCAL_BOT_TOKEN
    gateway = SlackGateway(make_client(token, settings.slack_api_url))
    pacer = ChannelPacer(settings.channel_rate, settings.channel_burst)
    outbox = OutboxSender(engine, gateway, clock, pacer=pacer)
    db = Database(engine, clock, on_commit=outbox.kick)
    directory = Directory(settings.approvers, gateway)
    tokens = Tokens(db, settings.api_token.get_secret_value() if settings.api_token else None)
    services = Services(settings=settings, policy=settings.policy, clock=clock, db=db, gateway=gateway,
                        outbox=outbox, directory=directory, tokens=tokens)
    services.releases = ReleaseService(db, settings.policy, directory.is_approver)
    outbox.renderers[ANNOUNCEMENT] = services.releases.render_announcement
    _add_incidents(services)
    _add_hooks(services)
    return services


def _add_hooks(services: Services) -> None:
    """Inbound deliveries and what they feed: checks on releases, alerts on their services."""
    from bot.checks.service import ChecksService
    from bot.hooks.checks import CheckReportProcessor
    from bot.hooks.github import GitHubProcessor
    from bot.hooks.inbox import Inbox
    from bot.monitoring.bake import Bake
    from bot.monitoring.service import MonitoringService

    services.inbox = Inbox(services.db)
    services.checks = ChecksService(services.releases, services.policy)
    services.monitoring = MonitoringService(services.releases, services.policy, services.inbox)
    services.releases.sections.append(services.monitoring.section)
    bake = Bake(services.policy)
    services.releases.gates.append(bake.gate)
    services.releases.sections.append(bake.section)
    processors = services.inbox.processors
    processors["github"] = GitHubProcessor(services.checks)
    if hasattr(services, "deployments"):  # the executors' deployment service (issue 7)
        from bot.hooks import github_deployments

        processors["github"].extra["deployment_status"] = github_deployments.processor(services, services.inbox)
    processors["checks"] = CheckReportProcessor(services.checks)
    processors["alertmanager"] = processors["grafana"] = services.monitoring.process


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
    """What a running process holds: services, apps and background work."""

    services: Services
    bolt: App
    asgi: Starlette
    due: DueWork

    def start_background(self) -> None:
        """Start the outbox sender and the scheduler."""
        self.services.outbox.start()
        self.due.start()

    def stop_background(self) -> None:
        """Stop the scheduler and the sender."""
        self.due.stop()
        self.services.outbox.stop()


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """Everything for one process, not yet started."""
    services = build_services(settings, clock)
    bolt = build_bolt(services)
    due = DueWork(settings.scheduler_tick)
    if hasattr(services, "incidents"):
        services.incidents.register_jobs(due)
    due.add("inbound", services.inbox.run_due)

    async def slack_events(request: Request) -> Response:
        from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

        body = await request.body()
        bolt_response = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    runtime_holder: list[Runtime] = []

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
            Mount("/api", routes=api.routes(services)),
            Mount("/hooks", routes=hooks.routes(services)),
        ],
        lifespan=lifespan,
    )
    runtime = Runtime(services, bolt, asgi, due)
    runtime_holder.append(runtime)
    return runtime
