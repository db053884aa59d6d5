"""GitHub deployment_status deliveries reach the executors' DeploymentService.report (issue 7).

To add after merging issue 7: copy this file to tests/hooks/ and github.deployment_status.json
(from @octokit/webhooks-examples 7.6.1, like the other payloads) to tests/hooks/payloads/.
It assumes DeploymentService.report maps GitHub's "success" to state "succeeded" and
"failure" to "failed", and that bot/app.py sets services.deployments before _add_hooks runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from storage.models import Deployment, Release
from tests.e2e.conftest import Stack
from tests.e2e.test_releases import start
from tests.hooks.conftest import github, payload, processed

SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"  # deployment.sha of the recorded payload


def _deployment(stack: Stack, version: str, environment: str) -> int:
    assert stack.runtime
    now = datetime.now(UTC)
    with stack.runtime.services.db.transaction() as tx:
        release = tx.session.exec(select(Release).where(Release.version == version)).one()
        row = Deployment(release_id=release.id, service="checkout", environment=environment, version=version,
                         kind="planned", executor="github", state="in_progress", requested_by="U0REQUEST",
                         requested_at=now, created_at=now, updated_at=now)
        tx.session.add(row)
        tx.session.flush()
        return row.id or 0


def _state(stack: Stack, deployment_id: int) -> str:
    assert stack.runtime
    with stack.runtime.services.db.read() as s:
        row = s.get(Deployment, deployment_id)
        assert row
        return row.state


def test_matched_by_warroom_deployment_id(hooked: Stack) -> None:
    start(hooked, f"v1.0.0 sha={SHA} service=checkout")
    dep = _deployment(hooked, "v1.0.0", "canary")
    body = payload("github.deployment_status")
    body["deployment"]["payload"] = {"warroom_deployment": dep}
    assert github(hooked, "deployment_status", body).status_code == 202
    assert processed(hooked)[0].matched is True
    hooked.ws.wait_for(lambda: _state(hooked, dep) == "succeeded", what="the deployment to succeed")


def test_matched_by_sha_and_environment_and_redelivery_is_a_noop(hooked: Stack) -> None:
    start(hooked, f"v1.0.1 sha={SHA} service=checkout")
    dep = _deployment(hooked, "v1.0.1", "production")
    body = payload("github.deployment_status")  # environment "production", no warroom payload
    body["deployment_status"]["state"] = "failure"
    github(hooked, "deployment_status", body, delivery="dep-1")
    assert github(hooked, "deployment_status", body, delivery="dep-1").json()["duplicate"] is True
    assert [r.matched for r in processed(hooked)] == [True]
    hooked.ws.wait_for(lambda: _state(hooked, dep) == "failed", what="the deployment to fail")


def test_unknown_deployment_is_stored_unmatched(hooked: Stack) -> None:
    body = payload("github.deployment_status")
    body["deployment"]["payload"] = {"warroom_deployment": 999999}
    assert github(hooked, "deployment_status", body).status_code == 202
    assert processed(hooked)[0].matched is False
