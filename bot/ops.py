"""The outbox's operations: one name per kind of outgoing call, shared by the code that queues
rows (``bot.tx``) and the sender that delivers them (``bot.outbox``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Op(StrEnum):
    """What an outbox row asks for. Slack Web API verbs mirror ``bot.gateway.SlackGateway``."""

    POST = "post"
    UPDATE = "update"
    EPHEMERAL = "ephemeral"
    DM = "dm"
    CREATE_CHANNEL = "create_channel"
    INVITE = "invite"
    TOPIC = "topic"
    PIN = "pin"
    UPLOAD = "upload"
    # A PNG (the metrics chart); only a renderer returns it: the bytes are drawn at send time, never stored.
    UPLOAD_PNG = "upload_png"
    OPEN_VIEW = "open_view"
    PUBLISH_VIEW = "publish_view"  # the App Home tab
    # A state-mirroring message: the payload names a renderer that builds the call at send time.
    RENDER = "render"
    # Calls to systems other than Slack (executors, GitHub), delivered by registered targets.
    WEBHOOK = "webhook"
    GITHUB = "github"


# A user is waiting for these (a form after a click, a reply only they see): they take the
# fast lane, which never queues behind channel traffic.
FAST = frozenset({Op.OPEN_VIEW, Op.EPHEMERAL})
# Requests to systems other than Slack (executors, GitHub): the next step of a deploy waits on them.
REMOTE_OPS = frozenset({Op.WEBHOOK, Op.GITHUB})


def order_key(op: str, payload: dict[str, Any]) -> str | None:
    """The key rows are delivered in order by: the channel (or what will name it), else none.

    A channel still to be created is named by its placeholder (``bot.tx.ref``), so every
    call into one war room is ordered even before its ID is known. Calls to other systems
    pass ``order_key=`` themselves (target and object id).
    """
    if op in FAST:
        return None
    if "order_key" in payload:
        return str(payload["order_key"])[:128] if payload["order_key"] else None
    channel = payload.get("channel")
    if isinstance(channel, str) and channel:
        return channel[:128]
    if isinstance(channel, dict) and "$ref" in channel:
        return f"ref:{channel['$ref']}"[:128]
    if op == Op.DM and payload.get("user"):
        return f"dm:{payload['user']}"[:128]
    if op == Op.CREATE_CHANNEL and payload.get("name"):
        return f"create:{payload['name']}"[:128]
    return None
