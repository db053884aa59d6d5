"""The sandbox acting as Slack towards the bot: signed slash commands, button clicks and view submissions."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from slackbox.api_common import ApiError, public_view, slack_message
from slackbox.payloads import (
    SandboxError,
    action_obj,
    checkboxes_action,
    find_element,
    state_values,
    team_obj,
    user_obj,
)
from slackbox.responses import apply_command_response, apply_message_response, apply_view_response
from slackbox.seed import APP_ID, TEAM_DOMAIN, TEAM_ID
from slackbox.store import SandboxStore

T = TypeVar("T")
VERIFICATION_TOKEN = "sandbox-verification-token"  # noqa: S105 - Slack's deprecated, non-secret token field


def sign(signing_secret: str, timestamp: str, body: str | bytes) -> str:
    """Return Slack's X-Slack-Signature for a request body (slack_sdk computes it, as the bot checks it)."""
    if isinstance(body, bytes) and not _utf8(body):
        # Slack signs the raw bytes; slack_sdk decodes them as UTF-8 first, so hostile non-UTF-8 bodies
        # (which the bot must still answer 400 when signed, 401 when not) are hashed here as sent.
        base = b"v0:" + timestamp.encode() + b":" + body
        return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)
    if signature is None:  # slack_sdk returns None only for a missing timestamp or body
        raise ValueError("a signature needs a timestamp and a body")
    return signature


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Workspace:
    """Acts as Slack towards the bot and reads the workspace state back for tests and the UI.

    Methods are synchronous (httpx); from async code call them via `starlette.concurrency.run_in_threadpool`.
    """

    def __init__(
        self,
        store: SandboxStore,
        bot_events_url: str,
        signing_secret: str,
        *,
        base_url: str | None = None,
        ack_timeout: float = 3.0,
        clock: Callable[[], float] = time.time,
        commands: list[str] | None = None,
    ) -> None:
        self.store = store
        self.bot_events_url = bot_events_url
        self.signing_secret = signing_secret
        self.base_url = base_url  # this workspace's own URL (for response_url), set once it is served
        self.ack_timeout = ack_timeout
        self.clock = clock
        self.commands = commands  # slash commands from the app manifest; None accepts any
        self._http = httpx.Client(timeout=ack_timeout, trust_env=False)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()

    # -- sending ----------------------------------------------------------------------------------
    def signed_headers(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        """Return the headers Slack sends with a request body (timestamp defaults to the clock)."""
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(self.signing_secret, ts, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    def post_to_bot(self, body: str) -> httpx.Response:
        """POST a signed, form-encoded body to the bot's events URL."""
        try:
            return self._http.post(
                self.bot_events_url, content=body.encode(), headers=self.signed_headers(body)
            )
        except httpx.TimeoutException as exc:
            raise SandboxError(
                f"the bot did not answer {self.bot_events_url} within {self.ack_timeout}s "
                "(Slack shows an operation_timeout error)"
            ) from exc

    def _response_url(self, token: str) -> str:
        if not self.base_url:
            raise SandboxError(
                "Workspace.base_url is not set: serve the workspace app first (start_workspace)"
            )
        return f"{self.base_url.rstrip('/')}/sandbox/response/{token}"

    def _member(self, user: str) -> dict[str, Any]:
        member = self.store.member(user)
        if member is None:
            raise SandboxError(f"no member {user!r}")
        return member

    def _channel(self, channel: str) -> dict[str, Any]:
        found = self.store.resolve_channel(channel)
        if found is None:
            raise SandboxError(f"no channel {channel!r}")
        return found

    # -- user actions -----------------------------------------------------------------------------
    def open_home(self, user: str) -> httpx.Response:
        """Open the app's Home tab as `user`: Slack sends an `app_home_opened` event."""
        self._member(user)
        body = json.dumps({
            "token": VERIFICATION_TOKEN, "team_id": TEAM_ID, "api_app_id": APP_ID, "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}", "event_time": int(self.clock()),
            "event": {"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home",
                      "event_ts": f"{self.clock():.6f}"},
        })
        try:
            return self._http.post(self.bot_events_url, content=body.encode(),
                                   headers={**self.signed_headers(body), "Content-Type": "application/json"})
        except httpx.TimeoutException as exc:
            raise SandboxError(f"the bot did not answer {self.bot_events_url} within {self.ack_timeout}s") from exc

    def home(self, user: str) -> dict[str, Any] | None:
        """The Home view the app last published for `user`."""
        return self.store.home(user)

    def command(self, user: str, channel: str, command: str, text: str = "") -> httpx.Response:
        """Run a slash command as `user` in `channel` (id or name); shows the bot's answer as Slack does."""
        member, chan = self._member(user), self._channel(channel)
        if user not in chan["members"]:
            raise SandboxError(f"{user} is not a member of {channel}")
        if self.commands is not None and command not in self.commands:
            raise SandboxError(f"{command} is not a valid command (manifest declares {self.commands})")
        token = self.store.issue_response_url(user, chan["id"])
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": chan["id"],
            "channel_name": "directmessage" if chan["is_im"] else chan["name"],
            "user_id": user,
            "user_name": member["name"],
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url(token),
            "trigger_id": self.store.issue_trigger(user),
        }
        response = self.post_to_bot(urlencode(form))
        apply_command_response(self.store, command, {"user": user, "channel": chan["id"]}, response)
        return response

    def _message(self, user: str, channel: str, ts: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(member, channel, message) for `user` acting in a message they can see."""
        member, chan = self._member(user), self._channel(channel)
        message = self.store.message(chan["id"], ts)
        if message is None:
            raise SandboxError(f"no message {ts} in {channel}")
        if message["ephemeral_for"] not in (None, user):
            raise SandboxError(f"message {ts} is ephemeral for {message['ephemeral_for']}, not {user}")
        if message["ephemeral_for"] is None and user not in chan["members"]:
            raise SandboxError(f"{user} is not a member of {channel}")
        return member, chan, message

    def _message_action(self, member: dict[str, Any], chan: dict[str, Any], message: dict[str, Any],
                        action: dict[str, Any], state: dict[str, Any]) -> httpx.Response:
        """Send the block_actions payload of one action in a message."""
        user, ts = member["id"], message["ts"]
        is_ephemeral = message["ephemeral_for"] is not None
        token = self.store.issue_response_url(user, chan["id"], message_ts=ts, is_ephemeral=is_ephemeral)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": user_obj(member),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": chan["id"],
                "is_ephemeral": is_ephemeral,
            },
            "trigger_id": self.store.issue_trigger(user),
            "team": team_obj(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": chan["id"], "name": "directmessage" if chan["is_im"] else chan["name"]},
            "state": {"values": state},
            "response_url": self._response_url(token),
            "actions": [action],
        }
        if not is_ephemeral:  # Slack does not send the message of an ephemeral container
            payload["message"] = slack_message(message)
        return self.post_to_bot(urlencode({"payload": json.dumps(payload)}))

    def click(
        self, user: str, channel: str, ts: str, action_id: str, value: str | None = None
    ) -> httpx.Response:
        """Click a button (found by action_id, and value when given) in a message, as `user`."""
        member, chan, message = self._message(user, channel, ts)
        block, element = find_element(message["blocks"], action_id, value)
        return self._message_action(member, chan, message, action_obj(block, element), {})

    def tick(
        self, user: str, channel: str, ts: str, action_id: str, selected: list[str], block_id: str | None = None
    ) -> httpx.Response:
        """Tick or untick checkboxes in a message as `user`: `selected` is the element's whole selection
        (option values) after the click, as Slack sends it; the message itself is not changed (Slack keeps
        the ticks in the client until the app updates the message)."""
        member, chan, message = self._message(user, channel, ts)
        block, element = find_element(message["blocks"], action_id, types=("checkboxes",), block_id=block_id)
        state = state_values({"blocks": message["blocks"]}, {f"{block.get('block_id')}.{action_id}": list(selected)},
                             check_required=False)
        return self._message_action(member, chan, message, checkboxes_action(block, element, list(selected)), state)

    def _top_view(self, user: str, view_id: str) -> dict[str, Any]:
        view = self.store.view(view_id)
        if view is None or not view["is_open"] or view["user"] != user:
            raise SandboxError(
                f"view {view_id} is not open for {user}; open: {[v['id'] for v in self.open_views(user)]}"
            )
        if self.open_views(user)[-1]["id"] != view_id:
            raise SandboxError(f"view {view_id} is not the top of {user}'s modal stack")
        return view

    def click_in_view(
        self, user: str, view_id: str, action_id: str, value: str | None = None
    ) -> httpx.Response:
        """Click a button inside an open modal, as `user`."""
        view = self._top_view(user, view_id)
        block, element = find_element(view["blocks"], action_id, value)
        payload = {
            "type": "block_actions",
            "user": user_obj(self._member(user)),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.store.issue_trigger(user),
            "team": team_obj(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": public_view(view),
            "actions": [action_obj(block, element)],
        }
        return self.post_to_bot(urlencode({"payload": json.dumps(payload)}))

    def submit_view(self, user: str, view_id: str, values: dict[str, Any] | None = None) -> httpx.Response:
        """Fill a modal's inputs ({action_id: value}) and submit it; applies the bot's response_action."""
        view = self._top_view(user, view_id)
        state = {"values": state_values(view, values or {})}
        view = self.store.update_view(view_id, state=state)
        payload = {
            "type": "view_submission",
            "team": team_obj(),
            "user": user_obj(self._member(user)),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.store.issue_trigger(user),
            "view": public_view(view),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        response = self.post_to_bot(urlencode({"payload": json.dumps(payload)}))
        apply_view_response(self.store, view, response)
        return response

    def close_view(self, user: str, view_id: str) -> httpx.Response | None:
        """Press a modal's Close button; sends view_closed when the view asked for notify_on_close."""
        view = self._top_view(user, view_id)
        cleared = bool(view.get("clear_on_close"))
        stack = [v for v in self.open_views(user) if v["root_view_id"] == view["root_view_id"]]
        self.store.close_views([v["id"] for v in stack] if cleared else [view_id])
        if not view.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "team": team_obj(),
            "user": user_obj(self._member(user)),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": public_view(view),
            "is_cleared": cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.post_to_bot(urlencode({"payload": json.dumps(payload)}))

    def post_as(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """Post a plain message as a human member (stored only; no Events API delivery)."""
        chan = self._channel(channel)
        return self.store.post_message(
            chan["id"], user=self._member(user)["id"], text=text, thread_ts=thread_ts
        )

    def handle_response_url(self, token: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Apply a POST to a response_url; returns (HTTP status, JSON body) as Slack answers."""
        info, error = self.store.use_response_url(token)
        if error:
            return 404, {"ok": False, "error": error}
        assert info is not None
        try:
            apply_message_response(self.store, info, body)
        except ApiError as exc:
            return 400, {"ok": False, "error": exc.error, **exc.extra}
        return 200, {"ok": True}

    # -- reading the workspace --------------------------------------------------------------------
    def messages(
        self,
        channel: str,
        include_ephemeral_for: str | None = None,
        *,
        include_replies: bool = False,
        include_system: bool = False,
    ) -> list[dict[str, Any]]:
        """Return a channel's messages oldest first (top level only unless include_replies)."""
        found = self.store.messages(self._channel(channel)["id"], include_ephemeral_for=include_ephemeral_for)
        return [
            m
            for m in found
            if (include_replies or not m["thread_ts"] or m["thread_ts"] == m["ts"] or m["reply_broadcast"])
            and (include_system or m["subtype"] not in ("channel_join", "channel_topic"))
        ]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Return a thread: the parent message then its replies."""
        found = self.store.messages(self._channel(channel)["id"])
        return [m for m in found if m["ts"] == ts or m["thread_ts"] == ts]

    def ephemerals(self, user: str, channel: str | None = None) -> list[dict[str, Any]]:
        """Return the ephemeral messages shown to `user` (in one channel or all), oldest first."""
        cid = self._channel(channel)["id"] if channel else None
        return [m for m in self.store.messages(cid, include_ephemeral_for=user) if m["ephemeral_for"] == user]

    def open_views(self, user: str) -> list[dict[str, Any]]:
        """Return the user's open modals, bottom of the stack first (each with `errors` and `state`)."""
        return self.store.open_views(user)

    def channel_by_name(self, name: str) -> dict[str, Any] | None:
        """Return a channel by name ('#name' or 'name') or None."""
        return self.store.channel_by_name(name)

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Return the Web API calls the bot made, oldest first."""
        return self.store.calls(method)

    def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,
        interval: float = 0.02,
        what: str | None = None,
    ) -> T:
        """Poll `predicate` until it returns a truthy value (returned); AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                recent = [f"{c['method']}({'ok' if c['ok'] else c['error']})" for c in self.calls()[-10:]]
                label = what or getattr(predicate, "__name__", repr(predicate))
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {label}"
                    f"; last value {value!r}; last API calls: {recent}"
                )
            time.sleep(interval)
