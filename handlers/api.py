"""The JSON API under /api: bearer tokens with scopes (WARROOM_API_TOKEN reads; `warroom token
create` makes scoped ones)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
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
from bot.ids import query_limit
from bot.outbox_admin import failed_rows
from bot.releases.view import ReleaseView
from bot.services import Services
from bot.tokens import Caller, Scope
from bot.tx import Duplicate, Origin
from handlers import incident_api, metrics_api, openapi, write_api
from storage.models import Deployment, OutboxMessage

Endpoint = Callable[[Request], Awaitable[Response]]


def _iso(at: Any) -> str | None:
    return at.isoformat() if at else None


def deployment_json(d: Deployment) -> dict[str, Any]:
    """A deployment as the API shows it."""
    seconds = (d.finished_at - d.started_at).total_seconds() if d.finished_at and d.started_at else None
    return {
        "id": d.id, "release_id": d.release_id, "version": d.version, "service": d.service, "stage": d.environment,
        "kind": d.kind, "rolls_back": d.rolls_back, "executor": d.executor, "state": d.state, "result": d.result,
        "automatic": d.automatic, "url": d.url, "description": d.description, "requested_by": d.requested_by,
        "external_id": d.external_id, "requested_at": _iso(d.requested_at), "started_at": _iso(d.started_at),
        "finished_at": _iso(d.finished_at), "due_at": _iso(d.due_at), "seconds": seconds,
    }


def release_json(view: ReleaseView) -> dict[str, Any]:
    """A release as the API shows it."""
    r = view.release
    return {
        "ref": r.ref, "sha": r.sha, "repo": r.repo, "service": r.service,
        "deployments": [deployment_json(d) for d in view.deployments],
        "tasks": [{"id": t.id, "phase": t.phase, "name": t.name, "owner": t.owner, "requirements": t.requirements,
                   "ticked": t.ticked, "state": t.state, "by": t.by, "note": t.note, "updated_at": _iso(t.updated_at)}
                  for t in view.tasks],
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


def _rollback_reason(raw: bytes) -> str:
    """The reason of a rollback request's body, or UsageError saying what is wrong with it."""
    try:
        body = openapi.RollbackBody.model_validate(json.loads(raw or b"null"))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']} "
                         '(send {"reason": "why it is rolled back"})') from None
    except ValueError as exc:
        raise UsageError(f"the body is not JSON: {exc}") from None
    if "\x00" in body.reason:
        raise UsageError("the reason holds a NUL character (\\u0000), which is not accepted")
    if not body.reason.strip():
        raise UsageError("reason: give a reason for the rollback (it is told to the channel)")
    return body.reason


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
        # Sync endpoints run in a thread: hand them the body already read.
        request.state.raw = await request.body() if request.method in ("POST", "PUT", "PATCH") else b""
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
    """The /api routes of every workflow, behind the bearer token."""

    def list_releases(request: Request) -> Any:
        limit = query_limit(request.query_params.get("limit"))
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
        limit = query_limit(request.query_params.get("limit"), default=100, most=1000)
        return {"outbox": [outbox_json(row) for row in failed_rows(services.db.engine, limit)]}

    def list_deployments(request: Request) -> Any:
        since = request.query_params.get("since")
        try:
            when = datetime.fromisoformat(since) if since else None
        except ValueError as exc:
            raise UsageError("since must be an ISO 8601 time such as 2026-01-31T00:00:00Z") from exc
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        stage = request.query_params.get("stage") or None
        if stage and stage not in {s.name for s in services.policy.stages}:
            raise UsageError(f"unknown stage {stage!r}")
        return {"deployments": [deployment_json(d) for d in services.deployments.list(since=when, stage=stage)]}

    def promote(request: Request) -> Any:
        who = request.state.caller.name
        key = request.headers.get("idempotency-key")
        origin = Origin(user=f"api:{who}"[:32], source="api", request_id=f"api:{who}:{key}"[:128] if key else None)
        try:
            return release_json(services.releases.promote(request.path_params["version"], origin))
        except Duplicate:  # the same Idempotency-Key again: applied once already
            return release_json(services.releases.get(request.path_params["version"]))

    def rollback(request: Request) -> Any:
        reason = _rollback_reason(request.state.raw)
        who = request.state.caller.name
        key = request.headers.get("idempotency-key", "").strip()
        origin = Origin(user=who[:32], source="api:/rollback", request_id=f"api:{who}:{key}"[:128] if key else None)
        version = request.path_params["version"]
        try:
            # The token's releases:write scope is the authority here, as an approver is on Slack.
            return release_json(services.releases.rollback(version, origin, reason, authorized=True))
        except Duplicate:  # the same Idempotency-Key again: applied once already
            return release_json(services.releases.get(version))

    out: list[BaseRoute] = [
        Route(path, guarded(services, endpoint, scope), methods=[method])
        for method, path, scope, endpoint in metrics_api.routes(services)
    ]
    out += [
        Route("/deployments", guarded(services, list_deployments), methods=["GET"]),
        Route("/releases/{version}/promote", guarded(services, promote, Scope.RELEASES_WRITE), methods=["POST"]),
        Route("/releases/{version}/rollback", guarded(services, rollback, Scope.RELEASES_WRITE), methods=["POST"]),
        Route("/outbox", guarded(services, list_outbox), methods=["GET"]),
        Route("/releases", guarded(services, list_releases), methods=["GET"]),
        Route("/releases/{version}", guarded(services, get_release), methods=["GET"]),
        Route("/releases/{version}/audit", guarded(services, release_audit), methods=["GET"]),
    ]
    for path, endpoint in incident_api.routes(services):
        out.append(Route(path, guarded(services, endpoint), methods=["GET"]))
    out.extend(write_api.routes(services, guarded, release_json))
    spec = openapi.document()

    async def openapi_json(_: Request) -> Response:
        return JSONResponse(spec)

    out.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    return out
