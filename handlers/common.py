"""Shared parsing for listeners: who is asking, from which request, and command words."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from bot.errors import UsageError
from bot.tx import Origin


def origin(body: dict[str, Any], source: str) -> Origin:
    """The Origin of a Slack payload: the user, the surface and an idempotency key."""
    user = body.get("user_id") or (body.get("user") or {}).get("id") or ""
    # trigger_id is unique per invocation; a re-delivery carries the same one.
    key = body.get("trigger_id")
    if body.get("type") == "block_actions" and body.get("actions"):
        action = body["actions"][0]
        key = f"{user}:{action.get('action_id')}:{action.get('action_ts')}"
    return Origin(user=user, source=source, request_id=f"{source}:{key}"[:128] if key else None)


# Slack sends slash-command text of a few thousand characters at most; anything longer is not
# from a person typing, and shlex.split is quadratic on some inputs (a signed 1 MB command cost 26 s).
MAX_COMMAND_TEXT = 4000


def command_text(body: dict[str, Any]) -> str:
    """The slash command's text, refused with a usage reply beyond MAX_COMMAND_TEXT characters."""
    text = body.get("text") or ""
    if not isinstance(text, str):
        raise UsageError("The command text must be text.")
    if len(text) > MAX_COMMAND_TEXT:
        raise UsageError(f"That command is {len(text):,} characters long; the limit is {MAX_COMMAND_TEXT:,}. "
                         "Put long notes in a thread or a linked document.")
    return text


# What shlex treats specially: text without any of these splits the same on its whitespace alone.
_PLAIN_WORDS = re.compile(r"[^\"'\\]*")
_SHLEX_SPACE = re.compile(r"[ \t\r\n]+")


def split(text: str) -> list[str]:
    """Split command text into words, honouring quotes when they balance (bounded like command_text)."""
    if len(text or "") > MAX_COMMAND_TEXT:
        raise UsageError(f"That text is over {MAX_COMMAND_TEXT:,} characters long.")
    if _PLAIN_WORDS.fullmatch(text or ""):
        # Most commands quote nothing; shlex reads them a character at a time in Python.
        return [word for word in _SHLEX_SPACE.split(text or "") if word]
    try:
        return shlex.split(text or "")
    except ValueError:
        return (text or "").split()


def options(words: list[str], known: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """Pull ``key=value`` words for ``known`` keys; the rest stays in order."""
    found: dict[str, str] = {}
    rest: list[str] = []
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key.lower() in known:
            if key.lower() in found:
                raise UsageError(f"`{key.lower()}=` is given twice.")
            found[key.lower()] = value
        else:
            rest.append(word)
    return found, rest


def button_value(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON value of the clicked button."""
    try:
        value = json.loads(body["actions"][0].get("value") or "{}")
    except (KeyError, IndexError, json.JSONDecodeError) as exc:
        raise UsageError("That button is out of date; run the command again.") from exc
    if not isinstance(value, dict):
        raise UsageError("That button is out of date; run the command again.")
    return value


def view_values(view: dict[str, Any]) -> dict[str, Any]:
    """Flatten a view's state to {action_id: value} (text, select, users, checkboxes, date)."""
    out: dict[str, Any] = {}
    for block in (view.get("state") or {}).get("values", {}).values():
        for action_id, element in block.items():
            kind = element.get("type")
            if kind == "plain_text_input":
                out[action_id] = element.get("value") or ""
            elif kind == "static_select":
                out[action_id] = (element.get("selected_option") or {}).get("value")
            elif kind == "users_select":
                out[action_id] = element.get("selected_user")
            elif kind == "checkboxes":
                out[action_id] = [o["value"] for o in element.get("selected_options") or []]
            elif kind == "datepicker":
                out[action_id] = element.get("selected_date")
    return out


def view_meta(view: dict[str, Any]) -> dict[str, Any]:
    """The JSON private_metadata a modal was opened with."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except (ValueError, TypeError) as exc:
        raise UsageError("This form is out of date; open it again.") from exc
    if not isinstance(meta, dict):
        raise UsageError("This form is out of date; open it again.")
    return meta
