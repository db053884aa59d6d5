"""Inbound hooks under /hooks: verify on the raw bytes in constant time, store the delivery once,
answer 202. Processing happens later, off the request path (bot.hooks.inbox)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from standardwebhooks.webhooks import Webhook
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.errors import UsageError
from bot.hooks.checks import CheckReport
from bot.monitoring.alerts import check_body
from bot.services import Services


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value else None


def _json(raw: bytes, content_type: str = "") -> Any:
    """The JSON body (GitHub may also send it form-encoded as ``payload=``), or UsageError."""
    if b"\\u0000" in raw or b"\x00" in raw:
        # PostgreSQL cannot store NUL in text or JSON; no provider sends it.
        raise UsageError("the body holds a NUL character (\\u0000), which is not accepted")
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            raw = (parse_qs(raw.decode()).get("payload") or [""])[0].encode()
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"the body is not JSON: {exc}") from None


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# Grafana signs as grafana/alerting http/hmac.go does (HMACRoundTripper.sign): the lowercase hex
# HMAC-SHA256, keyed with the secret's bytes, of the body as sent, or of "<unix seconds>:<body>"
# when the contact point names a timestamp header (which it also sets to those seconds). That
# header has no default name: these are the names Grafana's docs and provisioning examples use.
GRAFANA_TIMESTAMP_HEADERS = ("x-grafana-alerting-timestamp", "x-grafana-alerting-signature-timestamp")
# Grafana signs each attempt afresh, so a signed time further from ours than this is a replay
# (or a clock that is off).
GRAFANA_TOLERANCE_SECONDS = 300


def grafana_problem(secret: str, headers: Mapping[str, str], raw: bytes, now: float) -> str | None:
    """Why a Grafana notification's signature does not hold at ``now`` (Unix seconds), or None."""
    stamp = next((headers[name] for name in GRAFANA_TIMESTAMP_HEADERS if name in headers), None)
    message = raw if stamp is None else stamp.encode() + b":" + raw
    given = headers.get("x-grafana-alerting-signature", "")
    if not hmac.compare_digest(given.encode(), _hmac_hex(secret, message).encode()):
        return ("X-Grafana-Alerting-Signature is missing or is not the HMAC-SHA256 of the body (of "
                "`timestamp:body` with X-Grafana-Alerting-Timestamp) with GRAFANA_WEBHOOK_SECRET")
    # Bounded digits before int(): Python refuses to parse thousands of them.
    if stamp is not None and not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12
                                  and abs(now - int(stamp)) <= GRAFANA_TOLERANCE_SECONDS):
        return (f"the signed timestamp {stamp[:20]!r} is not within {GRAFANA_TOLERANCE_SECONDS // 60} minutes "
                "of now: a replayed or delayed notification, or a clock that is off")
    return None


async def _store(services: Services, source: str, delivery: str, event: str, payload: Any) -> Response:
    if not isinstance(payload, dict):
        return _error(400, "the body must be a JSON object")
    new = await run_in_threadpool(services.inbox.store, source, delivery, event, payload)
    return JSONResponse({"stored": new, "duplicate": not new, "delivery": delivery[:128]}, status_code=202)


def routes(services: Services) -> list[BaseRoute]:
    """The /hooks routes."""
    settings = services.settings

    async def github(request: Request) -> Response:
        secret = _secret(settings.github_webhook_secret)
        if not secret:
            return _error(404, "the GitHub hook is off: set GITHUB_WEBHOOK_SECRET")
        raw = await request.body()
        given = request.headers.get("x-hub-signature-256", "")
        if not hmac.compare_digest(given.encode(), ("sha256=" + _hmac_hex(secret, raw)).encode()):
            return _error(401, "X-Hub-Signature-256 is missing or does not match GITHUB_WEBHOOK_SECRET")
        event = request.headers.get("x-github-event", "").strip()
        delivery = request.headers.get("x-github-delivery", "").strip()
        if not event or not delivery:
            return _error(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
        try:
            payload = _json(raw, request.headers.get("content-type", ""))
        except UsageError as exc:
            return _error(400, exc.message)
        if event == "ping":
            return JSONResponse({"ok": True, "zen": str((payload or {}).get("zen", ""))[:200]
                                 if isinstance(payload, dict) else ""})
        return await _store(services, "github", delivery, event, payload)

    async def alerts(request: Request, source: str, verify: Callable[[Request, bytes], str | None]) -> Response:
        raw = await request.body()
        problem = verify(request, raw)
        if problem:
            return _error(401, problem)
        try:
            payload = _json(raw)
            check_body(payload)
        except UsageError as exc:
            return _error(400, exc.message)
        # Neither sends a delivery id: the body's digest is one (an identical resend is a no-op).
        delivery = hashlib.sha256(raw).hexdigest()
        return await _store(services, source, delivery, str(payload.get("status", "notification")), payload)

    def alertmanager_auth(request: Request, _: bytes) -> str | None:
        token = _secret(settings.alertmanager_token)
        if not token:
            return "the Alertmanager hook is off: set ALERTMANAGER_TOKEN"
        scheme, _sep, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return "Authorization: Bearer <ALERTMANAGER_TOKEN> is missing or wrong"
        return None

    def grafana_auth(request: Request, raw: bytes) -> str | None:
        secret = _secret(settings.grafana_webhook_secret)
        if not secret:
            return None  # unsigned contact points are accepted when no secret is configured
        return grafana_problem(secret, request.headers, raw, time.time())

    async def alertmanager(request: Request) -> Response:
        return await alerts(request, "alertmanager", alertmanager_auth)

    async def grafana(request: Request) -> Response:
        return await alerts(request, "grafana", grafana_auth)

    async def checks(request: Request) -> Response:
        secret = _secret(settings.checks_webhook_secret)
        if not secret:
            return _error(404, "the checks hook is off: set CHECKS_WEBHOOK_SECRET")
        raw = await request.body()
        try:
            Webhook(secret).verify(raw, dict(request.headers), json_parse=False)
        except Exception:  # the library raises several types for bad headers; all mean "not verified"
            return _error(401, "webhook-id / webhook-timestamp / webhook-signature missing or not signed "
                               "with CHECKS_WEBHOOK_SECRET (Standard Webhooks)")
        try:
            payload = _json(raw)
            CheckReport.parse(payload)
        except UsageError as exc:
            return _error(400, exc.message)
        return await _store(services, "checks", request.headers["webhook-id"], "check", payload)

    return [
        Route("/github", github, methods=["POST"]),
        Route("/alertmanager", alertmanager, methods=["POST"]),
        Route("/grafana", grafana, methods=["POST"]),
        Route("/checks", checks, methods=["POST"]),
    ]
