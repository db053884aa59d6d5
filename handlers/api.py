"""The JSON API under /api: bearer tokens with scopes (WARROOM_API_TOKEN reads; `warroom token
create` makes scoped ones)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.errors import (
    Conflict,
    GateBlocked,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    UsageError,
    WarroomError,
)
from bot.outbox import failed_rows
from bot.releases.service import ReleaseView
from bot.services import Services
from bot.tokens import Caller, Scope
from storage.models import OutboxMessage

Endpoint = Callable[[Request], Awaitable[Response]]


def release_json(view: ReleaseView) -> dict[str, Any]:
    """A release as the API shows it."""
    r = view.release
    return {
        "version": r.version, "status": r.status, "stage": r.stage, "risk": r.risk, "type": r.type,
        "severity": r.severity, "incident_id": r.incident_id, "requested_by": r.requested_by,
        "channel_id": r.channel_id, "approvals_needed": view.needed,
        "approvals": [{"user": a.user_id, "at": a.at.isoformat()} for a in view.approvals],
        "checklist": sorted(r.checklist), "freeze_override": r.freeze_override,
        "rollback_reason": r.rollback_reason, "rolled_back_by": r.rolled_back_by,
        "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat(),
        "production_at": r.production_at.isoformat() if r.production_at else None,
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
    }


def outbox_json(row: OutboxMessage) -> dict[str, Any]:
    """An outbox row as the API shows it (its payload stays private: it may hold user text)."""
    return {
        "id": row.id, "op": row.op, "order_key": row.order_key, "attempts": row.attempts,
        "last_error": row.last_error, "failed": row.failed, "created_at": row.created_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def caller(services: Services, request: Request) -> Caller | None:
    """The API caller named by the request's bearer token (the scheme is case-insensitive)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return services.tokens.check(token.strip())


def guarded(services: Services, endpoint: Callable[[Request], Any], scope: str = Scope.READ) -> Endpoint:
    """Require a bearer token holding ``scope``, run ``endpoint`` off the event loop, map typed
    errors to 4xx. The endpoint may read ``request.state.caller``."""

    async def wrapper(request: Request) -> Response:
        who = await run_in_threadpool(caller, services, request)
        if who is None:
            return _error(401, "missing or wrong bearer token (set WARROOM_API_TOKEN, or `warroom token create`)")
        if not who.may(scope):
            return _error(403, f"this token lacks the {scope} scope")
        request.state.caller = who
        try:
            result = await run_in_threadpool(endpoint, request)
        except NotFound as exc:
            return _error(404, exc.message)
        except PermissionDenied as exc:
            return _error(403, exc.message)
        except (InvalidTransition, GateBlocked, Conflict) as exc:
            return _error(409, exc.message)
        except WarroomError as exc:
            return _error(400, exc.message)
        return result if isinstance(result, Response) else JSONResponse(result)

    return wrapper


def routes(services: Services) -> list[BaseRoute]:
    """The /api routes; other workflows append theirs through ``extra_routes``."""

    def list_releases(request: Request) -> Any:
        try:
            limit = min(max(int(request.query_params.get("limit", "50")), 1), 500)
        except ValueError as exc:
            raise UsageError("limit must be a number") from exc
        return {"releases": [release_json(v) for v in services.releases.recent(limit)]}

    def get_release(request: Request) -> Any:
        return release_json(services.releases.get(request.path_params["version"]))

    def release_audit(request: Request) -> Any:
        entries = services.releases.audit(request.path_params["version"])
        return {"audit": [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "from": e.from_state, "to": e.to_state,
             "reason": e.reason, "source": e.source, "request_id": e.request_id, "detail": e.detail}
            for e in entries]}

    def list_outbox(request: Request) -> Any:
        state = request.query_params.get("state", "failed")
        if state != "failed":
            raise UsageError("state must be 'failed' (the rows given up on)")
        try:
            limit = min(max(int(request.query_params.get("limit", "100")), 1), 1000)
        except ValueError as exc:
            raise UsageError("limit must be a number") from exc
        return {"outbox": [outbox_json(row) for row in failed_rows(services.db.engine, limit)]}

    out: list[BaseRoute] = [
        Route("/outbox", guarded(services, list_outbox), methods=["GET"]),
        Route("/releases", guarded(services, list_releases), methods=["GET"]),
        Route("/releases/{version}", guarded(services, get_release), methods=["GET"]),
        Route("/releases/{version}/audit", guarded(services, release_audit), methods=["GET"]),
    ]
    for path, endpoint in extra_routes(services):
        out.append(Route(path, guarded(services, endpoint), methods=["GET"]))
    return out


def extra_routes(services: Services) -> list[tuple[str, Callable[[Request], Any]]]:
    """Routes from other workflows (incidents) when they are present."""
    try:
        from handlers import incident_api
    except ImportError:
        return []
    return incident_api.routes(services)
