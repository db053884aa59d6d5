"""Composition root: build the services, the Bolt app and the ASGI app; start background work."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

import handlers
from bot.checks.service import ChecksService
from bot.clock import Clock
from bot.database import Database
from bot.deployments.service import DeploymentService
from bot.directory import Directory
from bot.edge import EdgeLimits, Limit
from bot.executors.config import resolve_executors
from bot.executors.deliver import ExecutorClient
from bot.gateway import SlackGateway, make_client
from bot.home import HOME, HomeService
from bot.hooks import github_deployments, github_runs
from bot.hooks.checks import CheckReportProcessor
from bot.hooks.github import GitHubProcessor
from bot.hooks.inbox import Inbox
from bot.incidents import render as incident_render
from bot.incidents import room
from bot.incidents import view as incident_view
from bot.incidents.service import IncidentService
from bot.metrics.digest import DigestJob
from bot.metrics.service import METRICS_REPORT, MetricsService
from bot.monitoring.bake import Bake
from bot.monitoring.service import MonitoringService
from bot.ops import REMOTE_OPS, Op
from bot.outbox import FAST, QUEUE, OutboxSender
from bot.pacing import Bucket, SharedPacer
from bot.policy import Policy
from bot.releases import render as release_render
from bot.releases import task_render
from bot.releases.render import Section
from bot.releases.service import ReleaseService
from bot.releases.tasks import TaskService
from bot.releases.view import ANNOUNCEMENT
from bot.scheduler import DueWork
from bot.services import Services
from bot.settings import Settings
from bot.tokens import Tokens
from bot.vault import Vault
from bot.wake import WakeSender, listen, wake_dir
from handlers import api, deploy_hooks, hooks, matching, slack_events
from handlers.prometheus import LatencyMiddleware, Prometheus
from storage.db import is_postgres, make_engine
from storage.migrate import upgrade
from storage.upkeep import vacuum_due

log = logging.getLogger(__name__)
# Used only when no real credentials are set: the local workspace signs with this.
LOCAL_SIGNING_SECRET = "local-sandbox-signing-secret"  # noqa: S105
LOCAL_BOT_TOKEN = "xoxb-local-sandbox"  # noqa: S105


def build_services(settings: Settings, clock: Clock | None = None, *, migrate: bool = True,
                   wake_workers: bool = True) -> Services:
    """Wire storage, the Slack gateway, the outbox and the workflows, and connect their hooks."""
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
    # A worker's own commits kick its own sender (outbox.kick): it wakes no socket, its own included.
    directory_of_workers = wake_dir(settings.database_url) if wake_workers else None
    wake = WakeSender(directory_of_workers) if directory_of_workers else None

    def committed(fast: bool, ops: frozenset[str]) -> None:
        outbox.kick(fast)
        # A `warroom worker` beside this process is woken for requests to executors and GitHub
        # only: the next step of a deploy waits on them. Slack traffic waits for its poll, which
        # gathers a quarter second of it into one pass (a wake per commit measured ~1 ms slower
        # acks on PostgreSQL at 50/s: the worker's passes then overlap the requests).
        if wake is not None and not ops.isdisjoint(REMOTE_OPS):
            wake.send(fast)

    db = Database(engine, clock, on_commit=committed)
    directory = Directory(settings.approvers, gateway)
    tokens = Tokens(db, settings.api_token.get_secret_value() if settings.api_token else None)
    policy = settings.policy
    releases = ReleaseService(db, policy, directory.is_approver)
    incidents = IncidentService(db, policy, releases, settings.templates)
    releases.listeners.append(incidents.on_release_event)
    register_renderers(outbox, policy, clock, releases.sections)
    deployments = DeploymentService(db, releases)
    executors = ExecutorClient(resolve_executors(policy), settings.github_api_url, settings.public_url)
    # The outbox delivers executor requests; the deployment service hears what they answered.
    executors.wanted, executors.on_accepted, executors.on_refused = (deployments.wanted, deployments.accepted,
                                                                     deployments.refused)
    outbox.targets[Op.WEBHOOK] = executors.webhook
    outbox.targets[Op.GITHUB] = executors.github
    tasks = TaskService(db, policy, directory.is_member, releases.announce)
    inbox = Inbox(db)
    checks = ChecksService(releases, policy)
    monitoring = MonitoringService(releases, policy, inbox)
    _connect_evidence(releases, inbox, checks, monitoring, deployments, policy)
    metrics = MetricsService(db, policy)
    home = HomeService(db, policy, metrics)
    # Every Home that was opened is refreshed when a release changes (incidents: periodically).
    releases.listeners.append(home.changed)
    outbox.register_renderer(METRICS_REPORT, metrics.render_chart, after_sent=home.chart_sent)
    outbox.register_renderer(HOME, home.render)
    return Services(settings=settings, policy=policy, clock=clock, db=db, gateway=gateway, outbox=outbox,
                    directory=directory, tokens=tokens, releases=releases, incidents=incidents,
                    deployments=deployments, executors=executors, tasks=tasks, inbox=inbox, checks=checks,
                    monitoring=monitoring, metrics=metrics, home=home)


def _connect_evidence(releases: ReleaseService, inbox: Inbox, checks: ChecksService, monitoring: MonitoringService,
                      deployments: DeploymentService, policy: Policy) -> None:
    """Inbound deliveries and what they feed: checks on releases, alerts on their services, bake time,
    and GitHub's deployment statuses and workflow runs for the executors."""
    releases.listeners.append(checks.on_release)
    releases.gates.append(checks.gate)
    releases.sections.append(checks.section)
    releases.sections.append(monitoring.section)
    bake = Bake(policy)
    releases.gates.append(bake.gate)
    releases.sections.append(bake.section)
    github = GitHubProcessor(checks)
    github.extra["deployment_status"] = github_deployments.processor(deployments, inbox)
    github.extra["workflow_run"] = github_runs.processor(deployments, inbox)
    inbox.processors["github"] = github
    inbox.processors["checks"] = CheckReportProcessor(checks)
    inbox.processors["alertmanager"] = inbox.processors["grafana"] = monitoring.process


def register_renderers(outbox: OutboxSender, policy: Policy, clock: Clock, sections: Sequence[Section] = ()) -> None:
    """The messages that mirror state, rendered when sent so they are current (see bot.outbox)."""
    outbox.register_renderer(ANNOUNCEMENT, lambda s, args: release_render.announcement_call(s, args, policy,
                                                                                            clock.now(), sections))
    outbox.register_renderer(task_render.MESSAGE, lambda s, args: task_render.message_call(s, args, policy))
    outbox.register_renderer(incident_view.SUMMARY,
                             lambda s, args: incident_render.summary_call(s, args, policy, clock.now()))
    outbox.register_renderer(incident_view.ANNOUNCEMENT,
                             lambda s, args: incident_render.announcement_call(s, args, policy))
    outbox.register_renderer(incident_view.CHANNEL, incident_render.channel_call,
                             after_sent=lambda s, args, result: room.channel_created(s, args, result, clock.now()))


INBOX_POLL_SECONDS = 0.1
UPKEEP_SECONDS = 20.0  # how often the worker looks for tables to vacuum (storage.upkeep): a busy outbox
# leaves about 100 dead rows a second, so the claim walks a few thousand at most between vacuums


def register_jobs(due: DueWork, services: Services) -> None:
    """The due work every process runs (each job claims rows, so replicas share it)."""
    due.add("incident-due", services.incidents.run_due)
    due.add("deployment-timeouts", services.deployments.expire_due)
    # Inbound deliveries arrive steadily (hundreds a second from a busy GitHub App): applied in
    # small runs every 100 ms, not one burst a tick that takes the CPU from the acks.
    due.add("inbound", services.inbox.run_due, every=INBOX_POLL_SECONDS)
    due.add("home-refresh", services.home.refresh_due)
    settings, policy = services.settings, services.policy
    if settings.db_vacuum_dead_rows and is_postgres(services.db.engine):
        due.add("db-upkeep", partial(vacuum_due, services.db.engine, settings.db_vacuum_dead_rows),
                every=UPKEEP_SECONDS)
    if settings.vault_dir:
        due.add("vault", Vault(services.db, settings.vault_dir).sync_due)
    if policy.digest is not None:
        digest = DigestJob(services.db, services.metrics, policy.digest, policy.timezone,
                           services.gateway.find_channel)
        due.add("metrics-digest", digest.run_due)


class _NoTokenSkippedWarning(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN is ignored when ``authorize`` is given; here that is the design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage()


def signing_secret(settings: Settings) -> str:
    """The secret Slack signs requests with (the local workspace's constant without credentials)."""
    return settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else LOCAL_SIGNING_SECRET


def build_bolt(services: Services) -> App:
    """The Bolt app: acks from the listener (no 10 ms ack polling). Signatures are verified before it,
    on the raw bytes, by the /slack/events route (handlers/slack_events.py); Socket Mode needs none."""
    token = services.gateway.client.token or LOCAL_BOT_TOKEN

    def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        # One workspace, one token: no auth.test call in the first request's ack path.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token)

    logging.getLogger("slack_bolt.App").addFilter(_NoTokenSkippedWarning())
    app = App(
        signing_secret=signing_secret(services.settings),
        request_verification_enabled=False,
        client=services.gateway.client,
        authorize=authorize,
        # Our listeners only touch the database; Slack calls go through the outbox, so the
        # response can wait for the listener and skip Bolt's ack polling.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    handlers.register(app, services)
    matching.direct(app)
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


def settle_heap() -> None:
    """Freeze what start-up built (modules, policy, templates, the ORM's mappers) out of the cyclic
    collector's sight; a server process calls it once, just before it serves."""
    # A full collection walks every tracked object: with start-up's few hundred thousand in the
    # heap, that pause lands in whichever request is running. Frozen objects are never walked.
    gc.collect()
    gc.freeze()


def edge_limits(settings: Settings) -> list[Limit]:
    """Body and rate limits by path prefix (the longest prefix wins). A route that needs other
    limits adds its own entry here, e.g. ``Limit("/hooks/big", max_body=20_000_000, rate=..., burst=...)``."""
    return [
        Limit("/", max_body=settings.max_body),  # /healthz, /metrics and anything added later
        Limit("/slack", max_body=settings.max_body),  # Slack's own traffic: never rate limited here
        Limit("/api", max_body=settings.max_body, rate=settings.api_rate, burst=settings.api_burst),
        Limit("/hooks", max_body=settings.hooks_max_body, rate=settings.hooks_rate, burst=settings.hooks_burst),
    ]


def build_runtime(settings: Settings, clock: Clock | None = None, *, worker: bool = True) -> Runtime:
    """Everything for one process, not yet started."""
    services = build_services(settings, clock)
    bolt = build_bolt(services)
    due = DueWork(settings.scheduler_tick)
    register_jobs(due, services)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(_: Request) -> Response:
        if asgi.state.runtime.draining:
            return JSONResponse({"ready": False, "reason": "shutting down"}, status_code=503)
        problem = await run_in_threadpool(services.db.ping)
        if problem:
            return JSONResponse({"ready": False, "reason": problem}, status_code=503)
        return JSONResponse({"ready": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime: Runtime = app.state.runtime
        runtime.start_background()
        try:
            yield
        finally:
            runtime.stop_background()

    prom = Prometheus(services)
    asgi = Starlette(
        routes=[
            Route("/slack/events", slack_events.endpoint(bolt, signing_secret(settings)), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", prom.endpoint, methods=["GET"]),
            Mount("/api", routes=api.routes(services)),
            Mount("/hooks", routes=[*hooks.routes(services), *deploy_hooks.routes(services)]),
        ],
        # Latency is timed outside the edge limits, so a refused request (413, 429) is counted too.
        middleware=[Middleware(LatencyMiddleware, histogram=prom.latency),
                    Middleware(EdgeLimits, limits=edge_limits(settings))],
        lifespan=lifespan,
    )
    runtime = Runtime(services, bolt, asgi, due, worker=worker)
    asgi.state.runtime = runtime
    return runtime


def run_worker(settings: Settings, stop: threading.Event, clock: Clock | None = None,
               ready: Callable[[], None] | None = None) -> None:
    """Deliver the outbox and run due work until ``stop`` is set, then drain (`warroom worker`);
    ``ready`` is called once it is running."""
    services = build_services(settings, clock, wake_workers=False)
    due = DueWork(settings.scheduler_tick)
    register_jobs(due, services)
    services.outbox.start()
    # Web processes of this host wake it when they commit a request to an executor or GitHub.
    listener = listen(settings.database_url, services.outbox.kick)
    due.start()
    settle_heap()
    log.info("warroom worker %s running", services.outbox.worker_id)
    if ready is not None:
        ready()
    stop.wait()
    log.info("warroom worker draining")
    if listener is not None:
        listener.stop()
    due.stop()
    services.outbox.stop(timeout=6.0)
    services.db.engine.dispose()
