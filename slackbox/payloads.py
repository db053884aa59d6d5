"""Payloads the sandbox sends to the bot as Slack does: users, actions, and view state values."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from slackbox.seed import TEAM_DOMAIN, TEAM_ID
from slackbox.store_objects import iter_view_elements


class SandboxError(Exception):
    """A user action the Slack client would not allow, or a sandbox misuse (raised to the caller)."""


def team_obj() -> dict[str, str]:
    """Return the `team` object of interaction payloads."""
    return {"id": TEAM_ID, "domain": TEAM_DOMAIN}


def user_obj(member: dict[str, Any]) -> dict[str, str]:
    """Return the `user` object of interaction payloads."""
    return {"id": member["id"], "username": member["name"], "name": member["name"], "team_id": TEAM_ID}


def find_element(
    blocks: list[dict[str, Any]] | None,
    action_id: str,
    value: str | None = None,
    types: tuple[str, ...] = ("button",),
    block_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (block, element) for an element with this action_id (and value, and block_id), or raise
    SandboxError."""
    seen = []
    for block, element in iter_view_elements({"blocks": blocks or []}):
        if element.get("type") not in types or block_id not in (None, block.get("block_id")):
            continue
        seen.append(f"{element.get('action_id')}={element.get('value')!r}")
        if element.get("action_id") == action_id and (value is None or element.get("value") == value):
            return block, element
    wanted = action_id if value is None else f"{action_id}={value!r}"
    raise SandboxError(f"no {'/'.join(types)} {wanted} in these blocks; available: {seen or 'none'}")


def action_obj(block: dict[str, Any], element: dict[str, Any]) -> dict[str, Any]:
    """Return one entry of a block_actions payload's `actions` list (a button click)."""
    action: dict[str, Any] = {
        "action_id": element.get("action_id"),
        "block_id": block.get("block_id"),
        "text": element.get("text"),
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    for key in ("value", "style", "url"):
        if key in element:
            action[key] = element[key]
    return action


def checkboxes_action(block: dict[str, Any], element: dict[str, Any], selected: list[str]) -> dict[str, Any]:
    """Return the `actions` entry of a tick or untick in checkboxes: the element's whole selection."""
    return {
        "type": "checkboxes",
        "action_id": element.get("action_id"),
        "block_id": block.get("block_id"),
        "selected_options": [_option(element, v) for v in selected],
        "action_ts": f"{time.time():.6f}",
    }


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        found.extend(group.get("options") or [])
    return found


def _option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    for option in _options(element):
        if option.get("value") == str(value):
            return option
    raise SandboxError(
        f"{element.get('action_id')}: no option with value {value!r}; "
        f"options: {[o.get('value') for o in _options(element)]}"
    )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _rich_text(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": str(value)}]}],
    }


_SINGLE = {
    "users_select": ("selected_user", "initial_user"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "channels_select": ("selected_channel", "initial_channel"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
}
_MULTI = {
    "multi_users_select": ("selected_users", "initial_users"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
}
_TEXT = ("plain_text_input", "email_text_input", "url_text_input", "number_input")
STATEFUL_TYPES = (
    *_SINGLE,
    *_MULTI,
    *_TEXT,
    "static_select",
    "external_select",
    "radio_buttons",
    "multi_static_select",
    "multi_external_select",
    "checkboxes",
    "rich_text_input",
)


def element_state(element: dict[str, Any], value: Any) -> tuple[dict[str, Any], bool]:
    """Return (Slack's state entry for an input element, whether it has a value); None means 'untouched'."""
    kind = element.get("type", "")
    state: dict[str, Any] = {"type": kind}
    if kind in _TEXT:
        raw = element.get("initial_value") if value is None else value
        state["value"] = None if raw is None else str(raw)
        return state, bool(state["value"])
    if kind in ("static_select", "external_select", "radio_buttons"):
        state["selected_option"] = element.get("initial_option") if value is None else _option(element, value)
        return state, state["selected_option"] is not None
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        chosen = (
            element.get("initial_options") or []
            if value is None
            else [_option(element, v) for v in _as_list(value)]
        )
        state["selected_options"] = chosen
        return state, bool(chosen)
    if kind in _SINGLE:
        key, initial = _SINGLE[kind]
        raw = element.get(initial) if value is None else value
        state[key] = raw.isoformat() if isinstance(raw, dt.date | dt.time) else raw
        if kind == "timepicker" and isinstance(state[key], str):
            state[key] = state[key][:5]
        return state, state[key] is not None
    if kind in _MULTI:
        key, initial = _MULTI[kind]
        state[key] = list(element.get(initial) or []) if value is None else [str(v) for v in _as_list(value)]
        return state, bool(state[key])
    if kind == "rich_text_input":
        raw = element.get("initial_value") if value is None else _rich_text(value)
        state["rich_text_value"] = raw
        return state, raw is not None
    raise SandboxError(f"element type {kind!r} has no state the sandbox can build")


def state_values(
    view: dict[str, Any], values: dict[str, Any], *, check_required: bool = True
) -> dict[str, Any]:
    """Build view.state.values from {action_id (or "block_id.action_id"): python value}."""
    out: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    available = []
    for block, element in iter_view_elements(view):
        if element.get("type") not in STATEFUL_TYPES:
            continue
        block_id, action_id = block.get("block_id", ""), element.get("action_id", "")
        available.append(action_id)
        key = next((k for k in (f"{block_id}.{action_id}", action_id) if k in values), None)
        if key:
            used.add(key)
        state, filled = element_state(element, values.get(key) if key else None)
        if check_required and block.get("type") == "input" and not block.get("optional") and not filled:
            raise SandboxError(f"required input {block_id}.{action_id} has no value; Slack would not submit")
        out.setdefault(block_id, {})[action_id] = state
    unknown = set(values) - used
    if unknown:
        raise SandboxError(f"no input with action_id {sorted(unknown)} in view; available: {available}")
    return out
