"""The one way workflow code reaches Slack: a few verbs over slack_sdk's WebClient.

The outbox sender's client never retries inside the SDK (a Retry-After sleep there would hold
every other channel): its failures come out typed, temporary or permanent, and the sender
schedules the retry of that one row. Clients for other uses may keep the SDK's retries."""

from __future__ import annotations

import logging
import threading
import time
from http.client import HTTPException
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
    """Slack answered ok=false, an HTTP error status, or could not be reached."""

    def __init__(self, method: str, error: str, *, retry_after: float | None = None,
                 transient: bool = False) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error
        self.retry_after = retry_after
        self.transient = transient

    @property
    def permanent(self) -> bool:
        """True when retrying cannot help."""
        return not self.transient and self.error in PERMANENT


def make_client(token: str, base_url: str, *, timeout: int = 10, max_retries: int = 3) -> WebClient:
    """A WebClient; ``max_retries=0`` leaves every retry to the caller (the outbox sender)."""
    if not base_url.endswith("/"):
        base_url += "/"
    client = WebClient(token=token, base_url=base_url, timeout=timeout)
    if max_retries <= 0:
        client.retry_handlers = []  # the SDK's default connection-error retry included
        return client
    client.retry_handlers.extend([
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=max_retries),
        ConnectionErrorRetryHandler(max_retry_count=max_retries),
    ])
    return client


def unreachable(exc: BaseException) -> str:
    """What to record for a call that got no answer; "timeout" means it may have arrived."""
    if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
        return "unreachable: timeout"
    return f"unreachable: {type(getattr(exc, 'reason', None) or exc).__name__}"


def _failure(method: str, exc: SlackApiError) -> SlackCallFailed:
    """Classify Slack's answer: 429 and 5xx are temporary whatever the body says."""
    status = getattr(exc.response, "status_code", 200) or 200
    headers = getattr(exc.response, "headers", None) or {}
    retry_after: float | None = None
    for name, value in dict(headers).items():
        if name.lower() == "retry-after":
            try:
                retry_after = float(value[0] if isinstance(value, list) else value)
            except (TypeError, ValueError):
                retry_after = None
    try:
        error = str(exc.response.get("error", "unknown_error"))
    except Exception:  # a body that is not JSON (a proxy's 503 page)
        error = "unknown_error"
    if status == 429 or error == "ratelimited":
        return SlackCallFailed(method, "ratelimited", retry_after=retry_after or 1.0, transient=True)
    if status >= 500:
        return SlackCallFailed(method, f"http_{status}", retry_after=retry_after, transient=True)
    return SlackCallFailed(method, error)


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
            raise _failure(method, exc) from exc
        except (OSError, HTTPException) as exc:  # refused, reset, timed out (URLError is an OSError)
            raise SlackCallFailed(method, unreachable(exc), transient=True) from exc

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

    def find_posted(self, channel: str, text: str, since: float, thread_ts: str | None = None) -> str | None:
        """The ts of a bot message with exactly ``text`` posted in ``channel`` (or that thread)
        since ``since`` (epoch seconds): how a retry learns its first try went through."""
        args: dict[str, Any] = {"channel": channel, "oldest": f"{since - 5:.6f}", "limit": 200}
        if thread_ts:
            data = self.call("conversations.replies", ts=thread_ts, **args)
        else:
            data = self.call("conversations.history", **args)
        for message in data.get("messages", []):
            if message.get("text") == text and (message.get("bot_id") or message.get("subtype") == "bot_message"):
                return str(message["ts"])
        return None

    def ephemeral(self, channel: str, user: str, text: str,
                  blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """chat.postEphemeral: only ``user`` sees it."""
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        self.call("chat.postEphemeral", **args)
        return {"channel": channel, "ts": None}

    def create_channel(self, name: str, *, attempts: int = 20, adopt: bool = False) -> dict[str, Any]:
        """conversations.create; a taken name gets a numeric suffix.

        ``adopt``: an earlier try of this same call may have created the channel before its
        answer was lost, so a taken name means that channel: it is looked up and used.
        """
        for n in range(attempts):
            candidate = name if n == 0 else f"{name[:76]}-{n + 1}"
            try:
                data = self.call("conversations.create", name=candidate)
            except SlackCallFailed as exc:
                if exc.error != "name_taken":
                    raise
                if adopt and n == 0:
                    found = self.find_channel(candidate)
                    if found:
                        return {"channel": found, "ts": None, "name": candidate}
                continue
            return {"channel": data["channel"]["id"], "ts": None, "name": data["channel"]["name"]}
        raise SlackCallFailed("conversations.create", "name_taken")

    def find_channel(self, name: str) -> str | None:
        """The ID of the channel called ``name`` (conversations.list, page by page), or None."""
        cursor = None
        for _ in range(100):
            args: dict[str, Any] = {"limit": 1000, "exclude_archived": True, "types": "public_channel,private_channel"}
            if cursor:
                args["cursor"] = cursor
            data = self.call("conversations.list", **args)
            for channel in data.get("channels", []):
                if channel.get("name") == name:
                    return str(channel["id"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

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
            raise _failure("files.upload", exc) from exc
        except (OSError, HTTPException) as exc:
            raise SlackCallFailed("files.upload", unreachable(exc), transient=True) from exc
        return {"channel": channel, "ts": None}

    def upload_png(self, channel: str | None, filename: str, png: bytes, title: str, alt_txt: str,
                   comment: str | None = None) -> dict[str, Any]:
        """Share an image in ``channel`` (files.upload v2 flow) with alt text for screen readers;
        with no channel it is uploaded unshared (an App Home image block shows it by its ID).
        Returns the file's ID as ``file``."""
        try:
            resp = self.client.files_upload_v2(channel=channel, filename=filename, content=png, title=title,
                                               alt_txt=alt_txt, initial_comment=comment)
        except SlackApiError as exc:
            raise SlackCallFailed("files.upload", str(exc.response.get("error", "unknown_error"))) from exc
        file = resp.get("file") or {}
        return {"channel": channel, "ts": None, "file": file.get("id") if isinstance(file, dict) else None}

    def publish_view(self, user_id: str, view: dict[str, Any], digest: str | None = None) -> dict[str, Any]:
        """views.publish: a user's App Home tab. Returns the user and ``digest`` (what was
        published), which the outbox stores so an unchanged Home is not published again."""
        self.call("views.publish", user_id=user_id, view=view)
        return {"channel": user_id, "ts": digest}

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """views.open for a modal."""
        data = self.call("views.open", trigger_id=trigger_id, view=view)
        return {"channel": None, "ts": None, "view_id": data.get("view", {}).get("id")}

    def respond_later(self, response_url: str | None, text: str) -> None:
        """Send an ephemeral reply to ``response_url`` from a background thread (not via the
        outbox: used when the database is unreachable)."""
        if not response_url:
            return

        def send() -> None:
            from slack_sdk.webhook import WebhookClient

            try:
                WebhookClient(response_url, timeout=5).send(text=text, response_type="ephemeral",
                                                           replace_original=False)
            except Exception as exc:  # best effort: the user can click again
                log.warning("could not answer a response_url: %s", type(exc).__name__)

        threading.Thread(target=send, name="warroom-respond", daemon=True).start()

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
