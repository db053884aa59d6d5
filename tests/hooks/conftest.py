"""Hook tests: the real bot over HTTP with hook secrets set and a policy that names checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from standardwebhooks.webhooks import Webhook

from storage.models import InboundEvent, ReleaseCheck
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Stack

# The e2e harness's fixture, shared with these tests.
make_stack = e2e.make_stack
PAYLOADS = Path(__file__).parent / "payloads"
GITHUB_SECRET = "gh-hook-secret"
ALERTMANAGER_TOKEN = "am-token"
GRAFANA_SECRET = "grafana-secret"
CHECKS_SECRET = "whsec_" + base64.b64encode(b"checks-hook-secret-32-bytes-long!").decode()
POLICY = """
checks:
  - {name: lint, phase: pre_release, match: "Octocoders-*", required_for: staging}
  - {name: tests, phase: pre_release, match: "CI / test*", min: {coverage: 95}, required_for: canary}
  - {name: security, phase: pre_release, match: "codeql*", required_for: canary}
  - {name: review, phase: pre_release, after: [tests, security], required_for: canary}
  - {name: smoke, phase: post_deploy, match: "smoke*", stage: canary, required_for: production}
stages:
  - {name: dev, label: Development}
  - {name: staging, label: Staging}
  - {name: canary, label: Production canary 5%, production: true, requires_approval: true, auto_rollback: true}
  - {name: production, label: Production 100%, production: true}
"""


def payload(name: str) -> dict[str, Any]:
    """A recorded payload from tests/hooks/payloads."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.fixture
def hooked(make_stack: Callable[..., Stack], tmp_path: Path) -> Stack:
    """A stack whose hooks are on, with the checks above."""
    return hook_stack(make_stack, tmp_path, POLICY)


def hook_stack(make_stack: Callable[..., Stack], tmp_path: Path, policy_text: str) -> Stack:
    """A stack whose hooks are on, with ``policy_text`` as its policy file."""
    policy = tmp_path / "policy.yml"
    policy.write_text(policy_text)
    return make_stack(GITHUB_WEBHOOK_SECRET=GITHUB_SECRET, ALERTMANAGER_TOKEN=ALERTMANAGER_TOKEN,
                      GRAFANA_WEBHOOK_SECRET=GRAFANA_SECRET, CHECKS_WEBHOOK_SECRET=CHECKS_SECRET,
                      WARROOM_CONFIG=str(policy))


def github(stack: Stack, event: str, body: dict[str, Any] | bytes, *, delivery: str | None = None,
           secret: str | None = GITHUB_SECRET) -> httpx.Response:
    """POST a delivery to /hooks/github as GitHub does (signed unless ``secret`` is None)."""
    assert stack.bot
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/abc"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return httpx.post(stack.bot.url + "/hooks/github", content=raw, headers=headers, timeout=10)


def alertmanager(stack: Stack, body: dict[str, Any], token: str | None = ALERTMANAGER_TOKEN) -> httpx.Response:
    """POST an Alertmanager notification."""
    assert stack.bot
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(stack.bot.url + "/hooks/alertmanager", json=body, headers=headers, timeout=10)


def report_check(stack: Stack, body: dict[str, Any], *, msg_id: str | None = None,
                 secret: str = CHECKS_SECRET) -> httpx.Response:
    """POST a Standard Webhooks-signed check report to /hooks/checks."""
    assert stack.bot
    raw = json.dumps(body)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    sig = Webhook(secret).sign(msg_id, now, raw)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": sig,
               "content-type": "application/json"}
    return httpx.post(stack.bot.url + "/hooks/checks", content=raw, headers=headers, timeout=10)


def processed(stack: Stack, timeout: float = 10.0) -> list[InboundEvent]:
    """Wait until every stored delivery has been processed; return them, oldest first."""
    assert stack.runtime
    db = stack.runtime.services.db

    def rows() -> list[InboundEvent]:
        with db.read() as s:
            return list(s.exec(select(InboundEvent).order_by(col(InboundEvent.id))))

    stack.ws.wait_for(lambda: all(r.processed_at for r in rows()), timeout=timeout, what="deliveries processed")
    return rows()


def checks(stack: Stack, version: str) -> dict[str, ReleaseCheck]:
    """The release's checks by name."""
    assert stack.runtime
    services = stack.runtime.services
    return {r.name: r for r in services.checks.listed(version)}


def grafana_signature(secret: str, raw: bytes, timestamp: str | None = None) -> str:
    """X-Grafana-Alerting-Signature as Grafana computes it: grafana/alerting http/hmac.go,
    HMACRoundTripper.sign (github.com/grafana/alerting, file last changed in commit
    2acbeef29642fc3d89c7f3f0ad2f78e01c6d673e, read at 783ce041445f48a1c5d7ec785becb54d57ae7918):
    hmac.New(sha256.New, []byte(secret)); with a timestamp header, Write(timestamp) and Write(":")
    where timestamp is strconv.FormatInt(now.Unix(), 10); then Write(body); hex.EncodeToString."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    if timestamp is not None:
        mac.update(timestamp.encode())
        mac.update(b":")
    mac.update(raw)
    return mac.hexdigest()


def grafana(stack: Stack, body: dict[str, Any], secret: str | None = GRAFANA_SECRET, *,
            timestamp: str | None = None, timestamp_header: str = "X-Grafana-Alerting-Timestamp") -> httpx.Response:
    """POST a Grafana contact-point notification, signed as Grafana signs it when ``secret`` is given
    (over ``timestamp:body`` with ``timestamp`` in ``timestamp_header`` when a timestamp is given)."""
    assert stack.bot
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Grafana"}
    if secret:
        headers["X-Grafana-Alerting-Signature"] = grafana_signature(secret, raw, timestamp)
    if timestamp is not None:
        headers[timestamp_header] = timestamp
    return httpx.post(stack.bot.url + "/hooks/grafana", content=raw, headers=headers, timeout=10)
