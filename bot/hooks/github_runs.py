"""GitHub `workflow_run` deliveries: reports for deployments a github_actions executor dispatched.

Matched to a Deployment row by the run id GitHub answered the workflow_dispatch with (stored as
``external_id``), the executor's kind and its repo. The report goes to the same
``DeploymentService.report`` as an executor's callback, after this delivery commits, so a repeat
has one effect and a report on a finished deployment changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from bot.deployments.service import DeploymentService, executor_origin
from bot.hooks.common import dig, text
from bot.hooks.github_deployments import report_after_commit
from bot.hooks.inbox import Inbox
from bot.policy import Policy
from bot.policy_executors import GithubActionsExecutor
from bot.releases.records import FINISHED
from bot.tx import Tx
from storage.models import Deployment

# The run's actions in the executors' words; `completed` depends on the conclusion.
STARTED = {"requested": "in_progress", "in_progress": "in_progress"}


def state_of(p: dict[str, Any]) -> tuple[str, str | None] | None:
    """(state, description) a workflow_run delivery reports, or None for an action that reports nothing."""
    action = text(p.get("action"), 40)
    if action in STARTED:
        return STARTED[action], None
    if action != "completed":
        return None
    conclusion = text(dig(p, "workflow_run", "conclusion"), 40)
    if not conclusion:
        # GitHub sets the conclusion with `completed`; one without it (seen in recorded examples)
        # says nothing about the deploy, so it must not fail it.
        return None
    if conclusion == "success":
        return "succeeded", None
    # failure, cancelled, timed_out, action_required, stale, neutral, skipped, startup_failure and
    # whatever GitHub adds later: the deploy did not happen as asked.
    return "failed", f"the GitHub Actions run concluded: {conclusion}"


def match(tx: Tx, policy: Policy, p: dict[str, Any]) -> Deployment | None:
    """The github_actions Deployment row a workflow_run delivery is about, if any."""
    run_id = dig(p, "workflow_run", "id")
    if not isinstance(run_id, int | str) or not str(run_id).isdigit() or len(str(run_id)) > 20:
        return None
    repo = text(dig(p, "workflow_run", "repository", "full_name") or dig(p, "repository", "full_name"), 140).lower()
    names = [name for name, spec in policy.executors.items()
             if isinstance(spec, GithubActionsExecutor) and spec.repo.lower() == repo]
    if not repo or not names:
        return None
    return tx.session.exec(select(Deployment).where(Deployment.external_id == str(run_id),
                                                    col(Deployment.executor).in_(names))
                           .order_by(col(Deployment.id).desc())).first()


def processor(deployments: DeploymentService, inbox: Inbox) -> Callable[[Tx, dict[str, Any]], bool]:
    """The ``workflow_run`` deployment handler of GitHubProcessor: True when the run is a deployment's."""

    def apply(tx: Tx, p: dict[str, Any]) -> bool:
        deployment = match(tx, deployments.policy, p)
        if deployment is None or deployment.id is None:
            return False
        found = state_of(p)
        if found is None or deployment.state in FINISHED:
            return True  # about this deployment, but nothing to report (or too late: the end stands)
        state, description = found
        url = text(dig(p, "workflow_run", "html_url"), 1000) or None
        url = url if url and url.startswith(("http://", "https://")) else None
        report_after_commit(deployments, inbox, deployment.id, state, url=url, description=description,
                            origin=executor_origin(deployment.executor, "hook:github"), event="workflow_run")
        return True

    return apply
