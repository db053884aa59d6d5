"""The local workspace's built-in deployer: it receives the bot's signed deploy and rollback
requests on loopback, lists them in the "Deploys" panel, and lets the person report
in_progress, succeeded or failed, calling the bot back as a real executor would."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from slackbox.seed import APPROVERS_GROUP
from slackbox.store_deploys import DeploysMixin

HOOK_PATH = "/deploys/hook"
STATES = ("in_progress", "succeeded", "failed")


def new_secret() -> str:
    """A fresh Standard Webhooks secret (whsec_ + base64 of 24 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class DeployInbox:
    """The requests the bot made, oldest first, kept in the workspace's store (they survive a restart)."""

    def __init__(self, secret: str, store: DeploysMixin, on_change: Callable[[], None] | None = None) -> None:
        self.secret = secret
        self.store = store
        self.on_change = on_change or (lambda: None)

    def receive(self, raw: bytes, headers: dict[str, str]) -> int:
        """Verify and keep one request; a retry with the same webhook-id is kept once. The HTTP status."""
        try:
            body = Webhook(self.secret).verify(raw, headers)
        except WebhookVerificationError:
            return 401
        webhook_id = headers.get("webhook-id", "")
        signed = {"webhook-id": webhook_id, "webhook-timestamp": headers.get("webhook-timestamp"),
                  "webhook-signature": headers.get("webhook-signature"), "body": raw.decode()}
        if self.store.keep_deploy(webhook_id, time.time(), body, signed):
            self.on_change()
        return 202

    def items(self) -> list[dict[str, Any]]:
        """Every request with what was reported, the callback token left out."""
        return [{**item, "body": {k: v for k, v in item["body"].items() if k != "callback_token"}}
                for item in self.store.deploys()]

    def report(self, webhook_id: str, state: str, description: str = "") -> dict[str, Any]:
        """Call the bot back for one request; returns the bot's status and answer."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        item = self.store.deploy(webhook_id)
        if item is None:
            raise KeyError(webhook_id)
        payload: dict[str, Any] = {"state": state}
        if description:
            payload["description"] = description[:1000]
        resp = httpx.post(item["body"]["callback_url"], json=payload, timeout=10,
                          headers={"Authorization": f"Bearer {item['body']['callback_token']}"})
        try:
            answer = resp.json()
        except ValueError:
            answer = {"error": resp.text[:200]}
        self.store.add_deploy_report(webhook_id, {"state": state, "status": resp.status_code, "at": time.time()})
        self.on_change()
        return {"status": resp.status_code, "answer": answer}


def deploy_routes(inbox: DeployInbox) -> list[BaseRoute]:
    """The receiver the bot posts to, and the panel's JSON endpoints."""

    async def hook(request: Request) -> Response:
        return Response(status_code=inbox.receive(await request.body(), dict(request.headers)))

    async def listing(_: Request) -> Response:
        return JSONResponse({"ok": True, "deploys": inbox.items()})

    async def report(request: Request) -> Response:
        try:
            data = json.loads(await request.body())
            result = await run_in_threadpool(inbox.report, str(data.get("webhook_id", "")),
                                             str(data.get("state", "")), str(data.get("description") or ""))
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"ok": False, "error": str(exc) or "the body must be JSON"}, status_code=400)
        except KeyError:
            return JSONResponse({"ok": False, "error": "no such request"}, status_code=404)
        except httpx.HTTPError as exc:
            return JSONResponse({"ok": False, "error": f"the bot is not reachable: {exc}"}, status_code=502)
        ok = result["status"] == 200
        warning = None if ok else f"the bot answered HTTP {result['status']}: {result['answer'].get('error')}"
        return JSONResponse({"ok": True, **result, **({"warning": warning} if warning else {})})

    return [Route(HOOK_PATH, hook, methods=["POST"]), Route("/ui/deploys", listing, methods=["GET"]),
            Route("/ui/deploys/report", report, methods=["POST"])]


def local_policy(hook_url: str, secret_env: str) -> dict[str, Any]:
    """The policy `make run` uses when the team gave none: this deployer on staging, canary and production,
    and a preparation task for the approvers group, whose requirements they tick in the release thread."""
    return {
        "executors": {"local-deployer": {"kind": "webhook", "url": hook_url, "secret_env": secret_env}},
        "tasks": {"preparation": [{"name": "prepare", "title": "Prepare the release", "owner": APPROVERS_GROUP,
                                   "requirements": ["version bumped", "changelog generated", "tag created",
                                                    "packages built"]}]},
        "stages": [
            {"name": "dev", "label": "Development"},
            {"name": "staging", "label": "Staging", "executor": "local-deployer"},
            {"name": "canary", "label": "Production canary 5%", "production": True, "requires_approval": True,
             "executor": "local-deployer"},
            {"name": "production", "label": "Production 100%", "production": True, "executor": "local-deployer"},
        ],
    }
