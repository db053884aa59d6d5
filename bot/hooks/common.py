"""Helpers the hook processors share: timestamps, matching a delivery to its release."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from bot.releases.state import ACTIVE
from bot.tx import Tx
from storage.models import Release

OPEN_SHAS = "open_release_shas"


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time from a payload (``Z`` or an offset), as aware UTC; None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if at.year < 1971:
        return None  # Alertmanager's "0001-01-01T00:00:00Z" means "not yet"
    return at.astimezone(UTC)


def text(value: Any, limit: int = 200) -> str:
    """A payload value as bounded text (a new field type from the provider never breaks us)."""
    if value is None:
        return ""
    return str(value)[:limit]


def open_release_for(tx: Tx, sha: str, repo: str | None) -> Release | None:
    """The open release shipping ``sha`` (and, when the release names its repo, from ``repo``)."""
    if not sha:
        return None
    if OPEN_SHAS not in tx.memo:
        # One query per batch of deliveries: most name a commit no open release ships.
        tx.memo[OPEN_SHAS] = set(tx.session.exec(select(Release.sha).where(
            Release.status == ACTIVE, col(Release.sha).is_not(None))))
    if sha[:64] not in tx.memo[OPEN_SHAS]:
        return None
    rows = tx.session.exec(select(Release).where(Release.sha == sha[:64], Release.status == ACTIVE)
                           .order_by(col(Release.id).desc())).all()
    for release in rows:
        if not release.repo or not repo or release.repo.lower() == repo.lower():
            return release
    return None


def dig(payload: Any, *path: str) -> Any:
    """payload[a][b]... or None when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(payload, dict):
            return None
        payload = payload.get(key)
    return payload
