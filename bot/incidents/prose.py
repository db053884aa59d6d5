"""Prose from Jinja2 templates: the status update and the post-mortem draft.

Templates live in bot/templates; a team may override any of them from its own folder
(WARROOM_TEMPLATES). They produce Slack mrkdwn, not HTML, so autoescape is off and every
piece of user text is escaped with bot.text.escape before it reaches a template.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.incidents.render import label
from bot.incidents.requests import ROLE_NAMES
from bot.incidents.state import describe
from bot.incidents.view import IncidentView
from bot.policy import Policy
from bot.text import duration, escape, local_time, mention
from storage.models import TimelineEntry

SHIPPED = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=8)
def environment(override_dir: str | None = None) -> Environment:
    """A Jinja2 environment that looks in ``override_dir`` first, then the shipped templates."""
    paths = [override_dir, str(SHIPPED)] if override_dir else [str(SHIPPED)]
    # Slack mrkdwn, not HTML: HTML autoescaping would be wrong; user text is escaped before rendering.
    return Environment(loader=FileSystemLoader(paths), autoescape=False,  # noqa: S701
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _entry(e: TimelineEntry, tz: str) -> dict[str, Any]:
    text = escape(e.text)
    if e.kind == "role":
        text = f"{ROLE_NAMES.get(e.detail.get('role', ''), 'role')}: {mention(e.detail.get('user'))}"
    return {"id": e.id, "when": local_time(e.at, tz, "%d %b %H:%M"), "who": mention(e.actor), "kind": e.kind,
            "text": text}


def _base(view: IncidentView, policy: Policy, now: datetime) -> dict[str, Any]:
    i = view.incident
    return {
        "id": i.id, "title": escape(i.title), "severity": i.severity, "label": label(i, policy),
        "status": describe(i.status), "commander": mention(i.commander), "comms": mention(i.comms),
        "scribe": mention(i.scribe), "declared": local_time(i.declared_at, policy.timezone),
        "elapsed": duration((now - i.declared_at).total_seconds()),
        "followups": [_entry(e, policy.timezone) for e in view.open_followups],
    }


def status_update(view: IncidentView, policy: Policy, now: datetime, *, since: datetime, next_due: datetime,
                  missed: int, ping: tuple[bool, bool], template_dir: str | None = None) -> str:
    """The automatic status update; ``ping`` says whether to ping (commander, comms)."""
    i = view.incident
    tz = policy.timezone
    last = view.last_human_update
    interval = duration(policy.interval_for(i.severity))
    pings = ""
    if ping[0]:
        pings = f"{mention(i.commander)} no human update for {interval}: please post one with `/incident update`."
    if ping[1]:
        comms = mention(i.comms) if i.comms else "No comms lead is assigned (`/incident role comms @user`)."
        pings += f" {comms} {missed} automatic updates in a row without a human one."
    ctx = _base(view, policy, now) | {
        "last_update": None if last is None else {
            "text": escape(last.text), "who": mention(last.actor), "when": local_time(last.at, tz),
            "ago": duration((now - last.at).total_seconds())},
        "decisions": [_entry(e, tz) for e in view.of_kind("decision") if e.at > since],
        "next_due": local_time(next_due, tz), "next_in": duration((next_due - now).total_seconds()),
        "missed": missed, "pings": pings,
    }
    return environment(template_dir).get_template("status_update.md.j2").render(ctx).strip()


def postmortem(view: IncidentView, policy: Policy, now: datetime, template_dir: str | None = None) -> str:
    """The post-mortem draft, rendered from the timeline at the resolve."""
    i = view.incident
    tz = policy.timezone
    mitigated = (duration((i.mitigated_at - i.declared_at).total_seconds()) if i.mitigated_at else None)
    resolved = (duration((i.resolved_at - i.declared_at).total_seconds()) if i.resolved_at else None)
    ctx = _base(view, policy, now) | {
        "summary": escape(i.resolution_summary) if i.resolution_summary else None,
        "resolved": local_time(i.resolved_at, tz), "time_to_mitigate": mitigated, "time_to_resolve": resolved,
        "response_deadline": local_time(i.response_due_at, tz) if i.response_due_at else "next release",
        "timeline": [_entry(e, tz) for e in view.entries],
        "decisions": [_entry(e, tz) for e in view.of_kind("decision")],
        "action_items": [_entry(e, tz) for e in view.of_kind("followup")],
        "hotfixes": [{"version": h.version, "status": h.status} for h in view.hotfixes],
        "postmortem_due": local_time(i.postmortem_due_at, tz) if i.postmortem_due_at else "-",
    }
    return environment(template_dir).get_template("postmortem.md.j2").render(ctx).strip()
