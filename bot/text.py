"""Text helpers for Slack messages: mrkdwn escaping and length limits."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

_SLACK_ID = re.compile(r"^[UWB][A-Z0-9]{2,}$")


def escape(text: str | None) -> str:
    """Escape user text for mrkdwn so it cannot ping (<!channel>) or forge links (<url|x>)."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def mention(user_id: str | None) -> str:
    """A user mention for a Slack ID we stored ourselves; another actor (an API token's name,
    warroom itself) is shown as its escaped name."""
    if not user_id:
        return "_nobody_"
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else f"*{escape(user_id)}*"


def local_time(at: datetime | None, tz: str, fmt: str = "%a %d %b %H:%M %Z") -> str:
    """``at`` shown in the team's time zone."""
    if at is None:
        return "-"
    return at.astimezone(ZoneInfo(tz)).strftime(fmt)


def duration(seconds: float) -> str:
    """A short human duration: 45s, 12m, 3h 05m, 2d 4h."""
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"
