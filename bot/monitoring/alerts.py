"""Parse Alertmanager (webhook version 4) and Grafana contact-point bodies into alerts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import UsageError
from bot.hooks.common import parse_time, text


@dataclass(frozen=True)
class Alert:
    """One alert of a notification, whatever sent it."""

    fingerprint: str
    status: str  # firing | resolved (anything else is kept as text and ignored)
    name: str
    severity: str | None
    service: str | None
    summary: str
    labels: dict[str, str]
    url: str | None
    starts_at: datetime | None
    ends_at: datetime | None


def check_body(data: Any) -> None:
    """UsageError unless ``data`` looks like an Alertmanager/Grafana notification."""
    if not isinstance(data, dict):
        raise UsageError("the body must be a JSON object")
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise UsageError("alerts: a list of alerts is required (Alertmanager webhook version 4)")
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels", {}), dict):
            raise UsageError(f"alerts.{i}: each alert is an object with a labels object")


def parse(data: dict[str, Any]) -> list[Alert]:
    """The alerts of a stored notification (already checked by ``check_body``)."""
    out = []
    common: dict[str, Any] = data["commonAnnotations"] if isinstance(data.get("commonAnnotations"), dict) else {}
    for raw in data.get("alerts") or []:
        if not isinstance(raw, dict):
            continue
        labels = {text(k, 100): text(v, 500) for k, v in (raw.get("labels") or {}).items()}
        notes: dict[str, Any] = raw["annotations"] if isinstance(raw.get("annotations"), dict) else {}
        summary = text(notes.get("summary") or notes.get("description") or common.get("summary")
                       or data.get("title"), 1000)
        fingerprint = text(raw.get("fingerprint"), 128) or hashlib.sha256(
            json.dumps(labels, sort_keys=True).encode()).hexdigest()[:32]
        url = text(raw.get("generatorURL") or raw.get("panelURL") or raw.get("dashboardURL"), 1000) or None
        out.append(Alert(
            fingerprint=fingerprint, status=text(raw.get("status") or data.get("status"), 16).lower(),
            name=labels.get("alertname", "alert"), severity=labels.get("severity") or None,
            service=labels.get("service") or None, summary=summary, labels=labels, url=url,
            starts_at=parse_time(raw.get("startsAt")), ends_at=parse_time(raw.get("endsAt")),
        ))
    return out


class AlertBody(BaseModel):
    """One alert of an Alertmanager (webhook version 4) or Grafana notification."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="firing | resolved")
    labels: dict[str, str] = Field(description="alertname, service, severity, ...")
    annotations: dict[str, str] = {}
    startsAt: str | None = None  # noqa: N815 (the provider's field name)
    endsAt: str | None = None  # noqa: N815
    generatorURL: str | None = None  # noqa: N815
    fingerprint: str | None = None


class AlertNotification(BaseModel):
    """The body Alertmanager's webhook_config (and Grafana's webhook contact point) POSTs."""

    model_config = ConfigDict(extra="allow")

    version: str | None = Field(default=None, examples=["4"])
    groupKey: str | None = None  # noqa: N815
    status: str | None = Field(default=None, description="firing | resolved")
    receiver: str | None = None
    alerts: list[AlertBody]
