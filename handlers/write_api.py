"""Write endpoints of the JSON API (scoped tokens) and the inbound-delivery listing."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.errors import UsageError
from bot.hooks.checks import CheckReport, report_now
from bot.ids import RowId
from bot.releases.requests import StartRelease
from bot.services import Services
from bot.tokens import Scope
from bot.tx import Duplicate, Origin


class StartReleaseBody(BaseModel):
    """`POST /api/releases`: what `/release start` takes, plus the channel to announce in."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(max_length=64, examples=["v2.4.0"])
    channel: str = Field(min_length=1, max_length=32, description="Slack channel ID for the announcement")
    type: Literal["major", "minor", "patch", "hotfix"] = "minor"
    risk: Literal["low", "medium", "high", "critical"] = "medium"
    severity: Literal["P0", "P1", "P2", "P3"] | None = None
    incident_id: RowId | None = None
    summary: str = Field(default="", max_length=2000)
    breaking_changes: str = Field(default="", max_length=1000)
    rollback_plan: str = Field(default="", max_length=1000)
    service: str | None = Field(default=None, max_length=64)
    sha: str | None = Field(default=None, max_length=64)
    repo: str | None = Field(default=None, max_length=140)
    ref: str | None = Field(default=None, max_length=100)


class ApiCheckReport(BaseModel):
    """`POST /api/releases/{version}/checks`: one check's state."""

    model_config = ConfigDict(extra="forbid")

    check: str = Field(min_length=1, max_length=200)
    state: str = Field(min_length=1, max_length=40, description="pending | running | passed | failed | skipped")
    values: dict[str, float] = Field(default_factory=dict)
    url: str | None = Field(default=None, max_length=1000)
    at: str | None = None


def _body(request: Request, model: type[BaseModel]) -> Any:
    """The request's JSON body validated by ``model``, or UsageError naming the field."""
    if b"\\u0000" in request.state.raw or b"\x00" in request.state.raw:
        raise UsageError("the body holds a NUL character (\\u0000), which is not accepted")
    try:
        return model.model_validate(json.loads(request.state.raw or b"null"))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}") from None
    except ValueError as exc:
        raise UsageError(f"the body is not JSON: {exc}") from None


def _origin(request: Request, source: str) -> Origin:
    key = request.headers.get("idempotency-key", "").strip()
    name = request.state.caller.name
    return Origin(user=name[:32], source=source, request_id=f"api:{name}:{key}"[:128] if key else None)


def routes(services: Services, guarded: Any, release_json: Any) -> list[BaseRoute]:
    """POST /releases, POST /releases/{version}/checks, GET /events."""

    def start(request: Request) -> Any:
        body = _body(request, StartReleaseBody)
        req = StartRelease.build(channel_id=body.channel, **body.model_dump(exclude={"channel"}))
        try:
            view = services.releases.start(req, _origin(request, "api:/releases"))
        except Duplicate:  # the same Idempotency-Key again: the release it made
            return release_json(services.releases.get(req.version))
        return JSONResponse(release_json(view), status_code=201)

    def report(request: Request) -> Any:
        body = _body(request, ApiCheckReport)
        version = request.path_params["version"]
        full = CheckReport(release=version, **body.model_dump())
        rows = report_now(services.checks, version, full, _origin(request, "api:/checks"))
        return {"checks": [check_json(r) for r in rows]}

    def events(request: Request) -> Any:
        raw = request.query_params.get("matched")
        if raw not in (None, "true", "false"):
            raise UsageError("matched is true or false")
        try:
            limit = min(max(int(request.query_params.get("limit", "100")), 1), 500)
        except ValueError as exc:
            raise UsageError("limit must be a number") from exc
        rows = services.inbox.events(matched=None if raw is None else raw == "true", limit=limit)
        return {"events": [{"id": e.id, "source": e.source, "delivery_id": e.delivery_id, "event": e.event,
                            "matched": e.matched, "error": e.error, "attempts": e.attempts,
                            "received_at": e.received_at.isoformat(),
                            "processed_at": e.processed_at.isoformat() if e.processed_at else None}
                           for e in rows]}

    def listed(request: Request) -> Any:
        return {"checks": [check_json(r) for r in services.checks.listed(request.path_params["version"])]}

    return [
        Route("/releases", guarded(services, start, Scope.RELEASES_WRITE), methods=["POST"]),
        Route("/releases/{version}/checks", guarded(services, listed), methods=["GET"]),
        Route("/releases/{version}/checks", guarded(services, report, Scope.CHECKS_WRITE), methods=["POST"]),
        Route("/events", guarded(services, events), methods=["GET"]),
    ]


def check_json(row: Any) -> dict[str, Any]:
    """A release's check as the API shows it."""
    return {"name": row.name, "state": row.state, "values": row.values, "url": row.url, "source": row.source,
            "note": row.note, "at": row.at.isoformat() if row.at else None, "override": row.override}
