"""Incident messages: the pinned summary, the announcement, the topic and short replies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import blocks as bk
from bot.incidents.requests import ROLE_NAMES
from bot.incidents.state import CLOSED, INVESTIGATING, MITIGATED, OPEN, RESOLVED, describe
from bot.incidents.view import IncidentView, load
from bot.ops import Op
from bot.policy import Policy
from bot.text import clip, duration, escape, local_time, mention
from storage.models import Incident, TimelineEntry

_EMOJI = {INVESTIGATING: ":rotating_light:", MITIGATED: ":large_orange_circle:", RESOLVED: ":white_check_mark:",
          CLOSED: ":white_check_mark:"}
_KIND = {"declared": "declared", "update": "update", "decision": "decision", "role": "role",
         "mitigated": "mitigated", "resolved": "resolved", "followup": "follow-up", "postmortem": "post-mortem"}


def label(incident: Incident, policy: Policy) -> str:
    """`P1 Major degradation`."""
    sev = policy.severities.get(incident.severity)
    return f"{incident.severity} {sev.label}" if sev else incident.severity


def deadline(incident: Incident, policy: Policy, now: datetime) -> str:
    """The response deadline in words: when, whether met, or `next release` for P3."""
    sev = policy.severities.get(incident.severity)
    due = incident.response_due_at
    if sev is None or sev.response_seconds is None or due is None:
        return "next release"
    when = "immediate" if sev.response_seconds == 0 else local_time(due, policy.timezone)
    if incident.mitigated_at is not None:
        met = "met" if incident.mitigated_at <= due else "missed"
        return f"{when} ({met}: mitigated {local_time(incident.mitigated_at, policy.timezone)})"
    if incident.status not in OPEN:
        return when
    if now >= due:
        return when if sev.response_seconds == 0 else f"{when} (passed, not mitigated)"
    return f"{when} (in {duration((due - now).total_seconds())})"


def topic(incident: Incident, policy: Policy) -> str:
    """The war-room topic: severity, status, commander, title (plain text, 250 characters)."""
    return clip(f"{label(incident, policy)} | Status: {describe(incident.status)} | "
                f"Commander: {mention(incident.commander)} | {escape(incident.title)}", 250)


def _buttons(incident: Incident) -> list[Any]:
    value = {"i": incident.id}
    out: list[Any] = []
    if incident.status in OPEN:
        out += [bk.button("Post update", "incident_update", value, style="primary"),
                bk.button("Log decision", "incident_decision", value),
                bk.button("Assign role", "incident_role", value)]
        if incident.status == INVESTIGATING:
            out.append(bk.button("Mitigated", "incident_mitigated", value))
        out.append(bk.button("Resolve", "incident_resolve", value, style="danger", confirm=(
            "Resolve?", f"Resolve incident #{incident.id}? Status updates stop at once.", "Resolve")))
    if incident.status != CLOSED:
        out.append(bk.button("Start hotfix", "incident_hotfix", value))
    if incident.status == RESOLVED:
        out.append(bk.button("Post-mortem done", "incident_postmortem_done", value, style="primary"))
    return out


def summary(view: IncidentView, policy: Policy, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """The pinned war-room summary, updated in place as the incident moves."""
    i = view.incident
    tz = policy.timezone
    text = f"Incident #{i.id} ({i.severity}): {escape(i.title)}: {describe(i.status)}"
    fields = [
        f"*Severity*\n{label(i, policy)}",
        f"*Status*\n{_EMOJI.get(i.status, '')} {describe(i.status)}",
        f"*Commander*\n{mention(i.commander)}",
        f"*Comms*\n{mention(i.comms)}",
        f"*Scribe*\n{mention(i.scribe)}",
        f"*Declared*\n{local_time(i.declared_at, tz)}",
        f"*Response deadline*\n{deadline(i, policy, now)}",
    ]
    if i.status in OPEN and i.next_status_at:
        fields.append(f"*Next status update*\n{local_time(i.next_status_at, tz)}")
    if i.resolved_at:
        fields.append(f"*Time to resolve*\n{duration((i.resolved_at - i.declared_at).total_seconds())}")
    if i.postmortem_due_at:
        done = f"done {local_time(i.postmortem_done_at, tz)}" if i.postmortem_done_at else "due"
        fields.append(f"*Post-mortem*\n{done} (due {local_time(i.postmortem_due_at, tz)})")
    blocks: list[Any] = [bk.header(f"{i.severity} incident #{i.id}: {i.title}"), bk.section("", fields=fields)]
    if i.resolution_summary:
        blocks.append(bk.section(f"*Resolution*\n{escape(i.resolution_summary)}"))
    if view.hotfixes:
        blocks.append(bk.section("*Hotfixes*\n" + "\n".join(
            f"• {h.version}: {h.status}, stage {policy.stage(h.stage).label}" for h in view.hotfixes)))
    blocks.append(bk.context(f"Declared by {mention(i.declared_by)}. `/incident help` lists the commands."))
    buttons = _buttons(i)
    if buttons:
        blocks.append(bk.actions(*buttons, block_id=f"incident:{i.id}"))
    return text, bk.to_dicts(blocks)


def announcement(incident: Incident, policy: Policy, channel_id: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The incidents-channel announcement; links the war room once its channel exists."""
    where = f"<#{channel_id}>" if channel_id else f"#{incident.channel_name}"
    text = (f"{_EMOJI.get(incident.status, '')} {label(incident, policy)} incident #{incident.id} "
            f"declared by {mention(incident.declared_by)}: *{escape(incident.title)}*")
    body = f"{text}\nWar room: {where} · Commander: {mention(incident.commander)} · Status: {describe(incident.status)}"
    return text, bk.to_dicts([bk.section(body)])


Call = tuple[Op, dict[str, Any]]


def _post_or_update(args: dict[str, Any], text: str, blocks: list[dict[str, Any]]) -> Call:
    if args.get("ts"):
        return Op.UPDATE, {"channel": args["channel"], "ts": args["ts"], "text": text, "blocks": blocks}
    return Op.POST, {"channel": args["channel"], "text": text, "blocks": blocks}


def summary_call(s: Session, args: dict[str, Any], policy: Policy, now: datetime) -> Call | None:
    """Outbox renderer: the pinned summary as it stands when sent (post, or update in place)."""
    incident = s.get(Incident, args["incident_id"])
    if incident is None:
        return None
    return _post_or_update(args, *summary(load(s, incident), policy, now))


def announcement_call(s: Session, args: dict[str, Any], policy: Policy) -> Call | None:
    """Outbox renderer: the incidents-channel announcement, linking the war room once it exists."""
    incident = s.get(Incident, args["incident_id"])
    if incident is None:
        return None
    return _post_or_update(args, *announcement(incident, policy, incident.channel_id))


def channel_call(s: Session, args: dict[str, Any]) -> Call | None:
    """Outbox renderer: create the war-room channel under the incident's channel name."""
    incident = s.get(Incident, args["incident_id"])
    if incident is None:
        return None
    return Op.CREATE_CHANNEL, {"name": incident.channel_name}


def postmortem_reminder_blocks(text: str, incident: Incident) -> list[dict[str, Any]]:
    """The post-mortem reminder with its Post-mortem done button."""
    button = bk.button("Post-mortem done", "incident_postmortem_done", {"i": incident.id}, style="primary")
    return bk.to_dicts([bk.section(text), bk.actions(button)])


def status_line(incident: Incident) -> str:
    """One line about an incident for `/incident list`."""
    where = f"<#{incident.channel_id}>" if incident.channel_id else f"#{incident.channel_name}"
    return (f"• *#{incident.id}* {incident.severity} {escape(incident.title)}: {describe(incident.status)}, "
            f"commander {mention(incident.commander)}, {where}")


def status_text(view: IncidentView, policy: Policy, now: datetime) -> str:
    """The `/incident status` reply."""
    i = view.incident
    tz = policy.timezone
    lines = [status_line(i),
             f"  declared {local_time(i.declared_at, tz)} ({duration((now - i.declared_at).total_seconds())} ago), "
             f"response deadline: {deadline(i, policy, now)}"]
    if i.status in OPEN and i.next_status_at:
        lines.append(f"  next status update {local_time(i.next_status_at, tz)}")
    last = view.last_human_update
    if last:
        lines.append(f"  last update by {mention(last.actor)} at {local_time(last.at, tz)}: {escape(last.text)}")
    for f in view.open_followups:
        lines.append(f"  open follow-up [{f.id}]: {escape(f.text)}")
    if i.postmortem_due_at and not i.postmortem_done_at:
        lines.append(f"  post-mortem due {local_time(i.postmortem_due_at, tz)}")
    return "\n".join(lines)


def entry_line(entry: TimelineEntry, policy: Policy) -> str:
    """One timeline entry in mrkdwn: time, who, what (user text escaped)."""
    when = local_time(entry.at, policy.timezone, "%d %b %H:%M")
    what = entry.text
    if entry.kind == "role":
        what = f"{ROLE_NAMES.get(entry.detail.get('role', ''), 'role')}: {mention(entry.detail.get('user'))}"
        return f"• {when} {mention(entry.actor)} {_KIND['role']} → {what}"
    return f"• {when} {mention(entry.actor)} _{_KIND.get(entry.kind, entry.kind)}_: {escape(clip(what, 500))}"


def timeline_text(view: IncidentView, policy: Policy) -> str:
    """The `/incident timeline` reply (newest 40 entries)."""
    lines = [entry_line(e, policy) for e in view.entries[-40:]]
    for h in view.hotfixes:
        lines.append(f"• {local_time(h.created_at, policy.timezone, '%d %b %H:%M')} {mention(h.requested_by)} "
                     f"_hotfix_: {h.version} ({h.status})")
    head = f"*Timeline of incident #{view.incident.id}: {escape(view.incident.title)}*"
    return clip(head + "\n" + ("\n".join(lines) or "_empty_"), 3000)


def duties(role: str, incident: Incident) -> str:
    """The DM a new role holder gets."""
    tasks = {
        "commander": "You lead the response: set priorities, make and log decisions (`/incident decision`), "
                     "post an update at least every status interval (`/incident update`), and resolve the "
                     "incident (`/incident resolve`). You also own the post-mortem.",
        "comms": "You keep stakeholders informed: post updates (`/incident update`), relay customer impact, and "
                 "answer questions outside the war room so responders can focus.",
        "scribe": "You keep the record: log decisions (`/incident decision`) and follow-ups "
                  "(`/incident followup`), so the timeline and post-mortem are complete.",
    }
    where = f"<#{incident.channel_id}>" if incident.channel_id else f"#{incident.channel_name}"
    return (f"You are now the *{ROLE_NAMES[role]}* of incident #{incident.id} "
            f"({incident.severity}: {escape(incident.title)}) in {where}.\n{tasks[role]}")


def chunks(text: str, limit: int = 2900) -> list[dict[str, Any]]:
    """Long mrkdwn as section blocks split on line breaks, within Slack's limits."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines():
        if current and len(current) + len(line) + 1 > limit:
            parts.append(current)
            current = ""
        current = f"{current}\n{line}" if current else clip(line, limit)
    if current:
        parts.append(current)
    return bk.to_dicts([bk.section(p) for p in parts])


HELP = """*warroom incidents*
`/incident declare <P0|P1|P2|P3> <title> [caused_by=<version>]` open a war room (no arguments: a form)
`/incident update <text>` post a status update; the next automatic one moves a full interval later
`/incident decision <text>` log a decision · `/incident followup <text>` / `/incident followup done <n>`
`/incident role <commander|comms|scribe> @user` hand a role over (they get their duties by DM)
`/incident mitigated [note]` record the mitigation · `/incident resolve [summary]` stop updates, draft the post-mortem
`/incident postmortem done [link]` mark the post-mortem done · `/incident cause <version>` name the cause
`/incident timeline` show the timeline · `/incident export` post it as a Markdown file
`/incident status [id]`, `/incident list`, `/incident help`
Hotfix: the *Start hotfix* button, or `/release start <version> type=hotfix incident=<id>`"""
