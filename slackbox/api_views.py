"""Sandbox Web API: views.open/push/update, auth.test, users.info/list and usergroups.users.list."""

from __future__ import annotations

import json
from typing import Any

from slackbox.api_common import ApiError, Ctx, method, page, public_view, require, slack_user
from slackbox.seed import BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, TEAM_NAME
from slackbox.validation import fill_ids, validate_home, validate_view

VIEW_STACK_MAX = 3


def checked_view(args: dict[str, Any]) -> dict[str, Any]:
    """Return the `view` argument after Slack's validation (invalid_arguments otherwise)."""
    view = require(args, "view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError as exc:
            raise ApiError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] view must be a JSON object"]}
            ) from exc
    errors = validate_view(view)
    if errors:
        raise ApiError("invalid_arguments", response_metadata={"messages": errors})
    return {**view, "blocks": fill_ids(view["blocks"])}


def _trigger_user(ctx: Ctx, args: dict[str, Any]) -> str:
    user, error = ctx.store.consume_trigger(str(require(args, "trigger_id", "invalid_trigger_id")))
    if error:
        raise ApiError(error)
    assert user is not None
    return user


@method("views.open")
def views_open(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Open a modal for the user whose interaction issued trigger_id."""
    view = checked_view(args)
    user = _trigger_user(ctx, args)
    ctx.store.close_views([v["id"] for v in ctx.store.open_views(user)])
    return {"view": public_view(ctx.store.create_view(user, view))}


@method("views.push")
def views_push(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Push a modal on top of the user's open stack (at most 3 views)."""
    view = checked_view(args)
    user = _trigger_user(ctx, args)
    stack = ctx.store.open_views(user)
    if len(stack) >= VIEW_STACK_MAX:
        raise ApiError("push_limit_reached")
    return {
        "view": public_view(ctx.store.create_view(user, view, previous_id=stack[-1]["id"] if stack else None))
    }


@method("views.update")
def views_update(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Replace an open view, found by view_id or external_id; honours `hash`."""
    if args.get("view_id"):
        current = ctx.store.view(str(args["view_id"]))
    elif args.get("external_id"):
        current = ctx.store.view_by_external_id(str(args["external_id"]))
    else:
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": ["[ERROR] view_id or external_id"]}
        )
    view = checked_view(args)
    if current is None or not current["is_open"]:
        raise ApiError("not_found")
    if args.get("hash") and args["hash"] != current["hash"]:
        raise ApiError("hash_conflict")
    return {"view": public_view(ctx.store.update_view(current["id"], body=view))}


@method("views.publish")
def views_publish(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Publish a user's App Home tab (type home, at most 100 blocks)."""
    user = str(require(args, "user_id", "user_not_found"))
    if ctx.store.member(user) is None:
        raise ApiError("user_not_found")
    view = require(args, "view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError as exc:
            raise ApiError("invalid_arguments") from exc
    errors = validate_home(view)
    if errors:
        raise ApiError("invalid_arguments", response_metadata={"messages": errors})
    ctx.store.publish_home(user, {**view, "blocks": fill_ids(view["blocks"])})
    return {"view": {"id": f"VHOME{user}", "type": "home", **view}}


@method("auth.test")
def auth_test(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Describe the bot token's identity."""
    return {
        "url": ctx.base_url,
        "team": TEAM_NAME,
        "user": "warroom",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
        "domain": TEAM_DOMAIN,
    }


@method("users.info")
def users_info(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return one member."""
    member = ctx.store.member(str(require(args, "user", "user_not_found")))
    if member is None:
        raise ApiError("user_not_found")
    return {"user": slack_user(member)}


@method("users.list")
def users_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return every member, with cursor pagination."""
    chunk, cursor = page([slack_user(m) for m in ctx.store.members()], args, default_limit=1000)
    return {"members": chunk, "cache_ts": 0, "response_metadata": {"next_cursor": cursor}}


@method("usergroups.users.list")
def usergroups_users_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Return the member ids of a user group."""
    group = ctx.store.usergroup(str(require(args, "usergroup", "no_such_subteam")))
    if group is None:
        raise ApiError("no_such_subteam")
    return {"users": group["users"]}
