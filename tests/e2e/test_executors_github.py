"""The GitHub executors against a loopback GitHub: the right paths, headers and bodies; the run
or deployment id GitHub answers with is recorded; the callback moves the release."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.executors import GITHUB_TOKEN, GitHub, report, write_policy
from tests.e2e.test_releases import AP1, REL, REQ, release, start

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def github() -> Iterator[GitHub]:
    """A running loopback GitHub API."""
    g = GitHub().start()
    yield g
    g.stop()


@pytest.fixture
def gh_stack(make_stack: Callable[..., Stack], github: GitHub, tmp_path, monkeypatch) -> Stack:
    """Staging deploys through a workflow_dispatch, canary through the Deployments API."""
    monkeypatch.setenv("GH_DEPLOY_TOKEN", GITHUB_TOKEN)
    policy = write_policy(tmp_path / "policy.yml", {
        "actions": {"kind": "github_actions", "repo": "acme/shop", "workflow": "deploy.yml", "ref": "main",
                    "token_env": "GH_DEPLOY_TOKEN"},
        "github": {"kind": "github_deployments", "repo": "acme/shop", "token_env": "GH_DEPLOY_TOKEN"},
    }, {"staging": "actions", "canary": "github"})
    return make_stack(WARROOM_CONFIG=policy, WARROOM_PUBLIC_URL="http://bot.invalid", GITHUB_API_URL=github.url)


def test_actions_dispatch_then_deployments_api(gh_stack: Stack, github: GitHub) -> None:
    stack = gh_stack
    msg = start(stack, f"v10.0.0 risk=low ref={SHA} repo=acme/shop")
    stack.ws.click(REQ, REL, msg["ts"], "release_promote")
    stack.ws.wait_for(lambda: github.calls, what="the workflow dispatch")
    (call,) = github.calls
    assert call["path"] == "/repos/acme/shop/actions/workflows/deploy.yml/dispatches"
    assert call["auth"] == f"Bearer {GITHUB_TOKEN}" and call["api_version"] == "2022-11-28"
    inputs = call["body"]["inputs"]
    assert call["body"]["ref"] == "main"
    assert (inputs["version"], inputs["stage"]) == ("v10.0.0", "staging")
    body = release(stack, "v10.0.0")
    dep = body["deployments"][0]
    assert inputs["deployment_id"] == str(dep["id"])
    assert inputs["callback_url"].endswith(f"/hooks/deployments/{dep['id']}")
    assert body["sha"] == SHA and body["ref"] == SHA and body["repo"] == "acme/shop"
    stack.ws.wait_for(lambda: release(stack, "v10.0.0")["deployments"][0]["external_id"] == "4242",
                      what="the run id recorded")
    assert release(stack, "v10.0.0")["deployments"][0]["url"] == "https://github.test/acme/shop/actions/runs/4242"
    assert report(inputs["callback_url"], inputs["callback_token"], "succeeded").status_code == 200
    assert release(stack, "v10.0.0")["stage"] == "staging"

    stack.ws.click(AP1, REL, msg["ts"], "release_approve")
    stack.settle()
    resp = stack.ws.command(REQ, REL, "/release", "promote v10.0.0")
    assert "requested from github" in resp.json()["text"]
    stack.ws.wait_for(lambda: len(github.calls) == 2, what="the deployment")
    call = github.calls[1]
    assert call["path"] == "/repos/acme/shop/deployments"
    dep = release(stack, "v10.0.0")["deployments"][1]
    assert call["body"]["ref"] == SHA and call["body"]["environment"] == "canary"
    assert call["body"]["auto_merge"] is False and call["body"]["production_environment"] is True
    assert call["body"]["payload"]["warroom_deployment"] == dep["id"]
    stack.ws.wait_for(lambda: release(stack, "v10.0.0")["deployments"][1]["external_id"] == "9001",
                      what="the GitHub deployment id recorded")
    # GitHub's deployment_status webhooks (issue 8) land on the same service call.
    services = stack.runtime.services  # type: ignore[union-attr]
    from bot.deployments.service import executor_origin

    row = services.deployments.get(dep["id"])
    services.deployments.report(dep["id"], "succeeded", origin=executor_origin(row.executor, "hook:github"))
    services.deployments.report(dep["id"], "succeeded", origin=executor_origin(row.executor, "hook:github"))
    assert release(stack, "v10.0.0")["stage"] == "canary"
