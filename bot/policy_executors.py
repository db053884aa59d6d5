"""The executors a policy may name (the system that deploys for a stage) and how each is reached."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    """A policy part: unknown keys are mistakes, and a loaded policy never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


REPO_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# GitHub's rule for workflow input ids (case-insensitive, so compared in lower case below).
_INPUT_NAME = r"[A-Za-z_][A-Za-z0-9_-]{0,99}"
# The inputs every workflow_dispatch carries; the callback token's input comes on top.
DISPATCH_INPUTS = ("version", "stage", "deployment_id", "callback_url")


class WebhookExecutor(Strict):
    """A Standard Webhooks-signed HTTP POST to the team's deployer."""

    kind: Literal["webhook"]
    url: str
    secret_env: str = Field(pattern=_ENV_NAME)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class GithubActionsExecutor(Strict):
    """A workflow_dispatch of one GitHub Actions workflow."""

    kind: Literal["github_actions"]
    repo: str = Field(pattern=REPO_PATTERN)
    workflow: str = Field(min_length=1)
    ref: str | None = None  # default: the release's ref
    token_env: str = Field(pattern=_ENV_NAME)
    # The workflow input that carries the callback token; null: only the four inputs are sent
    # (GitHub refuses inputs a workflow does not declare) and the answer is the workflow_run webhook.
    token_input: str | None = "callback_token"  # noqa: S105 (an input name, not a secret)

    @field_validator("token_input")
    @classmethod
    def _token_input(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(_INPUT_NAME, value):
            raise ValueError(f"{value!r} is not a workflow input name (a letter or _, then letters, digits, - or _)")
        if value.lower() in DISPATCH_INPUTS:
            raise ValueError(f"{value!r} is one of the inputs warroom sends already ({', '.join(DISPATCH_INPUTS)})")
        return value


class GithubDeploymentsExecutor(Strict):
    """A GitHub deployment (Deployments API) per request; environment = the stage's name."""

    kind: Literal["github_deployments"]
    repo: str = Field(pattern=REPO_PATTERN)
    token_env: str = Field(pattern=_ENV_NAME)


Executor = Annotated[WebhookExecutor | GithubActionsExecutor | GithubDeploymentsExecutor,
                     Field(discriminator="kind")]
