"""`/incident`: parse the words, call one incident service, reply ephemerally."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.errors import UsageError
from bot.ids import parse_id
from bot.incidents import modals, render
from bot.incidents.requests import DeclareIncident, parse_link, parse_role, parse_user
from bot.incidents.view import IncidentView
from bot.services import Services
from bot.text import clip, escape
from handlers.common import command_text, origin

SOURCE = "slack:/incident"
Reply = Callable[[Services, str, dict[str, Any]], str]


def _incident_id(word: str) -> int:
    return parse_id(word, "incident number", hash_ok=True)


def _head(rest: str) -> tuple[str, str]:
    """The first word and the raw text after it (free text keeps its quotes and spacing)."""
    parts = re.split(r"\s+", rest.strip(), maxsplit=1)
    return parts[0], (parts[1] if len(parts) > 1 else "")


_CAUSED_BY = re.compile(r"(?:^|\s)caused_by=(\S+)")


def _declare(services: Services, rest: str, body: dict[str, Any]) -> str:
    found = _CAUSED_BY.search(rest)
    cause = found.group(1) if found else None
    if found:
        rest = rest[:found.start()] + " " + rest[found.end():]
    severity, title = _head(rest)
    req = DeclareIncident.build(severity, title, body["channel_id"], cause)
    i = services.incidents.declare(req, origin(body, f"{SOURCE} declare")).incident
    return (f"Incident #{i.id} ({i.severity}) declared. The war room #{i.channel_name} is being set up and "
            "you are its commander; status updates will follow there.")


def _update(services: Services, rest: str, body: dict[str, Any]) -> str:
    services.incidents.update(body["channel_id"], rest, origin(body, SOURCE))
    return "Update posted; the next automatic update moves a full interval later."


def _decision(services: Services, rest: str, body: dict[str, Any]) -> str:
    services.incidents.decision(body["channel_id"], rest, origin(body, SOURCE))
    return "Decision logged."


def _followup(services: Services, rest: str, body: dict[str, Any]) -> str:
    first, tail = _head(rest)
    if first.lower() == "done":
        services.incidents.close_followup(body["channel_id"], _incident_id(tail.strip()), origin(body, SOURCE))
        return "Follow-up closed."
    services.incidents.followup(body["channel_id"], rest, origin(body, SOURCE))
    return "Follow-up recorded."


def _role(services: Services, rest: str, body: dict[str, Any]) -> str:
    words = rest.split()
    if len(words) != 2:
        raise UsageError("Usage: `/incident role <commander|comms|scribe> @user`")
    role, user = parse_role(words[0]), parse_user(words[1])
    services.incidents.assign_role(body["channel_id"], role, user, origin(body, SOURCE))
    return f"<@{user}> is now the {role}; they got their duties by DM."


def _mitigated(services: Services, rest: str, body: dict[str, Any]) -> str:
    i = services.incidents.mitigate(body["channel_id"], origin(body, SOURCE), rest).incident
    return f"Incident #{i.id} marked mitigated."


def _resolve(services: Services, rest: str, body: dict[str, Any]) -> str:
    i = services.incidents.resolve(body["channel_id"], origin(body, SOURCE), rest).incident
    return f"Incident #{i.id} resolved; status updates stopped and the post-mortem draft is in the channel."


def _postmortem(services: Services, rest: str, body: dict[str, Any]) -> str:
    first, tail = _head(rest)
    if first.lower() != "done":
        raise UsageError("Usage: `/incident postmortem done [link]`")
    i = services.incidents.postmortem_done(body["channel_id"], origin(body, SOURCE), parse_link(tail)).incident
    return f"Post-mortem of incident #{i.id} marked done; its reminders stopped."


def _hotfix(services: Services, rest: str, body: dict[str, Any]) -> str:
    version = rest.strip()
    if not version:
        raise UsageError("Usage: `/incident hotfix <version>` (in the war room)")
    view = services.incidents.start_hotfix(body["channel_id"], version, origin(body, SOURCE), body["channel_id"])
    return f"Hotfix {view.release.version} started at stage {services.policy.stage(view.release.stage).label}."


def _cause(services: Services, rest: str, body: dict[str, Any]) -> str:
    version = rest.strip()
    if not version or " " in version:
        raise UsageError("Usage: `/incident cause <version>` (in the war room)")
    services.incidents.cause(body["channel_id"], version, origin(body, SOURCE))
    return f"Recorded: this incident was caused by {escape(version)}; the delivery metrics count it."


def _where(rest: str, body: dict[str, Any]) -> int | str:
    return _incident_id(rest.strip()) if rest.strip() else body["channel_id"]


def _timeline(services: Services, rest: str, body: dict[str, Any]) -> str:
    return render.timeline_text(services.incidents.get(_where(rest, body)), services.policy)


def _export(services: Services, rest: str, body: dict[str, Any]) -> str:
    i = services.incidents.export(_where(rest, body), origin(body, SOURCE)).incident
    return f"The timeline of incident #{i.id} is being posted to its war room as a Markdown file."


def _status(services: Services, rest: str, body: dict[str, Any]) -> str:
    found: IncidentView | None
    if rest.strip():
        found = services.incidents.get(_incident_id(rest.strip()))
    else:
        found = services.incidents.by_channel(body["channel_id"])
    if found is None:
        return _list(services, "", body)
    return render.status_text(found, services.policy, services.clock.now())


def _list(services: Services, rest: str, body: dict[str, Any]) -> str:
    views = services.incidents.list(15)
    if not views:
        return "No incidents yet. Declare one with `/incident declare <P0|P1|P2|P3> <title>`."
    return "*Recent incidents*\n" + "\n".join(render.status_line(v.incident) for v in views)


SUBCOMMANDS: dict[str, Reply] = {
    "declare": _declare, "update": _update, "decision": _decision, "decide": _decision, "followup": _followup,
    "role": _role, "mitigated": _mitigated, "mitigate": _mitigated, "resolve": _resolve,
    "postmortem": _postmortem, "hotfix": _hotfix, "cause": _cause, "timeline": _timeline, "export": _export,
    "status": _status, "list": _list, "help": lambda *_: render.HELP,
}


def register(app: App, services: Services) -> None:
    """Register `/incident`."""

    @app.command("/incident")
    def incident_command(ack: Ack, body: dict[str, Any]) -> None:
        sub, rest = _head(command_text(body))
        if not sub or (sub.lower() == "declare" and not rest.strip()):
            services.open_modal(body["trigger_id"], modals.declare_modal(body["channel_id"], services.policy))
            ack()
            return
        handler = SUBCOMMANDS.get(sub.lower())
        if handler is None:
            raise UsageError(f"Unknown subcommand `{escape(clip(sub, 40))}`.\n{render.HELP}")
        ack(response_type="ephemeral", text=handler(services, rest, body))
