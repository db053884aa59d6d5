"""Executor configuration: every mistake stops start-up with a message naming the field."""

from __future__ import annotations

import base64

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
WEBHOOK = "executors:\n  deployer:\n    kind: webhook\n    url: {url}\n    secret_env: DEPLOYER_SECRET\n"
ACTIONS = "executors:\n  gh:\n    kind: github_actions\n    repo: acme/shop\n    workflow: d.yml\n    token_env: T\n"
STAGES = ("stages:\n  - {{name: dev, label: Dev}}\n  - {{name: staging, label: Staging, executor: {name}}}\n")


def _settings(tmp_path, text: str, **env: str):
    path = tmp_path / "policy.yml"
    path.write_text(text)
    return load_settings(WARROOM_CONFIG=str(path), **env)


def test_a_valid_executor_policy_loads(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOYER_SECRET", SECRET)
    settings = _settings(tmp_path, WEBHOOK.format(url="https://deploy.internal/warroom") + STAGES.format(
        name="deployer") + "default_service: shop\ndefault_repo: acme/shop\n",
                         WARROOM_PUBLIC_URL="https://warroom.example.com/")
    assert settings.policy.stage("staging").executor == "deployer"
    assert settings.policy.stage("staging").timeout_seconds == 1800
    assert settings.public_url == "https://warroom.example.com"
    assert settings.github_api_url == "https://api.github.com"


@pytest.mark.parametrize(("text", "env", "needle"), [
    (WEBHOOK.format(url="https://d.example") + STAGES.format(name="deplyer"), {},
     "stages.staging.executor names unknown executor 'deplyer'"),
    (WEBHOOK.format(url="ftp://d.example") + STAGES.format(name="deployer"), {}, "executors.deployer.webhook.url"),
    (WEBHOOK.format(url="https://d.example") + STAGES.format(name="deployer"), {"DEPLOYER_SECRET": ""},
     "'executors.deployer.secret_env': the environment variable DEPLOYER_SECRET is not set"),
    (WEBHOOK.format(url="https://d.example") + STAGES.format(name="deployer"), {"DEPLOYER_SECRET": "hunter2"},
     "whsec_"),
    ("executors:\n  gh:\n    kind: github_actions\n    repo: not-a-repo\n    workflow: d.yml\n    token_env: T\n",
     {}, "executors.gh.github_actions.repo"),
    (ACTIONS + "    token_input: call back\n", {},
     "'executors.gh.github_actions.token_input' in"),
    (ACTIONS + "    token_input: call back\n", {}, "'call back' is not a workflow input name"),
    (ACTIONS + "    token_input: Stage\n", {},
     "'Stage' is one of the inputs warroom sends already (version, stage, deployment_id, callback_url)"),
    (ACTIONS + "    token_input: 7\n", {}, "'executors.gh.github_actions.token_input' in"),
    ("executors:\n  gh:\n    kind: jenkins\n", {}, "executors.gh"),
    ("executors:\n  gh:\n    kind: github_deployments\n    repo: acme/shop\n    token_env: GH_TOKEN_UNSET\n",
     {}, "the environment variable GH_TOKEN_UNSET is not set"),
])
def test_executor_mistakes_name_the_field(tmp_path, monkeypatch, text: str, env: dict[str, str],
                                          needle: str) -> None:
    monkeypatch.setenv("DEPLOYER_SECRET", SECRET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, text, WARROOM_PUBLIC_URL="https://warroom.example.com")
    assert needle in err.value.message
    assert SECRET not in err.value.message


def test_public_url_is_required_with_an_executor_and_must_be_a_url(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOYER_SECRET", SECRET)
    text = WEBHOOK.format(url="https://d.example") + STAGES.format(name="deployer")
    with pytest.raises(ConfigError, match="WARROOM_PUBLIC_URL"):
        _settings(tmp_path, text)
    with pytest.raises(ConfigError, match="WARROOM_PUBLIC_URL"):
        _settings(tmp_path, text, WARROOM_PUBLIC_URL="warroom.example.com")
    with pytest.raises(ConfigError, match="GITHUB_API_URL"):
        load_settings(GITHUB_API_URL="not a url")


def test_start_fields_for_what_a_release_ships() -> None:
    from bot.errors import UsageError
    from bot.releases.requests import StartRelease

    req = StartRelease.build(version="v1", channel_id="C1", ref="0123456789ABCDEF0123456789abcdef01234567",
                             repo="acme/shop", service="")
    assert req.sha == "0123456789abcdef0123456789abcdef01234567" and req.service is None
    assert StartRelease.build(version="v1", channel_id="C1", ref="v1.2.3").sha is None
    with pytest.raises(UsageError, match="`repo=shop` is not valid; use `owner/name`"):
        StartRelease.build(version="v1", channel_id="C1", repo="shop")
    with pytest.raises(UsageError, match="`ref=a b` is not valid"):
        StartRelease.build(version="v1", channel_id="C1", ref="a b")


@pytest.mark.parametrize(("text", "needle"), [
    ("tasks:\n  preparation:\n    - {name: prep, title: Prepare, owner: bob}\n",
     "tasks.preparation.0.owner: 'bob' is neither a Slack user"),
    ("tasks:\n  launch:\n    - {name: prep, title: Prepare, owner: U0RM}\n", "tasks.launch"),
    ("tasks:\n  preparation:\n    - {name: prep, title: Prepare, owner: U0RM, requirements: [tag, tag]}\n",
     "requirements must differ; listed twice: tag"),
    ("stages:\n  - {name: dev, label: Dev}\n  - {name: staging, label: S, requires_tasks: [preparation]}\n",
     "stages.staging.requires_tasks names phase 'preparation', which has no tasks"),
])
def test_task_mistakes_name_the_field(tmp_path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, text)
    assert needle in err.value.message
