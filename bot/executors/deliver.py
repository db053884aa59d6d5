"""Sending executor requests: called by the outbox sender for the ``webhook`` and ``github`` ops.

Each outbox row is one logical request. Its payload holds the body (fixed when the promotion
was recorded) and the callback token under ``secret`` (the sender drops it once delivered). A
retry sends the same ``webhook-id``, so a receiver can tell a repeat from a new request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from bot.errors import PermanentFailure, TemporaryFailure
from bot.executors.config import ResolvedExecutor
from bot.policy_executors import DISPATCH_INPUTS, GithubActionsExecutor

log = logging.getLogger(__name__)
TEMPORARY = {408, 425, 429, 500, 502, 503, 504}
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                  "User-Agent": "warroom"}


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds the executor asked us to wait (a numeric Retry-After), if it said."""
    try:
        return float(resp.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def callback_path(deployment_id: int) -> str:
    """Where an executor reports on one deployment (under the bot's public URL)."""
    return f"/hooks/deployments/{deployment_id}"


def webhook_id(deployment_id: int) -> str:
    """The Standard Webhooks message id of a deployment's request: the same on every retry."""
    return f"msg_warroom_deployment_{deployment_id}"


def sign(secret: str, message_id: str, at: datetime, data: str) -> dict[str, str]:
    """The three Standard Webhooks headers for ``data``."""
    return {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, at, data)}


def refused_inputs(resp: httpx.Response, token_input: str | None) -> str | None:
    """Why a workflow_dispatch answered 422, with the fix, when GitHub's message is about the inputs."""
    if resp.status_code != 422:
        return None
    try:
        message = str(resp.json().get("message") or resp.text)
    except (ValueError, AttributeError):
        message = resp.text
    message = " ".join(message.split())[:200]
    if "input" not in message.lower():
        # Another 422 (no workflow_dispatch trigger, an unknown ref): GitHub's words say it best.
        return f"GitHub refused the workflow dispatch (422 {message})"
    names = [*DISPATCH_INPUTS, token_input] if token_input else list(DISPATCH_INPUTS)
    declare = f"declare {', '.join(names[:-1])} and {names[-1]} in workflow_dispatch.inputs"
    fix = f"{declare}, or set token_input: null" if token_input else declare
    return f"GitHub refused the workflow inputs (422 {message}): {fix}"


class ExecutorClient:
    """Delivers requests over HTTP and classifies failures (temporary: retried; permanent: the
    deployment is marked failed through ``on_refused``)."""

    def __init__(self, executors: dict[str, ResolvedExecutor], github_api_url: str, public_url: str | None,
                 *, timeout: float = 10.0) -> None:
        self.executors = executors
        self.github_api_url = github_api_url.rstrip("/")
        # Settable after start: a test server learns its port only once it is bound.
        self.public_url = (public_url or "").rstrip("/")
        self.http = httpx.Client(timeout=timeout, follow_redirects=False)
        # Wired by the deployment service: is the deployment still waiting for this request,
        # what did the executor answer, and what to do when it refuses for good.
        self.wanted: Callable[[int], bool] = lambda _id: True
        self.on_accepted: Callable[[int, str | None, str | None], None] = lambda *_: None
        self.on_refused: Callable[[int, str], None] = lambda *_: None

    def _callback(self, args: dict[str, Any]) -> dict[str, str]:
        secret = args.get("secret") or {}
        path = args.get("callback_path") or callback_path(args["deployment_id"])
        return {"callback_url": self.public_url + path, "callback_token": secret.get("callback_token", "")}

    def _executor(self, args: dict[str, Any]) -> ResolvedExecutor:
        found = self.executors.get(args["executor"])
        if found is None:
            raise PermanentFailure(f"executor {args['executor']!r} is no longer in the policy")
        return found

    def _post(self, deployment_id: int | None, url: str, *, content: str, headers: dict[str, str],
              explain: Callable[[httpx.Response], str | None] = lambda _resp: None) -> httpx.Response:
        try:
            resp = self.http.post(url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise TemporaryFailure(f"{type(exc).__name__} calling {url}") from exc
        if resp.status_code in TEMPORARY or resp.status_code >= 500:
            raise TemporaryFailure(f"HTTP {resp.status_code} from {url}", retry_after=_retry_after(resp))
        if resp.status_code >= 400:
            reason = explain(resp) or f"the executor refused the request: HTTP {resp.status_code} {resp.text[:200]}"
            if deployment_id is not None:
                self.on_refused(deployment_id, reason)
            raise PermanentFailure(f"HTTP {resp.status_code} from {url}")
        return resp

    def webhook(self, args: dict[str, Any]) -> dict[str, Any]:
        """POST the signed deploy.requested / rollback.requested (or task.requested) body to the executor."""
        deployment_id = args.get("deployment_id")
        if deployment_id is not None and not self.wanted(int(deployment_id)):
            return {"skipped": "the deployment is no longer waiting"}
        executor = self._executor(args)
        body = {**args["body"], **self._callback(args)}
        data = json.dumps(body, separators=(",", ":"), sort_keys=True)
        message_id = args.get("message_id") or webhook_id(int(deployment_id or 0))
        headers = {"content-type": "application/json", "user-agent": "warroom",
                   **sign(executor.secret, message_id, datetime.now(UTC), data)}
        resp = self._post(deployment_id, executor.spec.url, content=data, headers=headers)  # type: ignore[union-attr]
        return {"status": resp.status_code}

    def github(self, args: dict[str, Any]) -> dict[str, Any]:
        """Dispatch a workflow or create a deployment; record the run or deployment id GitHub returns."""
        deployment_id = int(args["deployment_id"])
        if not self.wanted(deployment_id):
            return {"skipped": "the deployment is no longer waiting"}
        executor = self._executor(args)
        body = json.loads(json.dumps(args["body"]))
        dispatch = args["action"] == "dispatch"
        spec = executor.spec
        token_input = spec.token_input if isinstance(spec, GithubActionsExecutor) else "callback_token"
        if dispatch:
            callback = self._callback(args)
            body["inputs"]["callback_url"] = callback["callback_url"]
            if token_input:  # null: the workflow declares only the four inputs; workflow_run answers
                body["inputs"][token_input] = callback["callback_token"]

        def explain(resp: httpx.Response) -> str | None:
            return refused_inputs(resp, token_input) if dispatch else None

        url = self.github_api_url + args["path"]
        headers = {**GITHUB_HEADERS, "Authorization": f"Bearer {executor.secret}",
                   "content-type": "application/json"}
        resp = self._post(deployment_id, url, content=json.dumps(body), headers=headers, explain=explain)
        answer: dict[str, Any] = {}
        if resp.content:
            try:
                answer = resp.json()
            except ValueError:
                answer = {}
        external = answer.get("workflow_run_id") or answer.get("id")
        link = answer.get("html_url") or answer.get("run_url")
        if external is not None or link:
            self.on_accepted(deployment_id, str(external) if external is not None else None, link)
        return {"status": resp.status_code, "external_id": external}
