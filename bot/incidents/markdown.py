"""The timeline as a Markdown document: YAML front matter, one heading per day, local times."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.incidents.requests import ROLE_NAMES
from bot.incidents.view import IncidentView
from bot.policy import Policy
from storage.models import TimelineEntry

_KIND = {"declared": "Declared", "update": "Update", "decision": "Decision", "role": "Role",
         "mitigated": "Mitigated", "resolved": "Resolved", "followup": "Follow-up", "postmortem": "Post-mortem",
         "hotfix": "Hotfix"}


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at else "null"


def _text(entry: TimelineEntry) -> str:
    if entry.kind == "role":
        return f"{ROLE_NAMES.get(entry.detail.get('role', ''), 'role')} is now @{entry.detail.get('user')}"
    if entry.kind == "followup" and not entry.detail.get("open", True):
        return f"{entry.text} (closed)"
    return entry.text


def _indent(text: str) -> str:
    # Keep multi-line user text inside its list item.
    return "\n  ".join(line.rstrip() for line in text.strip().splitlines()) or "-"


def filename(view: IncidentView) -> str:
    """`incident-3-timeline.md`."""
    return f"incident-{view.incident.id}-timeline.md"


def timeline_markdown(view: IncidentView, policy: Policy) -> str:
    """The whole timeline (entries and hotfixes) in the team's time zone."""
    i = view.incident
    tz = ZoneInfo(policy.timezone)
    front = {
        "incident": i.id, "title": json.dumps(i.title), "severity": i.severity, "status": i.status,
        "commander": i.commander, "comms": i.comms or "null", "scribe": i.scribe or "null",
        "channel": i.channel_id or "null", "declared_at": _iso(i.declared_at), "mitigated_at": _iso(i.mitigated_at),
        "resolved_at": _iso(i.resolved_at), "postmortem_due_at": _iso(i.postmortem_due_at),
        "timezone": policy.timezone,
    }
    lines = ["---", *(f"{k}: {v}" for k, v in front.items()), "---", "",
             f"# Incident {i.id}: {i.title}", ""]
    rows: list[tuple[datetime, str, str, str]] = [(e.at, e.kind, e.actor, _text(e)) for e in view.entries]
    rows += [(h.created_at, "hotfix", h.requested_by, f"{h.version} ({h.status})") for h in view.hotfixes]
    rows.sort(key=lambda r: r[0])
    day = None
    for at, kind, actor, text in rows:
        local = at.astimezone(tz)
        if local.date() != day:
            lines += [""] if day else []
            day = local.date()
            lines += [f"## {local.strftime('%Y-%m-%d (%A)')}", ""]
        lines.append(f"- **{local.strftime('%H:%M')}** {_KIND.get(kind, kind)} by @{actor}: {_indent(text)}")
    if not rows:
        lines.append("_No entries._")
    return "\n".join(lines).rstrip() + "\n"
