"""Shared pieces of the sandbox Web API: method registry, errors, argument helpers, Slack-shaped objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slackbox.seed import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID
from slackbox.store import SandboxStore
from slackbox.store_objects import SANDBOX_VIEW_KEYS


class ApiError(Exception):
    """A Web API failure answered as {"ok": false, "error": code, ...extra}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Ctx:
    """What a Web API method needs: the store and the server's own base URL (ends with '/')."""

    store: SandboxStore
    base_url: str


Handler = Callable[[Ctx, dict[str, Any]], dict[str, Any]]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a Web API method implementation under its Slack name."""

    def register(fn: Handler) -> Handler:
        METHODS[name] = fn
        return fn

    return register


def require(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> Any:
    """Return a required argument or raise ApiError."""
    value = args.get(name)
    if value is None or value == "":
        raise ApiError(error, response_metadata={"messages": [f"[ERROR] missing required field: {name}"]})
    return value


def flag(value: Any) -> bool:
    """Interpret a Slack boolean argument ('true', '1', True)."""
    return value is True or str(value).lower() in ("true", "1")


def int_arg(args: dict[str, Any], name: str, default: int) -> int:
    """Return an integer argument or its default."""
    try:
        return int(args.get(name) or default)
    except (TypeError, ValueError) as exc:
        raise ApiError("invalid_arguments") from exc


def split_ids(value: Any) -> list[str]:
    """Split a comma-separated id list (or pass a list through)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(i).strip() for i in items if str(i).strip()]


def page(items: list[Any], args: dict[str, Any], default_limit: int = 100) -> tuple[list[Any], str]:
    """Apply Slack's cursor/limit pagination; returns (page, next_cursor)."""
    limit = int_arg(args, "limit", default_limit) or default_limit
    cursor = str(args.get("cursor") or "")
    start = int(cursor.removeprefix("offset:")) if cursor.startswith("offset:") else 0
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return chunk, f"offset:{start + limit}" if more else ""


def bot_channel(ctx: Ctx, ref: Any, *, member: bool = True) -> dict[str, Any]:
    """Resolve a channel as the bot sees it (channel_not_found / not_in_channel)."""
    channel = ctx.store.resolve_channel(str(ref or ""))
    if channel is None and isinstance(ref, str) and ref[:1] in ("U", "W") and ctx.store.member(ref):
        channel = ctx.store.open_dm(ref, with_user=BOT_USER_ID)
    if channel is None:
        raise ApiError("channel_not_found")
    is_member = BOT_USER_ID in channel["members"]
    if channel["is_private"] and not is_member:
        raise ApiError("channel_not_found")
    if member and not is_member:
        raise ApiError("not_in_channel")
    return channel


def slack_user(member: dict[str, Any]) -> dict[str, Any]:
    """Return a member in users.info's shape."""
    profile = {
        "real_name": member["real_name"],
        "display_name": member["name"],
        "real_name_normalized": member["real_name"],
        "display_name_normalized": member["name"],
        "team": TEAM_ID,
        "email": None if member["is_bot"] else f"{member['name']}@sandbox.example",
    }
    if member["bot_id"]:
        profile["bot_id"] = member["bot_id"]
    return {
        "id": member["id"],
        "team_id": TEAM_ID,
        "name": member["name"],
        "real_name": member["real_name"],
        "deleted": False,
        "is_bot": member["is_bot"],
        "is_app_user": False,
        "is_admin": False,
        "is_owner": False,
        "tz": member["tz"],
        "profile": profile,
        "updated": 0,
    }


def slack_channel(channel: dict[str, Any]) -> dict[str, Any]:
    """Return a channel in conversations.info's shape."""
    if channel["is_im"]:
        return {
            "id": channel["id"],
            "is_im": True,
            "user": channel["user"],
            "created": channel["created"],
            "is_user_deleted": False,
            "is_org_shared": False,
        }
    return {
        "id": channel["id"],
        "name": channel["name"],
        "name_normalized": channel["name"],
        "is_channel": not channel["is_private"],
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel["is_private"],
        "created": channel["created"],
        "creator": channel["creator"] or "",
        "is_archived": channel["is_archived"],
        "is_general": False,
        "is_shared": False,
        "is_org_shared": False,
        "is_member": BOT_USER_ID in channel["members"],
        "context_team_id": TEAM_ID,
        "topic": {"value": channel["topic"], "creator": "", "last_set": 0},
        "purpose": {"value": channel["purpose"], "creator": "", "last_set": 0},
        "num_members": len(channel["members"]),
    }


def slack_message(msg: dict[str, Any], replies: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return a stored message in conversations.history's shape."""
    out: dict[str, Any] = {"type": "message", "ts": msg["ts"], "text": msg["text"], "team": TEAM_ID}
    if msg["user"]:
        out["user"] = msg["user"]
    if msg["bot_id"]:
        out.update(
            bot_id=msg["bot_id"],
            app_id=APP_ID,
            bot_profile={"id": BOT_ID, "app_id": APP_ID, "name": "warroom", "team_id": TEAM_ID},
        )
    for key in ("subtype", "blocks", "attachments", "files", "thread_ts", "edited"):
        if msg.get(key):
            out[key] = msg[key]
    if msg["pinned"]:
        out["pinned_to"] = [msg["channel"]]
    if replies:
        out.update(
            reply_count=len(replies),
            reply_users=sorted({r["user"] for r in replies if r["user"]}),
            latest_reply=replies[-1]["ts"],
            thread_ts=msg["ts"],
        )
    return out


def public_view(view: dict[str, Any]) -> dict[str, Any]:
    """Return a stored view without the sandbox's own keys."""
    return {k: v for k, v in view.items() if k not in SANDBOX_VIEW_KEYS}


def slack_file(file: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Return a file in files.info's shape."""
    ext = file["name"].rsplit(".", 1)[-1].lower() if "." in file["name"] else "binary"
    url = f"{base_url}sandbox/files/{file['id']}"
    return {
        "id": file["id"],
        "name": file["name"],
        "title": file["title"],
        "filetype": ext,
        "mimetype": "text/plain" if ext in ("txt", "md", "log", "csv") else "application/octet-stream",
        "size": file["size"],
        "user": file["user"],
        "created": file["created"],
        "timestamp": file["created"],
        "channels": file["channels"],
        "url_private": url,
        "url_private_download": url,
        "permalink": url,
        "is_public": bool(file["channels"]),
    }
