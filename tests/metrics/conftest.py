"""Metrics test helpers: history written through the import functions the API uses, on the
real services of tests/conftest.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.metrics.service import Window
from bot.services import Services
from bot.tx import Origin

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
IMPORTER = Origin(user="api:test", source="api:test")


def at(hours: float) -> datetime:
    """T0 plus ``hours``."""
    return T0 + timedelta(hours=hours)


class History:
    """Builds a history through the import API's functions; times are hours after T0."""

    def __init__(self, services: Services) -> None:
        self.s = services

    def dep(self, version: str, finished: float, *, kind: str = "planned", result: str = "success",
            started: float | None = None, service: str = "shop", env: str = "production",
            rolls_back: str | None = None, commits: list[tuple[str, float]] = (), **extra: Any) -> dict[str, Any]:
        """Import one deployment; commits are (sha, committed hours after T0)."""
        body = {"service": service, "environment": env, "version": version, "kind": kind, "result": result,
                "started_at": at(finished if started is None else started).isoformat(),
                "finished_at": at(finished).isoformat(), "rolls_back": rolls_back,
                "commits": [{"sha": sha, "committed_at": at(h).isoformat()} for sha, h in commits], **extra}
        return self.s.metrics.import_deployment(body, IMPORTER)

    def inc(self, declared: float, resolved: float | None, *, cause: str | None = None, service: str = "shop",
            title: str | None = None) -> dict[str, Any]:
        """Import one incident."""
        body = {"title": title or f"incident at {declared}", "severity": "P2", "declared_at": at(declared).isoformat(),
                "resolved_at": at(resolved).isoformat() if resolved is not None else None,
                "caused_by_version": cause, "service": service}
        return self.s.metrics.import_incident(body, IMPORTER)

    def report(self, start: float = 0, end: float = 24 * 28, service: str | None = None) -> dict[str, Any]:
        """The report for [T0+start h, T0+end h)."""
        return self.s.metrics.report(Window(at(start), at(end), service))


@pytest.fixture
def history(services: Services) -> History:
    """An empty history to build on."""
    return History(services)
