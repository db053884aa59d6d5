"""Sandbox Web API: chat.*, pins.add and files.* (external uploads)."""

from __future__ import annotations

import json
from typing import Any

from slackbox.api_common import (
    ApiError,
    Ctx,
    bot_channel,
    flag,
    method,
    require,
    slack_file,
    slack_message,
    split_ids,
)
from slackbox.seed import BOT_ID, BOT_USER_ID
from slackbox.validation import MESSAGE_TEXT_MAX, fill_ids, validate_blocks


def check_content(args: dict[str, Any], *, need_content: bool = True) -> tuple[str | None, Any, Any]:
    """Validate text/blocks/attachments like chat.postMessage; returns them (None when absent)."""
    text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
    if need_content and not text and not blocks and not attachments:
        raise ApiError("no_text")
    if text is not None and len(str(text)) > MESSAGE_TEXT_MAX:
        raise ApiError("msg_too_long")
    if blocks is not None:
        if isinstance(blocks, str):
            raise ApiError("invalid_blocks_format")
        errors = validate_blocks(blocks)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=[e.split("] ", 1)[1] for e in errors],
                response_metadata={"messages": errors},
            )
    if attachments is not None and not isinstance(attachments, list):
        raise ApiError("invalid_attachments")
    return (None if text is None else str(text)), fill_ids(blocks), attachments


def thread_root(ctx: Ctx, channel: str, thread_ts: Any) -> str | None:
    """Normalise a thread_ts the way Slack does (a reply's ts maps to its parent's)."""
    if not thread_ts:
        return None
    parent = ctx.store.message(channel, str(thread_ts))
    if parent and parent["thread_ts"] and parent["thread_ts"] != parent["ts"]:
        return str(parent["thread_ts"])
    return str(thread_ts)


def _own_message(ctx: Ctx, channel: str, ts: Any, error: str) -> dict[str, Any]:
    msg = ctx.store.message(channel, str(ts or ""))
    if msg is None or msg["ephemeral_for"]:
        raise ApiError("message_not_found")
    if msg["bot_id"] != BOT_ID:
        raise ApiError(error)
    return msg


@method("chat.postMessage")
def chat_post_message(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Post a message as the bot."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"))
    text, blocks, attachments = check_content(args)
    thread_ts = thread_root(ctx, channel["id"], args.get("thread_ts"))
    msg = ctx.store.post_message(
        channel["id"],
        user=BOT_USER_ID,
        bot_id=BOT_ID,
        text=text or "",
        blocks=blocks,
        attachments=attachments,
        thread_ts=thread_ts,
        reply_broadcast=flag(args.get("reply_broadcast")),
    )
    return {"channel": channel["id"], "ts": msg["ts"], "message": slack_message(msg)}


@method("chat.postEphemeral")
def chat_post_ephemeral(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Post a message only `user` can see."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"))
    user = require(args, "user", "user_not_found")
    if ctx.store.member(user) is None:
        raise ApiError("user_not_found")
    if user not in channel["members"]:
        raise ApiError("user_not_in_channel")
    text, blocks, attachments = check_content(args)
    msg = ctx.store.post_message(
        channel["id"],
        user=BOT_USER_ID,
        bot_id=BOT_ID,
        text=text or "",
        blocks=blocks,
        attachments=attachments,
        ephemeral_for=user,
        thread_ts=thread_root(ctx, channel["id"], args.get("thread_ts")),
    )
    return {"message_ts": msg["ts"]}


@method("chat.update")
def chat_update(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Edit one of the bot's messages (blocks/attachments are kept when not given)."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"), member=False)
    msg = _own_message(ctx, channel["id"], require(args, "ts", "message_not_found"), "cant_update_message")
    text, blocks, attachments = check_content(args, need_content=False)
    fields: dict[str, Any] = {}
    if text is not None:
        fields["text"] = text
    if blocks is not None:
        fields["blocks"] = blocks
    if attachments is not None:
        fields["attachments"] = attachments
    if not fields:
        raise ApiError("no_text")
    msg = ctx.store.update_message(channel["id"], msg["ts"], **fields)
    return {"channel": channel["id"], "ts": msg["ts"], "text": msg["text"], "message": slack_message(msg)}


@method("chat.delete")
def chat_delete(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Delete one of the bot's messages."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"), member=False)
    msg = _own_message(ctx, channel["id"], require(args, "ts", "message_not_found"), "cant_delete_message")
    ctx.store.delete_message(channel["id"], msg["ts"])
    return {"channel": channel["id"], "ts": msg["ts"]}


@method("chat.getPermalink")
def chat_get_permalink(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return a message's permalink (served by the sandbox UI)."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"), member=False)
    msg = ctx.store.message(channel["id"], str(require(args, "message_ts", "message_not_found")))
    if msg is None or msg["ephemeral_for"]:
        raise ApiError("message_not_found")
    link = f"{ctx.base_url}archives/{channel['id']}/p{msg['ts'].replace('.', '')}"
    if msg["thread_ts"] and msg["thread_ts"] != msg["ts"]:
        link += f"?thread_ts={msg['thread_ts']}&cid={channel['id']}"
    return {"channel": channel["id"], "permalink": link}


@method("pins.add")
def pins_add(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Pin a message to its channel."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"))
    msg = ctx.store.message(channel["id"], str(require(args, "timestamp", "no_item_specified")))
    if msg is None or msg["ephemeral_for"]:
        raise ApiError("message_not_found")
    if msg["pinned"]:
        raise ApiError("already_pinned")
    ctx.store.update_message(channel["id"], msg["ts"], pinned=True)
    return {}


@method("files.getUploadURLExternal")
def files_get_upload_url(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Reserve a file and return the sandbox URL its bytes must be POSTed to."""
    name = str(require(args, "filename"))
    try:
        length = int(require(args, "length"))
    except ValueError as exc:
        raise ApiError("invalid_arguments") from exc
    file = ctx.store.create_file(name, length, user=BOT_USER_ID)
    return {"upload_url": f"{ctx.base_url}sandbox/upload/{file['id']}", "file_id": file["id"]}


@method("files.completeUploadExternal")
def files_complete_upload(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Finish uploads and share them (one message, with initial_comment) in channel_id/channels."""
    items = require(args, "files")
    if isinstance(items, str):
        try:
            items = json.loads(items)
        except ValueError as exc:
            raise ApiError("invalid_arguments") from exc
    if not isinstance(items, list) or not items:
        raise ApiError("invalid_arguments")
    channels = [bot_channel(ctx, c) for c in split_ids(args.get("channel_id") or args.get("channels"))]
    found = []
    for item in items:
        file = ctx.store.file(str(item.get("id"))) if isinstance(item, dict) else None
        if file is None or not file["uploaded"]:
            raise ApiError("file_not_found")
        found.append((file["id"], item.get("title")))
    files = []
    for file_id, title in found:
        file = ctx.store.complete_file(file_id, title=title)
        for channel in channels:
            file = ctx.store.complete_file(file_id, channel=channel["id"])
        files.append(slack_file(file, ctx.base_url))
    for channel in channels:
        ctx.store.post_message(
            channel["id"],
            user=BOT_USER_ID,
            bot_id=BOT_ID,
            files=files,
            text=str(args.get("initial_comment") or ""),
            subtype=None,
            thread_ts=thread_root(ctx, channel["id"], args.get("thread_ts")),
        )
    return {"files": files}


@method("files.info")
def files_info(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return one file's metadata."""
    file = ctx.store.file(str(require(args, "file", "file_not_found")))
    if file is None:
        raise ApiError("file_not_found")
    return {"file": slack_file(file, ctx.base_url)}
