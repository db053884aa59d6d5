"""GET /metrics: Prometheus text with request latency per route, the outbox, due work and the
delivery gauges per service; WARROOM_METRICS_TOKEN protects it when set."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Stack
from tests.e2e.test_metrics_slack import REL, REQ, command, ship


def scrape(stack: Stack, token: str | None = None) -> httpx.Response:
    """GET /metrics."""
    assert stack.bot
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(stack.bot.url + "/metrics", headers=headers, timeout=10)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_expose_latency_outbox_due_work_and_delivery(stack: Stack) -> None:
    ship(stack, "v7.0.0")
    command(stack, REQ, REL, "/release", "status v7.0.0")
    stack.api("/api/releases/v7.0.0")
    stack.settle()
    resp = scrape(stack)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    got = samples(resp.text)
    events = got[("warroom_http_request_duration_seconds_count",
                  (("method", "POST"), ("route", "/slack/events"), ("status", "200")))]
    assert events >= 5  # the commands above
    assert got[("warroom_http_request_duration_seconds_count",
                (("method", "GET"), ("route", "/api/releases/{version}"), ("status", "200")))] >= 2
    assert got[("warroom_outbox_pending", ())] == 0
    assert got[("warroom_outbox_oldest_pending_age_seconds", ())] == 0
    assert got[("warroom_due_work_lateness_seconds", (("kind", "incident_status"),))] == 0
    assert got[("warroom_delivery_deployments", (("service", "default"),))] == 1
    assert got[("warroom_delivery_success_rate", (("service", "default"),))] == 1.0
    assert ("warroom_delivery_lead_time_hours_median", (("service", "default"),)) not in got  # no data


def test_metrics_token_protects_the_endpoint(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(WARROOM_METRICS_TOKEN="scrape-me")
    assert scrape(stack).status_code == 401
    assert scrape(stack, "wrong").status_code == 401
    assert scrape(stack, "scrape-me").status_code == 200
