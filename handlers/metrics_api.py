"""The delivery-metrics part of the JSON API: the report, and importing past deployments and
incidents (scope releases:write)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from bot.errors import UsageError
from bot.metrics.service import parse_window
from bot.services import Services
from bot.tokens import Scope
from bot.tx import Origin


def _json_body(request: Request) -> Any:
    """The request's JSON body (read by ``guarded``; its size is bounded by the edge limits)."""
    raw: bytes = request.state.raw
    # PostgreSQL text cannot hold NUL; refused here rather than failing in the database.
    if b"\\u0000" in raw or b"\x00" in raw:
        raise UsageError("the body holds a NUL character (\\u0000), which is not accepted")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"the body is not JSON: {exc}") from exc


def _origin(request: Request, what: str) -> Origin:
    return Origin(user=f"api:{request.state.caller.name}"[:32], source=f"api:{what}")


def routes(services: Services) -> list[tuple[str, str, str, Callable[[Request], Any]]]:
    """(method, path, scope, endpoint) for /api."""

    def metrics(request: Request) -> Any:
        """GET /api/metrics?from=&to=&service=: the report for [from, to)."""
        q = request.query_params
        unknown = set(q) - {"from", "to", "service"}
        if unknown:
            raise UsageError(f"unknown parameter(s): {', '.join(sorted(unknown))}; use from, to, service")
        window = parse_window(services.clock.now(), q.get("from"), q.get("to"), q.get("service"))
        return services.metrics.report(window)

    def import_deployment(request: Request) -> Any:
        """POST /api/deployments: one past deployment (idempotent)."""
        return services.metrics.import_deployment(_json_body(request), _origin(request, "deployments"))

    def import_incident(request: Request) -> Any:
        """POST /api/incidents/import: one past incident."""
        return services.metrics.import_incident(_json_body(request), _origin(request, "incidents/import"))

    return [
        ("GET", "/metrics", Scope.READ, metrics),
        ("POST", "/deployments", Scope.RELEASES_WRITE, import_deployment),
        ("POST", "/incidents/import", Scope.RELEASES_WRITE, import_incident),
    ]
