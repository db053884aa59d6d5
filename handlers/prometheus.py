"""Prometheus: ``GET /metrics`` (a plain route; WARROOM_METRICS_TOKEN protects it when set) and
the request-latency middleware that feeds it.

Exposed: request latency per route, outbox backlog and the age of its oldest pending row,
due-work lateness, and the delivery gauges (last 30 days) per service.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.metrics.definitions import FIELDS
from bot.metrics.service import Window
from bot.services import Services
from storage.models import Deployment, Incident, OutboxMessage, ScheduledPost, table_of

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DELIVERY_WINDOW = timedelta(days=30)


class LatencyMiddleware:
    """Times every HTTP request into a histogram labelled by route template (not raw path, so
    versions and ids do not explode the label set), method and status."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None)
            label = f"{scope.get('root_path', '')}{path}" if path is not None else "unmatched"
            self.histogram.labels(label, scope.get("method", ""), str(status[0])).observe(
                time.perf_counter() - started)


class _StateCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterable[GaugeMetricFamily]:
        s = self.services
        now = s.clock.now()
        out = table_of(OutboxMessage)
        with s.db.engine.connect() as conn:
            pending = conn.execute(select(func.count(), func.min(out.c.created_at)).where(
                out.c.sent_at.is_(None), out.c.failed == False)).one()  # noqa: E712
            failed = conn.execute(select(func.count()).where(out.c.failed == True)).scalar_one()  # noqa: E712
            lateness = self._lateness(conn, now)
            dep = table_of(Deployment)
            services = sorted(conn.execute(select(dep.c.service).distinct().where(
                dep.c.environment == s.policy.final_stage, dep.c.finished_at >= now - DELIVERY_WINDOW)).scalars())
        yield GaugeMetricFamily("warroom_outbox_pending", "Outbox rows waiting to be sent", value=pending[0])
        yield GaugeMetricFamily("warroom_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row",
                                value=(now - pending[1]).total_seconds() if pending[1] else 0.0)
        yield GaugeMetricFamily("warroom_outbox_failed", "Outbox rows given up on", value=failed)
        late = GaugeMetricFamily("warroom_due_work_lateness_seconds",
                                 "How far past its due time the most overdue item of each kind is (0: none)",
                                 labels=["kind"])
        for kind, seconds in lateness.items():
            late.add_metric([kind], seconds)
        yield late
        families = {name: GaugeMetricFamily(f"warroom_delivery_{name}", f"{name} over the last 30 days",
                                            labels=["service"]) for name in FIELDS}
        for service in services:
            report = s.metrics.report(Window(now - DELIVERY_WINDOW, now, service), weekly=False)
            for name in FIELDS:
                if report[name] is not None:
                    families[name].add_metric([service], float(report[name]))
        yield from families.values()

    @staticmethod
    def _lateness(conn: Any, now: Any) -> dict[str, float]:
        inc = table_of(Incident)
        sched = table_of(ScheduledPost)
        due = {"incident_status": inc.c.next_status_at, "incident_response": inc.c.response_reminder_at,
               "postmortem_reminder": inc.c.postmortem_reminder_at}
        out = {}
        for kind, column in due.items():
            oldest = conn.execute(select(func.min(column)).where(column <= now)).scalar()
            out[kind] = (now - oldest).total_seconds() if oldest else 0.0
        oldest = conn.execute(select(func.min(sched.c.next_due_at)).where(sched.c.next_due_at <= now)).scalar()
        out["scheduled_post"] = (now - oldest).total_seconds() if oldest else 0.0
        return out


class Prometheus:
    """One registry per process (tests build several apps in one interpreter)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.registry = CollectorRegistry()
        self.latency = Histogram("warroom_http_request_duration_seconds", "HTTP request latency by route",
                                 ["route", "method", "status"], buckets=BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(services))

    async def endpoint(self, request: Request) -> Response:
        """GET /metrics in Prometheus' text format."""
        token = self.services.settings.metrics_token
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                     token.get_secret_value().encode()):
                return JSONResponse({"error": "missing or wrong bearer token (WARROOM_METRICS_TOKEN)"},
                                    status_code=401)
        body = await run_in_threadpool(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
