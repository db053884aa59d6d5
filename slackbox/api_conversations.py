"""Sandbox Web API: conversations.*."""

from __future__ import annotations

import sqlite3
from typing import Any

from slackbox.api_common import (
    ApiError,
    Ctx,
    bot_channel,
    flag,
    method,
    page,
    require,
    slack_channel,
    slack_message,
    split_ids,
)
from slackbox.seed import BOT_USER_ID
from slackbox.validation import channel_name_error

TOPIC_MAX = 250


@method("conversations.create")
def conversations_create(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Create a channel; the bot is its creator and first member."""
    name = args.get("name")
    error = channel_name_error(name)
    if error:
        raise ApiError(error)
    if ctx.store.channel_by_name(str(name)):
        raise ApiError("name_taken")
    try:
        channel = ctx.store.create_channel(
            str(name), creator=BOT_USER_ID, is_private=flag(args.get("is_private"))
        )
    except sqlite3.IntegrityError as exc:
        raise ApiError("name_taken") from exc
    return {"channel": slack_channel(channel)}


@method("conversations.invite")
def conversations_invite(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Invite users (comma-separated ids) to a channel the bot is in."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"))
    if channel["is_im"]:
        raise ApiError("method_not_supported_for_channel_type")
    users = split_ids(args.get("users"))
    if not users:
        raise ApiError("no_user")
    for user in users:
        if user == BOT_USER_ID:
            raise ApiError("cant_invite_self")
        if ctx.store.member(user) is None:
            raise ApiError("user_not_found", errors=[{"user": user, "ok": False, "error": "user_not_found"}])
        if user in channel["members"]:
            raise ApiError(
                "already_in_channel", errors=[{"user": user, "ok": False, "error": "already_in_channel"}]
            )
    return {"channel": slack_channel(ctx.store.add_members(channel["id"], users))}


@method("conversations.setTopic")
def conversations_set_topic(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Set a channel's topic."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"))
    topic = str(args.get("topic") or "")
    if len(topic) > TOPIC_MAX:
        raise ApiError("too_long")
    return {"channel": slack_channel(ctx.store.set_topic(channel["id"], topic, by=BOT_USER_ID))}


@method("conversations.info")
def conversations_info(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return one channel."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"), member=False)
    return {"channel": slack_channel(channel)}


@method("conversations.list")
def conversations_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """List channels the bot can see, by type, with cursor pagination."""
    types = set(split_ids(args.get("types") or "public_channel"))
    visible = []
    for channel in ctx.store.channels():
        if flag(args.get("exclude_archived")) and channel["is_archived"]:
            continue
        kind = "im" if channel["is_im"] else "private_channel" if channel["is_private"] else "public_channel"
        if kind not in types or (kind != "public_channel" and BOT_USER_ID not in channel["members"]):
            continue
        visible.append(slack_channel(channel))
    chunk, cursor = page(visible, args)
    return {"channels": chunk, "response_metadata": {"next_cursor": cursor}}


@method("conversations.join")
def conversations_join(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Join a public channel as the bot."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"), member=False)
    if channel["is_private"] or channel["is_im"]:
        raise ApiError("method_not_supported_for_channel_type")
    if BOT_USER_ID in channel["members"]:
        return {
            "channel": slack_channel(channel),
            "warning": "already_in_channel",
            "response_metadata": {"warnings": ["already_in_channel"]},
        }
    return {"channel": slack_channel(ctx.store.add_members(channel["id"], [BOT_USER_ID]))}


@method("conversations.open")
def conversations_open(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Open (or find) the bot's DM with one user."""
    if args.get("channel"):
        channel = bot_channel(ctx, args["channel"])
        return {"no_op": True, "already_open": True, "channel": {"id": channel["id"]}}
    users = [u for u in split_ids(args.get("users")) if u != BOT_USER_ID]
    if len(users) != 1:
        raise ApiError("not_implemented" if users else "users_list_not_supplied")
    if ctx.store.member(users[0]) is None:
        raise ApiError("user_not_found")
    existing = [c for c in ctx.store.channels() if c["is_im"] and c["user"] == users[0]]
    channel = ctx.store.open_dm(users[0], with_user=BOT_USER_ID)
    shown = slack_channel(channel) if flag(args.get("return_im")) else {"id": channel["id"]}
    return {"no_op": bool(existing), "already_open": bool(existing), "channel": shown}


def _replies_by_parent(
    ctx: Ctx, channel_id: str
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    top: list[dict[str, Any]] = []
    replies: dict[str, list[dict[str, Any]]] = {}
    for msg in ctx.store.messages(channel_id):
        if msg["thread_ts"] and msg["thread_ts"] != msg["ts"]:
            replies.setdefault(msg["thread_ts"], []).append(msg)
            if not msg["reply_broadcast"]:
                continue
        top.append(msg)
    return top, replies


def _in_range(ts: str, args: dict[str, Any]) -> bool:
    inclusive = flag(args.get("inclusive"))
    value = float(ts)
    if args.get("oldest"):
        oldest = float(args["oldest"])
        if value < oldest or (value == oldest and not inclusive):
            return False
    if args.get("latest"):
        latest = float(args["latest"])
        if value > latest or (value == latest and not inclusive):
            return False
    return True


@method("conversations.history")
def conversations_history(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return a channel's top-level messages, newest first."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"))
    top, replies = _replies_by_parent(ctx, channel["id"])
    shown = [slack_message(m, replies.get(m["ts"])) for m in reversed(top) if _in_range(m["ts"], args)]
    chunk, cursor = page(shown, args)
    return {
        "messages": chunk,
        "has_more": bool(cursor),
        "pin_count": sum(1 for m in top if m["pinned"]),
        "response_metadata": {"next_cursor": cursor},
    }


@method("conversations.replies")
def conversations_replies(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return a thread: its parent, then the replies, oldest first."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"))
    msg = ctx.store.message(channel["id"], str(require(args, "ts", "thread_not_found")))
    if msg is None or msg["ephemeral_for"]:
        raise ApiError("thread_not_found")
    root_ts = msg["thread_ts"] or msg["ts"]
    parent = ctx.store.message(channel["id"], root_ts)
    _, replies = _replies_by_parent(ctx, channel["id"])
    thread = replies.get(root_ts, [])
    items = ([slack_message(parent, thread)] if parent else []) + [slack_message(r) for r in thread]
    items = [m for m in items if _in_range(m["ts"], args)]
    chunk, cursor = page(items, args, default_limit=1000)
    return {"messages": chunk, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}


@method("conversations.members")
def conversations_members(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return a channel's member ids."""
    channel = bot_channel(ctx, require(args, "channel", "channel_not_found"), member=False)
    chunk, cursor = page(channel["members"], args)
    return {"members": chunk, "response_metadata": {"next_cursor": cursor}}
