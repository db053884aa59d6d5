"""The outbox's operations: one name per kind of outgoing call, shared by the code that queues
rows (``bot.tx``) and the sender that delivers them (``bot.outbox``)."""

from __future__ import annotations

from enum import StrEnum


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
