"""Loopback stand-ins for the systems warroom delegates to: a deployer that receives Standard
Webhooks (and verifies them with the shared secret) and a GitHub REST API."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slackbox import ServerHandle, serve_in_thread

SECRET = "whsec_" + base64.b64encode(b"e2e-deployer-secret-32-bytes-long").decode()
GITHUB_TOKEN = "ghp_e2e_token"  # noqa: S105


@dataclass
class Deployer:
    """Receives deploy/rollback requests; answers 503 while ``down()`` says so."""

    secret: str = SECRET
    down: Callable[[], bool] = lambda: False
    received: list[dict[str, Any]] = field(default_factory=list)
    handle: ServerHandle | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Deployer:
        """Serve on a free loopback port."""
        async def hook(request: Request) -> Response:
            raw = await request.body()
            try:
                Webhook(self.secret).verify(raw, dict(request.headers))
                verified = True
            except WebhookVerificationError:
                verified = False
            status = 401 if not verified else (503 if self.down() else 202)
            with self.lock:
                self.received.append({"id": request.headers.get("webhook-id"), "verified": verified,
                                      "status": status, "body": json.loads(raw)})
            return Response(status_code=status)

        self.handle = serve_in_thread(Starlette(routes=[Route("/deploy", hook, methods=["POST"])]))
        return self

    @property
    def url(self) -> str:
        """Where the policy points the executor."""
        assert self.handle
        return self.handle.url + "/deploy"

    def accepted(self) -> list[dict[str, Any]]:
        """The requests it took (answered 2xx)."""
        with self.lock:
            return [r for r in self.received if r["status"] == 202]

    def stop(self) -> None:
        """Stop the server."""
        if self.handle:
            self.handle.stop()


@dataclass
class GitHub:
    """The few GitHub REST endpoints the executors call; records each request. Each dispatch starts
    a new run (4242, 4243, ...); with ``declared`` set, a dispatch with any other input is refused
    with GitHub's 422, as for a workflow whose ``workflow_dispatch.inputs`` lack it."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    handle: ServerHandle | None = None
    next_run: int = 4242
    declared: tuple[str, ...] | None = None

    def start(self) -> GitHub:
        """Serve on a free loopback port."""
        async def dispatch(request: Request) -> Response:
            raw = await request.body()
            self._record(request, raw)
            unexpected = sorted(set(json.loads(raw).get("inputs") or {}) - set(self.declared or ()))
            if self.declared is not None and unexpected:
                return JSONResponse({"message": f"Unexpected inputs provided: {json.dumps(unexpected)}",
                                     "documentation_url": "https://docs.github.com/rest/actions/workflows"
                                                          "#create-a-workflow-dispatch-event",
                                     "status": "422"}, status_code=422)
            run, self.next_run = self.next_run, self.next_run + 1
            return JSONResponse({"workflow_run_id": run, "run_url": f"https://api.github.test/runs/{run}",
                                 "html_url": f"https://github.test/acme/shop/actions/runs/{run}"})

        async def deployments(request: Request) -> Response:
            self._record(request, await request.body())
            return JSONResponse({"id": 9001, "url": "https://api.github.test/deployments/9001"}, status_code=201)

        self.handle = serve_in_thread(Starlette(routes=[
            Route("/repos/{owner}/{name}/actions/workflows/{workflow}/dispatches", dispatch, methods=["POST"]),
            Route("/repos/{owner}/{name}/deployments", deployments, methods=["POST"]),
        ]))
        return self

    def _record(self, request: Request, raw: bytes) -> None:
        self.calls.append({"path": request.url.path, "auth": request.headers.get("authorization"),
                           "api_version": request.headers.get("x-github-api-version"), "body": json.loads(raw)})

    @property
    def url(self) -> str:
        """The GITHUB_API_URL to give the bot."""
        assert self.handle
        return self.handle.url

    def stop(self) -> None:
        """Stop the server."""
        if self.handle:
            self.handle.stop()


def write_policy(path: Path, executors: dict[str, Any], stage_executors: dict[str, str], **extra: Any) -> str:
    """A policy file assigning executors to stages; returns its path for WARROOM_CONFIG."""
    stages = [{"name": "dev", "label": "Development"}, {"name": "staging", "label": "Staging"},
              {"name": "canary", "label": "Production canary 5%", "production": True, "requires_approval": True},
              {"name": "production", "label": "Production 100%", "production": True}]
    for stage in stages:
        if stage["name"] in stage_executors:
            stage["executor"] = stage_executors[stage["name"]]
        stage.update(extra.pop(f"{stage['name']}_stage", {}))
    path.write_text(yaml.safe_dump({"executors": executors, "stages": stages, **extra}), encoding="utf-8")
    return str(path)


def report(callback_url: str, token: str | None, state: str, **extra: Any) -> httpx.Response:
    """Call back as an executor does."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(callback_url, headers=headers, json={"state": state, **extra}, timeout=10)
