"""Small typed Block Kit builders (slack_sdk.models.blocks) that respect Slack's limits."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
)

from bot.text import clip

SECTION_MAX = 3000
HEADER_MAX = 150
BLOCKS_MAX = 50


def header(text: str) -> HeaderBlock:
    """A header block (plain text, 150 characters at most)."""
    return HeaderBlock(text=PlainTextObject(text=clip(text, HEADER_MAX), emoji=True))


def section(text: str, *, fields: list[str] | None = None, block_id: str | None = None) -> SectionBlock:
    """A mrkdwn section; text clipped to 3,000 characters and at most 10 fields."""
    return SectionBlock(
        text=MarkdownTextObject(text=clip(text, SECTION_MAX)) if text else None,
        fields=[MarkdownTextObject(text=clip(f, 2000)) for f in (fields or [])[:10]] or None,
        block_id=block_id,
    )


def context(*parts: str) -> ContextBlock:
    """A context block of mrkdwn parts (10 at most)."""
    return ContextBlock(elements=[MarkdownTextObject(text=clip(p, SECTION_MAX)) for p in parts[:10]])


def divider() -> DividerBlock:
    """A divider."""
    return DividerBlock()


def button(text: str, action_id: str, value: dict[str, Any] | str, *, style: str | None = None,
           confirm: tuple[str, str, str] | None = None) -> ButtonElement:
    """A button whose value carries what the click refers to (JSON, 2,000 characters at most)."""
    raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    dialog = None
    if confirm:
        title, body, yes = confirm
        dialog = ConfirmObject(title=clip(title, 100), text=MarkdownTextObject(text=clip(body, 300)),
                               confirm=clip(yes, 30), deny="Cancel",
                               style="danger" if style == "danger" else None)
    return ButtonElement(text=PlainTextObject(text=clip(text, 75), emoji=True), action_id=action_id,
                         value=raw[:2000], style=style, confirm=dialog)


CHECKBOX_OPTIONS_MAX = 10
OPTION_TEXT_MAX = 75


def checkboxes(action_id: str, options: list[tuple[str, str]], ticked: set[str]) -> CheckboxesElement:
    """Checkboxes of (value, label) options, those whose value is in ``ticked`` shown ticked
    (10 options at most, labels clipped to 75 characters)."""
    # Plain text: a requirement is the policy author's words, never markup.
    made = [Option(value=value[:150], text=PlainTextObject(text=clip(label, OPTION_TEXT_MAX)))
            for value, label in options[:CHECKBOX_OPTIONS_MAX]]
    chosen = [o for o in made if o.value in ticked]
    return CheckboxesElement(action_id=action_id, options=made, initial_options=chosen or None)


def actions(*elements: ButtonElement | CheckboxesElement, block_id: str | None = None) -> ActionsBlock:
    """An actions block (25 elements at most)."""
    return ActionsBlock(elements=list(elements)[:25], block_id=block_id)


def to_dicts(blocks: list[Any]) -> list[dict[str, Any]]:
    """Validate each block against Slack's limits and return JSON-ready dicts (50 at most)."""
    if len(blocks) > BLOCKS_MAX:
        blocks = blocks[: BLOCKS_MAX - 1] + [context("_Some details were left out to fit Slack's limits._")]
    out = []
    for block in blocks:
        block.validate_json()
        out.append(block.to_dict())
    return out
