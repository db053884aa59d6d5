"""Release modals: start a release, tick the checklist, give a reason."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.policy import Policy
from bot.releases.requests import RISKS, TYPES, VERSION_MAX
from bot.releases.view import ReleaseView
from storage.vocab import ReleaseType, Risk

START = "release_start"
CHECKLIST = "release_checklist"
REASON = "release_reason"


def _text(block_id: str, label: str, *, multiline: bool = False, optional: bool = True,
          max_length: int = 1000, initial: str | None = None) -> InputBlock:
    return InputBlock(block_id=block_id, label=PlainTextObject(text=label), optional=optional,
                      element=PlainTextInputElement(action_id=block_id, multiline=multiline,
                                                    max_length=max_length, initial_value=initial))


def _select(block_id: str, label: str, choices: tuple[str, ...], initial: str) -> InputBlock:
    options = [Option(value=c, label=c) for c in choices]
    return InputBlock(block_id=block_id, label=PlainTextObject(text=label),
                      element=StaticSelectElement(action_id=block_id, options=options,
                                                  initial_option=options[choices.index(initial)]))


def _modal(callback_id: str, title: str, submit: str, blocks: list[Any], meta: dict[str, Any]) -> dict[str, Any]:
    view = View(type="modal", callback_id=callback_id, title=PlainTextObject(text=title),
                submit=PlainTextObject(text=submit), close=PlainTextObject(text="Cancel"),
                blocks=blocks, private_metadata=json.dumps(meta))
    view.validate_json()
    return view.to_dict()


def start_modal(channel_id: str) -> dict[str, Any]:
    """The form `/release` opens with no arguments."""
    blocks = [
        _text("version", "Version", optional=False, max_length=VERSION_MAX),
        _select("type", "Type", TYPES, ReleaseType.MINOR),
        _select("risk", "Risk", RISKS, Risk.MEDIUM),
        _text("breaking_changes", "Breaking changes", multiline=True),
        _text("summary", "Summary", multiline=True, max_length=2000),
        _text("rollback_plan", "Rollback plan", multiline=True),
        _text("ref", "Git ref (sha, tag or branch)", max_length=100),
        _text("repo", "Repository (owner/name)", max_length=140),
        _text("service", "Service", max_length=64),
    ]
    return _modal(START, "Start a release", "Start", blocks, {"channel_id": channel_id})


def checklist_modal(view: ReleaseView, policy: Policy) -> dict[str, Any]:
    """One checkbox group per checklist section, pre-ticked from the release."""
    blocks = []
    for i, sec in enumerate(policy.checklist):
        options = [Option(value=item.id, label=item.label[:75]) for item in sec.items]
        ticked = [o for o in options if o.value in view.release.checklist]
        blocks.append(InputBlock(block_id=f"s{i}", label=PlainTextObject(text=sec.section[:2000]), optional=True,
                                 element=CheckboxesElement(action_id=f"s{i}", options=options,
                                                           initial_options=ticked or None)))
    return _modal(CHECKLIST, "Release checklist", "Save", blocks, {"version": view.release.version})


def reason_modal(action: str, version: str) -> dict[str, Any]:
    """Ask why before a rollback, rejection or freeze override."""
    titles = {"rollback": "Roll back", "reject": "Reject", "override": "Override freeze"}
    block = _text("reason", f"Why {titles[action].lower()} {version}?", multiline=True,
                  optional=action == "reject")
    return _modal(REASON, titles[action], titles[action], [block], {"version": version, "action": action})
