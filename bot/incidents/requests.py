"""Typed requests for the incident workflow, validated before anything is stored."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from bot.errors import UsageError
from bot.releases.requests import check_version
from bot.text import clip, escape
from storage.vocab import Severity

SEVERITIES = tuple(Severity)
TITLE_MAX = 200
TEXT_MAX = 3000
ROLES = {"commander": "commander", "ic": "commander", "comms": "comms", "communications": "comms",
         "scribe": "scribe"}
ROLE_NAMES = {"commander": "incident commander", "comms": "communications lead", "scribe": "scribe"}
# Slack sends a mention as <@U123|name> or <@U123> (should_escape false); also take a bare ID.
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_BARE_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLUG_MAX = 48


def check_severity(value: str | None) -> Severity:
    """P0..P3 (any case), or UsageError listing the choices."""
    sev = (value or "").strip().upper()
    if sev not in SEVERITIES:
        given = escape(clip((value or "").strip(), 20)) or "(none)"
        raise UsageError(f"Unknown severity `{given}`; use one of P0, P1, P2, P3 (P0 is the most severe).",
                         field="severity")
    return Severity(sev)


def check_title(value: str | None) -> str:
    """A one-line title of at most 200 characters, or UsageError."""
    title = " ".join((value or "").split())
    if not title:
        raise UsageError("Give the incident a title, e.g. `/incident declare P1 checkout is failing`.",
                         field="title")
    if len(title) > TITLE_MAX:
        raise UsageError(f"That title is {len(title):,} characters long; keep it under {TITLE_MAX}.", field="title")
    return title


def check_text(value: str | None, usage: str, *, field: str = "text") -> str:
    """Non-empty user text of at most 3,000 characters, or UsageError showing ``usage``."""
    text = (value or "").strip()
    if not text:
        raise UsageError(f"Nothing to record; usage: `{usage}`.", field=field)
    if len(text) > TEXT_MAX:
        raise UsageError(f"That text is {len(text):,} characters long; keep it under {TEXT_MAX:,}.", field=field)
    return text


def parse_role(value: str | None) -> str:
    """commander, comms or scribe (ic and communications are accepted too)."""
    role = ROLES.get((value or "").strip().lower())
    if role is None:
        given = escape(clip((value or "").strip(), 30)) or "(none)"
        raise UsageError(f"Unknown role `{given}`; use commander, comms or scribe.", field="role")
    return role


def parse_user(value: str | None) -> str:
    """The user ID in a Slack mention (<@U123|name> or <@U123>) or a bare ID."""
    raw = (value or "").strip()
    found = _MENTION.match(raw)
    if found:
        return found.group(1)
    if _BARE_ID.match(raw):
        return raw
    raise UsageError("Mention the person, e.g. `/incident role comms @alice`.", field="user")


def parse_link(value: str | None) -> str | None:
    """A post-mortem link as typed or as Slack formats it (<https://x|label>); None when absent."""
    raw = (value or "").strip()
    if raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1].split("|", 1)[0]
    if not raw:
        return None
    if not re.match(r"^https?://[^\s<>|]+$", raw) or len(raw) > 1000:
        raise UsageError("Give the post-mortem as a link starting with https://.", field="link")
    return raw


def channel_name(title: str, at: datetime, tz: str) -> str:
    """``inc-<yyyymmdd>-<slug>``: lowercase ASCII, digits and hyphens, within Slack's 80 characters."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > _SLUG_MAX:
        slug = slug[:_SLUG_MAX].rsplit("-", 1)[0] or slug[:_SLUG_MAX]
    day = at.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    return f"inc-{day}-{slug or 'incident'}"


class DeclareIncident(BaseModel):
    """What `/incident declare` or the declare modal asks for."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    title: str
    channel_id: str = ""
    # The version (a release's) that caused it, for the delivery metrics.
    caused_by: str | None = None

    @classmethod
    def build(cls, severity: str | None, title: str | None, channel_id: str = "",
              caused_by: str | None = None) -> DeclareIncident:
        """Validate severity and title, raising UsageError naming the field."""
        cause = check_version(caused_by) if caused_by else None
        return cls(severity=check_severity(severity), title=check_title(title), channel_id=channel_id,
                   caused_by=cause)
