"""`POST /hooks/deployments/{id}` and `/hooks/tasks/{id}`: an executor reports with its callback token."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.errors import DeploymentFinished, InvalidTransition, NotFound, Unauthorized, WarroomError
from bot.ids import parse_id
from bot.services import Services

MAX_BODY = 16 * 1024


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _row_id(raw: str) -> int | None:
    # Bounded ASCII digits: a huge or non-ASCII number names no row (and must not reach the database).
    try:
        return parse_id(raw, too_big=NotFound)
    except WarroomError:
        return None


def routes(services: Services) -> list[BaseRoute]:
    """The executor callback route (mounted under /hooks)."""

    async def report(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "missing bearer callback token")
        deployment_id = _row_id(request.path_params["deployment_id"])
        if deployment_id is None:
            return _error(404, "no such deployment")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _error(413, f"the report is larger than {MAX_BODY} bytes")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict):
            return _error(400, 'the body must be a JSON object such as {"state": "succeeded"}')
        try:
            d = await run_in_threadpool(services.deployments.callback, deployment_id, token.strip(), body)
        except Unauthorized as exc:
            return _error(401, exc.message)
        except DeploymentFinished as exc:
            return _error(409, exc.message, state=exc.state)
        except NotFound as exc:
            return _error(404, exc.message)
        except WarroomError as exc:
            return _error(400, exc.message)
        return JSONResponse({"deployment_id": d.id, "state": d.state})

    async def task(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "missing bearer callback token")
        task_id = _row_id(request.path_params["task_id"])
        if task_id is None:
            return _error(404, "no such task")
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}") if len(raw) <= MAX_BODY else None
        except ValueError:
            return _error(400, "the body is not JSON")
        if not isinstance(body, dict):
            return _error(400, 'the body must be a JSON object such as {"state": "done"}')
        try:
            t = await run_in_threadpool(services.tasks.callback, task_id, token.strip(), body)
        except Unauthorized as exc:
            return _error(401, exc.message)
        except (NotFound, InvalidTransition) as exc:
            return _error(409, exc.message)
        except WarroomError as exc:
            return _error(400, exc.message)
        return JSONResponse({"task_id": t.id, "state": t.state})

    return [Route("/deployments/{deployment_id}", report, methods=["POST"]),
            Route("/tasks/{task_id}", task, methods=["POST"])]
