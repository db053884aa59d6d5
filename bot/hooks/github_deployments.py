"""GitHub `deployment_status` deliveries: reports for deployments warroom asked GitHub for.

Matched to a Deployment row by ``deployment.payload.warroom_deployment`` (set when warroom
created the GitHub deployment), else by the release's sha and the environment (stage). The
report itself goes to the executors' ``DeploymentService.report`` after this delivery commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from bot.deployments.service import DeploymentService
from bot.errors import DeploymentFinished
from bot.hooks.common import dig, text
from bot.hooks.inbox import Inbox
from bot.releases.records import FINISHED
from bot.tx import Origin, Tx
from storage.models import Deployment, Release

log = logging.getLogger(__name__)

# GitHub's deployment states in the executors' words; `inactive` (a newer deployment replaced
# this one) and any state GitHub adds later report nothing.
STATES = {"queued": "in_progress", "pending": "in_progress", "in_progress": "in_progress",
          "success": "succeeded", "failure": "failed", "error": "failed"}


def match(tx: Tx, p: dict[str, Any]) -> Deployment | None:
    """The Deployment row a deployment_status delivery is about, if any."""
    wanted = dig(p, "deployment", "payload", "warroom_deployment")
    if isinstance(wanted, int | str) and str(wanted).isdigit() and len(str(wanted)) < 12:
        return tx.session.get(Deployment, int(wanted))
    sha, env = text(dig(p, "deployment", "sha"), 64), text(dig(p, "deployment", "environment"), 32)
    if not sha or not env:
        return None
    return tx.session.exec(
        select(Deployment).join(Release, col(Release.id) == col(Deployment.release_id))
        .where(Release.sha == sha, Deployment.environment == env, col(Deployment.state).not_in(FINISHED))
        .order_by(col(Deployment.id).desc())).first()


def processor(deployments: DeploymentService, inbox: Inbox) -> Callable[[Tx, dict[str, Any]], bool]:
    """The ``deployment_status`` handler of GitHubProcessor: True when the delivery names a deployment."""

    def apply(tx: Tx, p: dict[str, Any]) -> bool:
        deployment = match(tx, p)
        if deployment is None or deployment.id is None:
            return False
        status: dict[str, Any] = p["deployment_status"] if isinstance(p.get("deployment_status"), dict) else {}
        state = STATES.get(text(status.get("state"), 32).lower())
        if state is None:
            return True  # about this deployment, but nothing the executor flow acts on
        url = text(status.get("log_url") or status.get("target_url") or status.get("environment_url"), 1000) or None
        description = text(status.get("description"), 1000) or None
        origin = Origin(user="github", source="hook:github",
                        request_id=f"github:deployment_status:{text(status.get('id'), 40)}")
        report_after_commit(deployments, inbox, deployment.id, state, url=url, description=description,
                            origin=origin, event="deployment_status")
        return True

    return apply


def report_after_commit(deployments: DeploymentService, inbox: Inbox, deployment_id: int, state: str, *,
                        url: str | None, description: str | None, origin: Origin, event: str) -> None:
    """Report on ``deployment_id`` as its executor's callback would, once this delivery commits."""

    def report() -> None:
        try:
            deployments.report(deployment_id, state, url=url, description=description, origin=origin)
        except DeploymentFinished as exc:
            # GitHub sends news after the end too (a late `in_progress`, a callback came first): the end stands.
            log.info("%s for deployment %s ignored: %s", event, deployment_id, exc)

    inbox.later(report)
