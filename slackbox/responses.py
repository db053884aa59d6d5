"""How the sandbox applies the bot's answers: command replies, response_url posts, view_submission actions."""

from __future__ import annotations

import json
from typing import Any

import httpx

from slackbox.api_chat import check_content
from slackbox.api_common import ApiError
from slackbox.payloads import SandboxError
from slackbox.seed import BOT_ID, BOT_USER_ID, SLACKBOT_USER_ID
from slackbox.store import SandboxStore
from slackbox.validation import fill_ids, validate_view

VIEW_STACK_MAX = 3


def body_json(response: httpx.Response) -> Any:
    """Return the JSON body of the bot's HTTP answer, the plain text, or None when empty."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def apply_message_response(store: SandboxStore, info: dict[str, Any], body: Any) -> dict[str, Any] | None:
    """Apply a message response (slash command answer or response_url post); raises ApiError if invalid."""
    if isinstance(body, str):
        body = {"text": body}
    if not isinstance(body, dict):
        raise ApiError("invalid_payload")
    original = info.get("message_ts")
    if original and body.get("delete_original") in (True, "true"):
        store.delete_message(info["channel"], original)
        return None
    if original and body.get("replace_original") in (True, "true"):
        text, blocks, attachments = check_content(body)
        fields = {"text": text or "", "blocks": blocks, "attachments": attachments}
        if store.message(info["channel"], original) is None:
            raise ApiError("message_not_found")
        return store.update_message(info["channel"], original, **fields)
    text, blocks, attachments = check_content(body)
    in_channel = body.get("response_type") == "in_channel"
    return store.post_message(
        info["channel"],
        user=BOT_USER_ID,
        bot_id=BOT_ID,
        text=text or "",
        blocks=blocks,
        attachments=attachments,
        thread_ts=body.get("thread_ts"),
        ephemeral_for=None if in_channel else info["user"],
    )


def apply_command_response(
    store: SandboxStore, command: str, info: dict[str, Any], response: httpx.Response
) -> None:
    """Show the bot's HTTP answer to a slash command as Slack does (or Slackbot's error)."""
    if response.status_code != 200:
        store.post_message(
            info["channel"],
            user=SLACKBOT_USER_ID,
            ephemeral_for=info["user"],
            text=f'{command} failed with the error "dispatch_failed"',
        )
        return
    body = body_json(response)
    if body is None or (isinstance(body, dict) and not ({"text", "blocks", "attachments"} & set(body))):
        return
    try:
        apply_message_response(store, {**info, "message_ts": None}, body)
    except ApiError as exc:
        store.post_message(
            info["channel"],
            user=SLACKBOT_USER_ID,
            ephemeral_for=info["user"],
            text=f'{command} failed with the error "{exc.error}"',
        )


def _checked_view(view: Any) -> dict[str, Any]:
    if isinstance(view, str):
        view = json.loads(view)
    errors = validate_view(view)
    if errors:
        raise SandboxError(f"the bot answered with an invalid view: {errors}")
    return {**view, "blocks": fill_ids(view["blocks"])}


def apply_view_response(store: SandboxStore, view: dict[str, Any], response: httpx.Response) -> None:
    """Apply the bot's answer to a view_submission: close, errors, update, push or clear."""
    if response.status_code != 200:
        return  # Slack keeps the modal open and shows a connection error
    body = body_json(response)
    action = body.get("response_action") if isinstance(body, dict) else None
    if action is None:
        store.close_views([view["id"]])
        if view["previous_view_id"]:
            store.update_view(view["previous_view_id"])  # the previous view is shown again
    elif action == "errors":
        errors = body.get("errors")
        if not isinstance(errors, dict) or not errors:
            raise SandboxError(f"response_action errors needs a non-empty 'errors' object, got {errors!r}")
        store.update_view(view["id"], errors=errors)
    elif action == "update":
        store.update_view(view["id"], body=_checked_view(body.get("view")))
    elif action == "push":
        if len(store.open_views(view["user"])) >= VIEW_STACK_MAX:
            raise SandboxError("response_action push: push_limit_reached (3 views)")
        store.create_view(view["user"], _checked_view(body.get("view")), previous_id=view["id"])
    elif action == "clear":
        store.close_views(
            [v["id"] for v in store.open_views(view["user"]) if v["root_view_id"] == view["root_view_id"]]
        )
    else:
        raise SandboxError(f"unknown response_action {action!r}")
