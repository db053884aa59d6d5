"""`/release`: parse the words, call one release service, reply ephemerally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.errors import UsageError
from bot.ids import parse_id
from bot.releases import modals, render
from bot.releases.requests import StartRelease
from bot.services import Services
from bot.text import clip, escape
from handlers.common import command_text, options, origin, split

START_KEYS = ("risk", "type", "severity", "incident", "ref", "repo", "service", "sha")
KEEP_CASE = ("ref", "repo", "service")
Reply = Callable[[Services, list[str], dict[str, Any]], str]


def _start(services: Services, words: list[str], body: dict[str, Any]) -> str:
    opts, rest = options(words, START_KEYS)
    if not rest:
        raise UsageError("Usage: `/release start <version> [risk=...] [type=...] [ref=...] [repo=...] "
                         "[service=...] [sha=...] [notes...]`")
    incident = opts.pop("incident", None)
    incident_id = parse_id(incident, "incident number", hash_ok=True) if incident is not None else None
    fields: dict[str, Any] = {k: (v.upper() if k == "severity" else v if k in KEEP_CASE else v.lower())
                              for k, v in opts.items()}
    req = StartRelease.build(version=rest[0], summary=" ".join(rest[1:]), channel_id=body["channel_id"],
                             incident_id=incident_id, **fields)
    view = services.releases.start(req, origin(body, "slack:/release start"))
    return f"Release {view.release.version} started; the announcement is in <#{view.release.channel_id}>."


def _need(words: list[str], usage: str) -> str:
    if not words:
        raise UsageError(f"Usage: `{usage}`")
    return words[0]


def _promote(services: Services, words: list[str], body: dict[str, Any]) -> str:
    view = services.releases.promote(_need(words, "/release promote <version>"), origin(body, "slack:/release"))
    if view.pending:
        label = services.policy.stage(view.pending.environment).label
        return (f"Deploying {view.release.version} to {label}: requested from {view.pending.executor}; "
                "the stage changes when it reports success.")
    return f"{view.release.version} is now at {services.policy.stage(view.release.stage).label}."


def _approve(services: Services, words: list[str], body: dict[str, Any]) -> str:
    view = services.releases.approve(_need(words, "/release approve <version>"), origin(body, "slack:/release"))
    return f"Approved {view.release.version} ({len(view.approvals)}/{view.needed})."


def _reject(services: Services, words: list[str], body: dict[str, Any]) -> str:
    version = _need(words, "/release reject <version> [reason]")
    view = services.releases.reject(version, origin(body, "slack:/release"), " ".join(words[1:]))
    return f"Rejected {view.release.version}."


def _rollback(services: Services, words: list[str], body: dict[str, Any]) -> str:
    version = _need(words, "/release rollback <version> <reason>")
    view = services.releases.rollback(version, origin(body, "slack:/release"), " ".join(words[1:]))
    if view.pending:
        return f"Rollback of {view.release.version} requested from {view.pending.executor}."
    return f"Rolled back {view.release.version}."


def _override(services: Services, words: list[str], body: dict[str, Any]) -> str:
    version = _need(words, "/release override <version> <reason>")
    view = services.releases.override_freeze(version, origin(body, "slack:/release"), " ".join(words[1:]))
    return f"Freeze overridden for {view.release.version}."


def _bypass(services: Services, words: list[str], body: dict[str, Any]) -> str:
    version = _need(words, "/release bypass <version> <reason>")
    waived = services.checks.bypass(version, origin(body, "slack:/release"), " ".join(words[1:]))
    return f"Bypassed for {escape(version)}: {escape(', '.join(waived))}."


def _status(services: Services, words: list[str], body: dict[str, Any]) -> str:
    view = services.releases.get(words[0]) if words else services.releases.latest_in(body["channel_id"])
    if view is None:
        return "No release has been started in this channel. `/release list` shows recent ones."
    return render.status_text(view, services.policy)


def _list(services: Services, words: list[str], body: dict[str, Any]) -> str:
    views = services.releases.recent(10)
    if not views:
        return "No releases yet. Start one with `/release start <version>`."
    return "*Recent releases*\n" + "\n".join(render.status_line(v, services.policy) for v in views)


def _metrics(services: Services, words: list[str], body: dict[str, Any]) -> str:
    period = "30d"
    if words and words[0].lower() in ("30d", "90d", "quarter"):
        period, words = words[0].lower(), words[1:]
    # "7d" is a period we do not offer, not a service called 7d.
    if len(words) > 1 or (words and words[0][:1].isdigit() and words[0][-1:].lower() in "dwmqy"):
        raise UsageError("Usage: `/release metrics [30d|90d|quarter] [service]`")
    return services.metrics.share(body["channel_id"], period, words[0] if words else None,
                                  origin(body, "slack:/release metrics"))


SUBCOMMANDS: dict[str, Reply] = {
    "start": _start, "promote": _promote, "approve": _approve, "reject": _reject, "rollback": _rollback,
    "override": _override, "bypass": _bypass, "status": _status, "list": _list, "metrics": _metrics,
    "help": lambda *_: render.HELP,
}


def register(app: App, services: Services) -> None:
    """Register `/release`."""

    @app.command("/release")
    def release_command(ack: Ack, body: dict[str, Any]) -> None:
        words = split(command_text(body))
        if not words or words == ["start"]:
            services.open_modal(body["trigger_id"], modals.start_modal(body["channel_id"]))
            ack()
            return
        handler = SUBCOMMANDS.get(words[0].lower())
        if handler is None:
            raise UsageError(f"Unknown subcommand `{escape(clip(words[0], 40))}`.\n{render.HELP}")
        ack(response_type="ephemeral", text=handler(services, words[1:], body))
