"""Validation of Block Kit payloads and channel names, with Slack's limits and error messages."""

from __future__ import annotations

import copy
import re
import secrets
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
MESSAGE_TEXT_MAX = 40_000
CHANNEL_NAME_MAX = 80
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")


def _error(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def validate_blocks(blocks: Any, *, limit: int = MESSAGE_BLOCKS_MAX, pointer: str = "/blocks") -> list[str]:
    """Return Slack-style error messages for a blocks array (empty when valid)."""
    if not isinstance(blocks, list):
        return [_error("must provide an array", pointer)]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(_error(f"no more than {limit} items allowed", pointer))
    for i, raw in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(raw, dict) or "type" not in raw:
            errors.append(_error("must provide an object with a type", where))
            continue
        try:
            parsed = Block.parse(raw)
            if parsed is None or type(parsed) is Block:
                errors.append(_error(f"unsupported type: {raw.get('type')}", f"{where}/type"))
                continue
            parsed.validate_json()
            for element in _elements(raw):
                _validate_element(element)
        except (SlackObjectFormationError, TypeError, KeyError, ValueError, AttributeError) as exc:
            errors.append(_error(str(exc) or type(exc).__name__, where))
    return errors


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(block.get("elements") or []) if block.get("type") == "actions" else []
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            found.append(block[key])
    return [e for e in found if isinstance(e, dict)]


def _validate_element(element: dict[str, Any]) -> None:
    from slack_sdk.models.blocks import BlockElement

    parsed = BlockElement.parse(element)
    if parsed is None:
        raise SlackObjectFormationError(f"unsupported element type: {element.get('type')}")
    parsed.validate_json()


def validate_view(view: Any) -> list[str]:
    """Return Slack-style error messages for a modal view (empty when valid)."""
    if not isinstance(view, dict):
        return [_error("must provide an object", "/view")]
    if view.get("type") != "modal":
        return [_error("must be modal", "/view/type")]
    errors = validate_blocks(view.get("blocks"), limit=VIEW_BLOCKS_MAX, pointer="/view/blocks")
    try:
        # blocks were checked above; a placeholder lets View check the remaining fields
        View(**{k: v for k, v in view.items() if k != "blocks"}, blocks=[{"type": "divider"}]).validate_json()
    except (SlackObjectFormationError, TypeError) as exc:
        errors.append(_error(str(exc), "/view"))
    if not view.get("title"):
        errors.append(_error("must provide a title", "/view/title"))
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
    if has_input and not view.get("submit"):
        errors.append(
            _error("submit is required when an input block is within the blocks array", "/view/submit")
        )
    return errors


def validate_home(view: Any) -> list[str]:
    """Return Slack-style error messages for an App Home view (empty when valid)."""
    if not isinstance(view, dict):
        return [_error("must provide an object", "/view")]
    if view.get("type") != "home":
        return [_error("must be home", "/view/type")]
    return validate_blocks(view.get("blocks"), limit=VIEW_BLOCKS_MAX, pointer="/view/blocks")


def channel_name_error(name: Any) -> str | None:
    """Return Slack's error code for an invalid new channel name, or None when it is valid."""
    if not isinstance(name, str) or not name:
        return "invalid_name_required"
    if len(name) > CHANNEL_NAME_MAX:
        return "invalid_name_maxlength"
    if not _CHANNEL_NAME.match(name):
        return "invalid_name_specials"
    if not re.search(r"[a-z0-9]", name):
        return "invalid_name_punctuation"
    return None


def fill_ids(blocks: list[Any] | None) -> list[Any] | None:
    """Return a copy of blocks where Slack's generated block_id/action_id fill the missing ones."""
    if blocks is None:
        return None
    filled = copy.deepcopy(blocks)
    for block in filled:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", secrets.token_hex(3))
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        elements += [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
        for element in elements:
            if isinstance(element, dict) and element.get("type") not in (None, "image"):
                element.setdefault("action_id", secrets.token_hex(3))
    return filled
