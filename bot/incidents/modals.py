"""Incident modals: declare, post an update, log a decision, assign a role, start a hotfix."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.incidents.requests import ROLE_NAMES, SEVERITIES, TEXT_MAX, TITLE_MAX
from bot.policy import Policy
from bot.releases.requests import VERSION_MAX

DECLARE = "incident_declare"
UPDATE = "incident_update"
DECISION = "incident_decision"
ROLE = "incident_role"
HOTFIX = "incident_hotfix"


def _text(block_id: str, label: str, *, multiline: bool = False, max_length: int = TEXT_MAX) -> InputBlock:
    return InputBlock(block_id=block_id, label=PlainTextObject(text=label), optional=False,
                      element=PlainTextInputElement(action_id=block_id, multiline=multiline, max_length=max_length))


def _select(block_id: str, label: str, options: list[Option], initial: Option | None = None) -> InputBlock:
    return InputBlock(block_id=block_id, label=PlainTextObject(text=label),
                      element=StaticSelectElement(action_id=block_id, options=options, initial_option=initial))


def _modal(callback_id: str, title: str, submit: str, blocks: list[Any], meta: dict[str, Any]) -> dict[str, Any]:
    view = View(type="modal", callback_id=callback_id, title=PlainTextObject(text=title[:24]),
                submit=PlainTextObject(text=submit), close=PlainTextObject(text="Cancel"),
                blocks=blocks, private_metadata=json.dumps(meta))
    view.validate_json()
    return view.to_dict()


def declare_modal(channel_id: str, policy: Policy) -> dict[str, Any]:
    """The form `/incident` opens with no arguments."""
    options = [Option(value=s, label=f"{s} {policy.severities[s].label}"[:75]) for s in SEVERITIES]
    blocks = [_select("severity", "Severity", options, options[1]),
              _text("title", "What is broken?", max_length=TITLE_MAX)]
    return _modal(DECLARE, "Declare an incident", "Declare", blocks, {"channel_id": channel_id})


def text_modal(kind: str, incident_id: int) -> dict[str, Any]:
    """Ask for a status update or a decision."""
    if kind == UPDATE:
        block = _text("text", "What is happening now?", multiline=True)
        return _modal(UPDATE, f"Update #{incident_id}", "Post", [block], {"i": incident_id})
    block = _text("text", "What was decided?", multiline=True)
    return _modal(DECISION, f"Decision #{incident_id}", "Log", [block], {"i": incident_id})


def role_modal(incident_id: int) -> dict[str, Any]:
    """Pick a role and the person to hold it."""
    options = [Option(value=key, label=name.capitalize()) for key, name in ROLE_NAMES.items()]
    person = InputBlock(block_id="user", label=PlainTextObject(text="Who"),
                        element=UserSelectElement(action_id="user"))
    return _modal(ROLE, f"Assign role #{incident_id}", "Assign", [_select("role", "Role", options), person],
                  {"i": incident_id})


def hotfix_modal(incident_id: int, channel_id: str) -> dict[str, Any]:
    """Ask for the hotfix version."""
    block = _text("version", "Hotfix version (e.g. v2.4.1)", max_length=VERSION_MAX)
    return _modal(HOTFIX, f"Hotfix for #{incident_id}", "Start", [block], {"i": incident_id, "channel_id": channel_id})
