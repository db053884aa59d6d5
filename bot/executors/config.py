"""The policy's executors with their secrets read from the environment, checked at start-up."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass

from bot.errors import ConfigError
from bot.policy import Policy
from bot.policy_executors import Executor, WebhookExecutor


@dataclass(frozen=True)
class ResolvedExecutor:
    """One executor from the policy with its secret (a whsec_ key or a GitHub token)."""

    name: str
    spec: Executor
    secret: str = ""

    @property
    def kind(self) -> str:
        """webhook, github_actions or github_deployments."""
        return self.spec.kind

    def __repr__(self) -> str:  # never print the secret
        return f"ResolvedExecutor({self.name!r}, kind={self.kind!r})"


def _check_whsec(field: str, value: str) -> None:
    key = value.removeprefix("whsec_")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not value.startswith("whsec_") or len(raw) < 16:
        raise ConfigError(f"{field}: the secret must look like whsec_<base64 of 16+ random bytes> "
                          "(Standard Webhooks)")


def resolve_executors(policy: Policy, environ: Mapping[str, str] | None = None) -> dict[str, ResolvedExecutor]:
    """Every executor of the policy with its secret, or ConfigError naming the policy field."""
    env = os.environ if environ is None else environ
    out: dict[str, ResolvedExecutor] = {}
    for name, spec in policy.executors.items():
        var = spec.secret_env if isinstance(spec, WebhookExecutor) else spec.token_env
        field = f"executors.{name}.{'secret_env' if isinstance(spec, WebhookExecutor) else 'token_env'}"
        value = env.get(var, "").strip()
        if not value:
            raise ConfigError(f"policy field '{field}': the environment variable {var} is not set")
        if isinstance(spec, WebhookExecutor):
            _check_whsec(f"policy field '{field}' ({var})", value)
        out[name] = ResolvedExecutor(name, spec, value)
    return out
