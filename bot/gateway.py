"""The one way workflow code reaches Slack: a few verbs over slack_sdk's WebClient, which
retries 429 (honouring Retry-After), 5xx and connection errors on its own."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

log = logging.getLogger(__name__)

# Errors that will not go away by trying again; the outbox gives up on them.
PERMANENT = frozenset({
    "channel_not_found", "invalid_blocks", "invalid_arguments", "not_in_channel", "is_archived",
    "msg_too_long", "no_text", "invalid_auth", "not_authed", "account_inactive", "user_not_found",
    "cant_update_message", "message_not_found", "invalid_trigger_id", "expired_trigger_id",
    "no_such_subteam", "invalid_name_specials", "invalid_name", "missing_scope", "not_allowed_token_type",
})


class SlackCallFailed(Exception):
    """Slack answered ok=false (after the client's own retries)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error

    @property
    def permanent(self) -> bool:
        """True when retrying cannot help."""
        return self.error in PERMANENT


def make_client(token: str, base_url: str, *, timeout: int = 10, max_retries: int = 3) -> WebClient:
    """A WebClient with retry handlers for rate limits, server errors and dropped connections."""
    if not base_url.endswith("/"):
        base_url += "/"
    client = WebClient(token=token, base_url=base_url, timeout=timeout)
    client.retry_handlers.extend([
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=max_retries),
        ConnectionErrorRetryHandler(max_retry_count=max_retries),
    ])
    return client


class SlackGateway:
    """Post, update, create channels, invite, open views: each raising SlackCallFailed."""

    def __init__(self, client: WebClient, *, group_cache_seconds: float = 60.0) -> None:
        self.client = client
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._groups_lock = threading.Lock()
        self._group_ttl = group_cache_seconds

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call a Web API method through slack_sdk's typed method (it knows each encoding)."""
        try:
            response = getattr(self.client, method.replace(".", "_"))(**kwargs)
            return dict(response.data)
        except SlackApiError as exc:
            raise SlackCallFailed(method, str(exc.response.get("error", "unknown_error"))) from exc

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None,
             thread_ts: str | None = None) -> dict[str, Any]:
        """chat.postMessage; returns channel and ts."""
        args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks is not None:
            args["blocks"] = blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        data = self.call("chat.postMessage", **args)
        return {"channel": data["channel"], "ts": data["ts"]}

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """chat.update of a message the bot posted."""
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        data = self.call("chat.update", **args)
        return {"channel": data.get("channel", channel), "ts": data.get("ts", ts)}

    def ephemeral(self, channel: str, user: str, text: str,
                  blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """chat.postEphemeral: only ``user`` sees it."""
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        self.call("chat.postEphemeral", **args)
        return {"channel": channel, "ts": None}

    def create_channel(self, name: str, *, attempts: int = 20) -> dict[str, Any]:
        """conversations.create; a taken name gets a numeric suffix."""
        for n in range(attempts):
            candidate = name if n == 0 else f"{name[:76]}-{n + 1}"
            try:
                data = self.call("conversations.create", name=candidate)
            except SlackCallFailed as exc:
                if exc.error == "name_taken":
                    continue
                raise
            return {"channel": data["channel"]["id"], "ts": None, "name": data["channel"]["name"]}
        raise SlackCallFailed("conversations.create", "name_taken")

    def invite(self, channel: str, users: list[str]) -> dict[str, Any]:
        """conversations.invite; members already there are fine."""
        for user in users:
            try:
                self.call("conversations.invite", channel=channel, users=user)
            except SlackCallFailed as exc:
                if exc.error not in ("already_in_channel", "cant_invite_self"):
                    raise
        return {"channel": channel, "ts": None}

    def topic(self, channel: str, topic: str) -> dict[str, Any]:
        """conversations.setTopic (Slack caps topics at 250 characters)."""
        self.call("conversations.setTopic", channel=channel, topic=topic[:250])
        return {"channel": channel, "ts": None}

    def pin(self, channel: str, ts: str) -> dict[str, Any]:
        """pins.add; a message already pinned is fine."""
        try:
            self.call("pins.add", channel=channel, timestamp=ts)
        except SlackCallFailed as exc:
            if exc.error != "already_pinned":
                raise
        return {"channel": channel, "ts": ts}

    def dm(self, user: str, text: str, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Open a DM with ``user`` and post to it."""
        channel = self.call("conversations.open", users=user)["channel"]["id"]
        return self.post(channel, text, blocks)

    def upload(self, channel: str, filename: str, content: str, title: str,
               comment: str | None = None) -> dict[str, Any]:
        """Share a text file in ``channel`` (files.upload v2 flow)."""
        try:
            self.client.files_upload_v2(channel=channel, filename=filename, content=content,
                                        title=title, initial_comment=comment)
        except SlackApiError as exc:
            raise SlackCallFailed("files.upload", str(exc.response.get("error", "unknown_error"))) from exc
        return {"channel": channel, "ts": None}

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """views.open for a modal."""
        data = self.call("views.open", trigger_id=trigger_id, view=view)
        return {"channel": None, "ts": None, "view_id": data.get("view", {}).get("id")}

    def group_members(self, group_id: str) -> frozenset[str]:
        """Members of a user group (usergroups.users.list), cached briefly."""
        now = time.monotonic()
        with self._groups_lock:
            hit = self._groups.get(group_id)
            if hit and now - hit[0] < self._group_ttl:
                return hit[1]
        data = self.call("usergroups.users.list", usergroup=group_id)
        members = frozenset(data.get("users", []))
        with self._groups_lock:
            self._groups[group_id] = (now, members)
        return members
