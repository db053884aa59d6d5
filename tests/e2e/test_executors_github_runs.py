"""A github_actions executor answered by GitHub's workflow_run webhooks (matched by the run id the
dispatch returned), the token_input option, and a 422 for undeclared inputs: over HTTP, against a
loopback GitHub API, with deliveries signed as GitHub signs them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.executors import GITHUB_TOKEN, GitHub, write_policy
from tests.e2e.test_releases import REL, REQ, release, start
from tests.hooks.conftest import GITHUB_SECRET, checks, payload, processed
from tests.hooks.conftest import github as deliver

SHA = "0123456789abcdef0123456789abcdef01234567"
FOUR = ("version", "stage", "deployment_id", "callback_url")


@pytest.fixture
def gh() -> Iterator[GitHub]:
    """A running loopback GitHub API."""
    g = GitHub().start()
    yield g
    g.stop()


def actions_stack(make_stack: Callable[..., Stack], gh: GitHub, tmp_path: Any, monkeypatch: Any,
                  **executor: Any) -> Stack:
    """Staging deploys through a workflow_dispatch to acme/shop; a check watches the same workflow."""
    monkeypatch.setenv("GH_DEPLOY_TOKEN", GITHUB_TOKEN)
    policy = write_policy(tmp_path / "policy.yml", {
        "actions": {"kind": "github_actions", "repo": "acme/shop", "workflow": "deploy.yml", "ref": "main",
                    "token_env": "GH_DEPLOY_TOKEN", **executor},
    }, {"staging": "actions"}, checks=[{"name": "deploy-run", "match": "Deploy*"}])
    return make_stack(WARROOM_CONFIG=policy, WARROOM_PUBLIC_URL="http://bot.invalid", GITHUB_API_URL=gh.url,
                      GITHUB_WEBHOOK_SECRET=GITHUB_SECRET)


@pytest.fixture
def actions(make_stack: Callable[..., Stack], gh: GitHub, tmp_path: Any, monkeypatch: Any) -> Stack:
    """The executor with today's defaults (token_input: callback_token)."""
    return actions_stack(make_stack, gh, tmp_path, monkeypatch)


def run_event(run_id: int, action: str, conclusion: str | None = None, repo: str = "acme/shop",
              name: str = "Deploy") -> dict[str, Any]:
    """GitHub's recorded workflow_run.completed example, made the run the dispatch started."""
    body = copy.deepcopy(payload("github.workflow_run.completed"))
    run = body["workflow_run"]
    run.update(id=run_id, name=name, head_sha=SHA, conclusion=conclusion,
               status="completed" if action == "completed" else action,
               html_url=f"https://github.com/{repo}/actions/runs/{run_id}",
               updated_at="2021-12-16T19:41:07Z" if action == "completed" else run["updated_at"])
    run["repository"]["full_name"] = body["repository"]["full_name"] = repo
    body["action"] = action
    return body


def promoted(stack: Stack, gh: GitHub, version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start ``version`` and promote it to staging; (its announcement, the deployment with its run id)."""
    msg = start(stack, f"{version} risk=low ref={SHA} repo=acme/shop")
    stack.ws.command(REQ, REL, "/release", f"promote {version}")
    dep = stack.ws.wait_for(lambda: next((d for d in release(stack, version)["deployments"] if d["external_id"]),
                                         None), what="the run id recorded")
    return msg, dep


def deployment(stack: Stack, version: str) -> dict[str, Any]:
    """The release's latest deployment as the API shows it."""
    return release(stack, version)["deployments"][-1]


def test_a_successful_run_moves_the_release_and_counts_as_its_check(actions: Stack, gh: GitHub) -> None:
    stack = actions
    msg, dep = promoted(stack, gh, "v20.0.0")
    run_id = int(dep["external_id"])
    assert deliver(stack, "workflow_run", run_event(run_id, "in_progress")).status_code == 202
    stack.ws.wait_for(lambda: deployment(stack, "v20.0.0")["state"] == "in_progress", what="in progress")
    assert release(stack, "v20.0.0")["stage"] == "dev"
    done = run_event(run_id, "completed", "success")
    assert deliver(stack, "workflow_run", done, delivery="run-done").status_code == 202
    stack.ws.wait_for(lambda: release(stack, "v20.0.0")["stage"] == "staging", what="the release at staging")
    finished = deployment(stack, "v20.0.0")
    assert finished["state"] == "succeeded"
    assert finished["url"] == f"https://github.com/acme/shop/actions/runs/{run_id}"
    assert checks(stack, "v20.0.0")["deploy-run"].state == "passed"  # still a check, too
    stack.settle()

    def seen() -> tuple[Any, ...]:
        body = release(stack, "v20.0.0")
        return body["stage"], body["deployments"], len(stack.ws.thread(REL, msg["ts"]))

    before = seen()
    # GitHub's redelivery (same delivery id) is stored once; the same news again has no effect.
    assert deliver(stack, "workflow_run", done, delivery="run-done").json()["duplicate"] is True
    deliver(stack, "workflow_run", done)
    rows = processed(stack)
    assert len(rows) == 3 and all(r.error is None and r.matched for r in rows)
    stack.settle()
    assert seen() == before


@pytest.mark.parametrize("conclusion", ["failure", "cancelled", "startup_failure"])
def test_a_failed_run_fails_the_deploy_and_offers_the_rollback(actions: Stack, gh: GitHub, conclusion: str) -> None:
    stack = actions
    msg, dep = promoted(stack, gh, "v21.0.0")
    deliver(stack, "workflow_run", run_event(int(dep["external_id"]), "completed", conclusion))
    stack.ws.wait_for(lambda: deployment(stack, "v21.0.0")["state"] == "failed", what="the deploy failed")
    assert deployment(stack, "v21.0.0")["description"] == f"the GitHub Actions run concluded: {conclusion}"
    assert release(stack, "v21.0.0")["stage"] == "dev"
    failure = stack.ws.wait_for(lambda: next((m for m in stack.ws.thread(REL, msg["ts"])
                                              if "failed" in m["text"] and m.get("blocks")), None),
                                what="the failure in the thread")
    assert f"failed, reported by *actions*: the GitHub Actions run concluded: {conclusion}" in failure["text"]
    buttons = [e["action_id"] for b in failure["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "release_rollback" in buttons
    # A re-run of the same run (same id) succeeding later: the deployment's end stands.
    deliver(stack, "workflow_run", run_event(int(dep["external_id"]), "completed", "success"))
    assert all(r.processed_at and r.error is None for r in processed(stack))
    stack.settle()
    assert deployment(stack, "v21.0.0")["state"] == "failed" and release(stack, "v21.0.0")["stage"] == "dev"


def test_runs_of_other_ids_or_repos_change_nothing(actions: Stack, gh: GitHub) -> None:
    stack = actions
    _msg, dep = promoted(stack, gh, "v22.0.0")
    run_id = int(dep["external_id"])
    # Named unlike the policy's check, so only the deployment could have taken them.
    deliver(stack, "workflow_run", run_event(run_id + 1000, "completed", "success", name="Nightly"))
    deliver(stack, "workflow_run", run_event(run_id, "completed", "success", repo="acme/other", name="Nightly"))
    assert [r.matched for r in processed(stack)] == [False, False]
    # Its own run, `completed` without a conclusion (as in GitHub's recorded example): no news.
    deliver(stack, "workflow_run", run_event(run_id, "completed", None))
    assert [r.matched for r in processed(stack)] == [False, False, True]
    stack.settle()
    assert deployment(stack, "v22.0.0")["state"] == "requested"
    assert release(stack, "v22.0.0")["stage"] == "dev"


def test_token_input_null_sends_the_four_inputs_and_the_run_answers(
        make_stack: Callable[..., Stack], gh: GitHub, tmp_path: Any, monkeypatch: Any) -> None:
    gh.declared = FOUR  # a workflow that declares only the documented inputs
    stack = actions_stack(make_stack, gh, tmp_path, monkeypatch, token_input=None)
    _msg, dep = promoted(stack, gh, "v23.0.0")
    (call,) = gh.calls
    assert sorted(call["body"]["inputs"]) == sorted(FOUR)
    assert call["body"]["inputs"]["callback_url"].endswith(f"/hooks/deployments/{dep['id']}")
    deliver(stack, "workflow_run", run_event(int(dep["external_id"]), "completed", "success"))
    stack.ws.wait_for(lambda: release(stack, "v23.0.0")["stage"] == "staging", what="the release at staging")


def test_a_renamed_token_input_carries_the_token(make_stack: Callable[..., Stack], gh: GitHub, tmp_path: Any,
                                                 monkeypatch: Any) -> None:
    gh.declared = (*FOUR, "warroom_token")
    stack = actions_stack(make_stack, gh, tmp_path, monkeypatch, token_input="warroom_token")
    promoted(stack, gh, "v24.0.0")
    (call,) = gh.calls
    assert sorted(call["body"]["inputs"]) == sorted((*FOUR, "warroom_token"))
    assert len(call["body"]["inputs"]["warroom_token"]) >= 32


def test_undeclared_inputs_fail_the_deploy_with_the_fix(actions: Stack, gh: GitHub) -> None:
    stack = actions
    gh.declared = FOUR  # the workflow lacks callback_token: GitHub answers 422
    msg = start(stack, f"v25.0.0 risk=low ref={SHA} repo=acme/shop")
    stack.ws.command(REQ, REL, "/release", "promote v25.0.0")
    stack.ws.wait_for(lambda: deployment(stack, "v25.0.0")["state"] == "failed", what="the deploy failed")
    assert deployment(stack, "v25.0.0")["description"] == (
        'GitHub refused the workflow inputs (422 Unexpected inputs provided: ["callback_token"]): declare '
        "version, stage, deployment_id, callback_url and callback_token in workflow_dispatch.inputs, "
        "or set token_input: null")
    assert len(gh.calls) == 1 and release(stack, "v25.0.0")["stage"] == "dev"
    stack.ws.wait_for(lambda: any("or set token_input: null" in m["text"]
                                  for m in stack.ws.thread(REL, msg["ts"])), what="the reason in the thread")
