"""Settings from the environment (pydantic-settings), plus the policy they point at."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from bot.errors import ConfigError
from bot.policy import Policy, load_policy
from storage.upkeep import DEAD_ROWS
from storage.vocab import Severity

_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")


class Settings(BaseSettings):
    """Every environment setting warroom reads; a bad value names itself at start-up."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite:///./warroom.db", alias="DATABASE_URL")
    api_token: SecretStr | None = Field(default=None, alias="WARROOM_API_TOKEN")
    approvers: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="WARROOM_APPROVERS")
    freeze_days: Annotated[list[str] | None, NoDecode] = Field(default=None, alias="WARROOM_FREEZE_DAYS")
    timezone: str | None = Field(default=None, alias="WARROOM_TIMEZONE")
    config: str | None = Field(default=None, alias="WARROOM_CONFIG")
    status_interval: int | None = Field(default=None, ge=1, alias="WARROOM_STATUS_INTERVAL")
    postmortem_due: int | None = Field(default=None, ge=1, alias="WARROOM_POSTMORTEM_DUE")
    incidents_channel: str | None = Field(default=None, alias="WARROOM_INCIDENTS_CHANNEL")
    templates: str | None = Field(default=None, alias="WARROOM_TEMPLATES")
    channel_rate: float = Field(default=1.0, gt=0, alias="WARROOM_SLACK_CHANNEL_RATE")
    channel_burst: int = Field(default=10, ge=1, alias="WARROOM_SLACK_CHANNEL_BURST")
    github_webhook_secret: SecretStr | None = Field(default=None, alias="GITHUB_WEBHOOK_SECRET")
    alertmanager_token: SecretStr | None = Field(default=None, alias="ALERTMANAGER_TOKEN")
    grafana_webhook_secret: SecretStr | None = Field(default=None, alias="GRAFANA_WEBHOOK_SECRET")
    checks_webhook_secret: SecretStr | None = Field(default=None, alias="CHECKS_WEBHOOK_SECRET")
    bake_minutes: int | None = Field(default=None, ge=0, alias="WARROOM_BAKE_MINUTES")
    # Protects GET /metrics (Prometheus) when set; scrapers send it as a bearer token.
    metrics_token: SecretStr | None = Field(default=None, alias="WARROOM_METRICS_TOKEN")
    # With a folder, every release and incident is also kept there as a Markdown note.
    vault_dir: str | None = Field(default=None, alias="WARROOM_VAULT_DIR")
    scheduler_tick: float = Field(default=1.0, gt=0, alias="WARROOM_SCHEDULER_TICK")
    # Every replica together: calls per second to the whole workspace, and its burst.
    workspace_rate: float = Field(default=20.0, gt=0, alias="WARROOM_SLACK_WORKSPACE_RATE")
    workspace_burst: int = Field(default=100, ge=1, alias="WARROOM_SLACK_WORKSPACE_BURST")
    # Seconds a queued call is retried (Slack down, 429s) before it is marked failed.
    outbox_give_up: float = Field(default=86400.0, gt=0, alias="WARROOM_OUTBOX_GIVE_UP")
    # Seconds the ack path waits for the database before answering "cannot reach its database".
    db_timeout: float = Field(default=1.5, gt=0, le=10, alias="WARROOM_DB_TIMEOUT")
    # PostgreSQL: the worker vacuums a table of ours once it has this many dead rows (storage.upkeep);
    # 0 leaves that to the server's autovacuum alone.
    db_vacuum_dead_rows: int = Field(default=DEAD_ROWS, ge=0, alias="WARROOM_DB_VACUUM_DEAD_ROWS")
    github_api_url: str = Field(default="https://api.github.com", alias="GITHUB_API_URL")
    # The base of the callback URLs handed to executors (how they reach this bot).
    public_url: str | None = Field(default=None, alias="WARROOM_PUBLIC_URL")

    @field_validator("github_api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        from urllib.parse import urlsplit

        if not value:
            return None if info.field_name == "public_url" else "https://api.github.com"
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")
    # The HTTP edge (bot/edge.py): body limits in bytes, request rates per client address
    # (requests per second refilled, burst = bucket size; a rate of 0 turns the limit off).
    max_body: int = Field(default=1_048_576, ge=1024, alias="WARROOM_MAX_BODY_BYTES")
    hooks_max_body: int = Field(default=5_242_880, ge=1024, alias="WARROOM_HOOKS_MAX_BODY_BYTES")
    api_rate: float = Field(default=10.0, ge=0, alias="WARROOM_API_RATE")
    api_burst: int = Field(default=100, ge=1, alias="WARROOM_API_BURST")
    hooks_rate: float = Field(default=20.0, ge=0, alias="WARROOM_HOOKS_RATE")
    hooks_burst: int = Field(default=200, ge=1, alias="WARROOM_HOOKS_BURST")

    @field_validator("approvers", "freeze_days", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        # Comma-separated in the environment; an empty string means an empty list.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("approvers")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _ID.match(item):
                raise ValueError(f"{item!r} is not a Slack user ID (U...) or user-group ID (S...)")
        return value

    @field_validator("templates")
    @classmethod
    def _templates(cls, value: str | None) -> str | None:
        from pathlib import Path

        if value and not Path(value).is_dir():
            raise ValueError(f"{value!r} is not a folder of templates")
        return value or None

    @field_validator("vault_dir")
    @classmethod
    def _vault(cls, value: str | None) -> str | None:
        from pathlib import Path

        if value and not Path(value).expanduser().resolve().parent.is_dir():
            raise ValueError(f"{value!r}: its parent folder does not exist")
        return value or None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        if value:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Berlin") from exc
        return value

    @cached_property
    def policy(self) -> Policy:
        """The policy file merged over the defaults, with environment overrides applied."""
        overrides: dict[str, object] = {}
        if self.freeze_days is not None:
            overrides["freeze"] = {"days": self.freeze_days}
        if self.timezone:
            overrides["timezone"] = self.timezone
        war_room: dict[str, object] = {}
        if self.status_interval:
            war_room["status_interval_seconds"] = self.status_interval
            # The environment sets one cadence for every severity.
            overrides["severities"] = {s.value: {"status_interval_seconds": None} for s in Severity}
        if self.incidents_channel:
            war_room["incidents_channel"] = self.incidents_channel
        if war_room:
            overrides["war_room"] = war_room
        if self.bake_minutes is not None:
            # One bake time for every risk level (the policy sets one per level).
            overrides["risk_levels"] = {r: {"bake_minutes": self.bake_minutes}
                                        for r in ("low", "medium", "high", "critical")}
        if self.postmortem_due:
            overrides["postmortem"] = {"due_seconds": self.postmortem_due}
        return load_policy(self.config, overrides)

    @property
    def has_slack_credentials(self) -> bool:
        """True when a real Slack workspace is configured."""
        return bool(self.slack_bot_token and self.slack_signing_secret)


def load_settings(**overrides: Any) -> Settings:
    """Read settings (and validate the policy) or raise ConfigError naming the setting."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        raise ConfigError(f"{name}: {first['msg']}") from exc
    except SettingsError as exc:
        raise ConfigError(str(exc)) from exc
    policy = settings.policy  # validate now, not on the first request
    if any(stage.executor for stage in policy.stages) and not settings.public_url:
        raise ConfigError("WARROOM_PUBLIC_URL: a stage has an executor, so the bot needs the public base URL "
                          "executors call back to (e.g. https://warroom.example.com)")
    from bot.executors.config import resolve_executors

    resolve_executors(policy)  # a missing secret stops start-up here, naming the variable
    return settings
