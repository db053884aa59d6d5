"""The "CI checks & alerts" section of the local workspace's Deploys panel: report a check, fire or
resolve an alert.

It plays GitHub Actions and Alertmanager for a newcomer: each control becomes a real, signed
delivery to the bot's /hooks endpoints, so a gate closes and an alert pauses a canary exactly as
they would with the real systems.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

# Secrets the sandbox gives the bot when the user set none (see slackbox.launch.sandbox_settings).
LOCAL_CHECKS_SECRET = "whsec_bG9jYWwtc2FuZGJveC1jaGVja3Mtc2VjcmV0"  # noqa: S105
LOCAL_ALERTMANAGER_TOKEN = "local-alertmanager"  # noqa: S105
STATES = ("pending", "running", "passed", "failed", "skipped")


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def alert_body(service: str, name: str, severity: str, status: str, started: str) -> dict[str, Any]:
    """An Alertmanager webhook (version 4) notification with one alert."""
    labels = {"alertname": name, "service": service, "severity": severity}
    fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="{name}"}}', "truncatedAlerts": 0, "status": status,
        "receiver": "warroom", "groupLabels": {"alertname": name}, "commonLabels": labels,
        "commonAnnotations": {"summary": f"{name} on {service} (from the local workspace)"},
        "externalURL": "http://localhost:9093",
        "alerts": [{"status": status, "labels": labels,
                    "annotations": {"summary": f"{name} on {service} (from the local workspace)"},
                    "startsAt": started, "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
                    "generatorURL": "http://localhost:9090/graph", "fingerprint": fingerprint}],
    }


def routes(bot_url: str, checks_secret: str | None, alertmanager_token: str | None) -> list[BaseRoute]:
    """POST /ui/ci/check and /ui/ci/alert."""
    # One start time per firing alert, so "resolve" names the same alert Alertmanager would.
    started: dict[tuple[str, str], str] = {}

    async def forward(path: str, content: bytes, headers: dict[str, str]) -> Response:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                resp = await client.post(bot_url + path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            return _error(f"the bot is not reachable: {exc}", 502)
        if resp.status_code >= 300:
            return _error(f"the bot answered {resp.status_code}: {resp.text[:200]}")
        return JSONResponse({"ok": True, "bot_status": resp.status_code})

    async def check(request: Request) -> Response:
        if not checks_secret:
            return _error("CHECKS_WEBHOOK_SECRET is not set for the bot")
        data = await request.json()
        release, name, state = (str(data.get(k) or "").strip() for k in ("release", "check", "state"))
        if not release or not name or state not in STATES:
            return _error(f"give a release version, a check name and a state ({', '.join(STATES)})")
        body: dict[str, Any] = {"release": release, "check": name, "state": state}
        value = str(data.get("values") or "").strip()
        if value:
            key, _, number = value.partition("=")
            try:
                body["values"] = {key.strip(): float(number)}
            except ValueError:
                return _error("values look like coverage=97.4")
        raw = json.dumps(body)
        msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": Webhook(checks_secret).sign(msg_id, now, raw),
                   "content-type": "application/json"}
        return await forward("/hooks/checks", raw.encode(), headers)

    async def alert(request: Request) -> Response:
        if not alertmanager_token:
            return _error("ALERTMANAGER_TOKEN is not set for the bot")
        data = await request.json()
        service, name = str(data.get("service") or "").strip(), str(data.get("alertname") or "").strip()
        severity, status = str(data.get("severity") or "warning"), str(data.get("status") or "firing")
        if not service or not name or status not in ("firing", "resolved"):
            return _error("give a service, an alert name and firing or resolved")
        key = (service, name)
        if status == "firing":
            started.setdefault(key, datetime.now(UTC).isoformat().replace("+00:00", "Z"))
        start = started.get(key) or datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if status == "resolved":
            started.pop(key, None)
        raw = json.dumps(alert_body(service, name, severity, status, start)).encode()
        return await forward("/hooks/alertmanager", raw, {"authorization": f"Bearer {alertmanager_token}",
                                                          "content-type": "application/json"})

    return [Route("/ui/ci/check", check, methods=["POST"]), Route("/ui/ci/alert", alert, methods=["POST"])]
