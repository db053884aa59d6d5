"""POST /slack/events: verify Slack's signature on the raw bytes, then parse, check the shape, dispatch to Bolt.

The order matters: nothing from an unsigned body is parsed, so a malformed unsigned ``payload=`` is a
401 like any other forgery. A signed body that is not what Slack sends (not UTF-8, not a JSON object,
a command without its channel) is a 400 naming the problem, never a 500 inside Bolt or a listener.
Bolt gets the parsed body re-encoded as JSON, so it does not parse it a second, different way (Bolt
reads any form body containing the word "payload" as an interaction), and its own signature check
is off: this is where it happens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.ids import ascii_digits

Endpoint = Callable[[Request], Awaitable[Response]]
WINDOW_SECONDS = 300  # Slack's replay window
MAX_ID = 32  # the longest user or channel ID stored (storage.models)


class Malformed(Exception):
    """A signed body that is not shaped as Slack sends it (answered 400 with the message)."""


def verify(verifier: SignatureVerifier, body: bytes, timestamp: str | None, signature: str | None) -> str | None:
    """Why the request is not signed by Slack (None: it is). Every failure here is a 401."""
    if not timestamp or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    # int() would take "١٧", " 17 " or "1_7"; compare_digest raises on non-ASCII text.
    if len(timestamp) > 12 or not ascii_digits(timestamp):
        return "X-Slack-Request-Timestamp is not a Unix time"
    if len(signature) > 128 or not signature.isascii() or not signature.startswith("v0="):
        return "X-Slack-Signature is not a v0 signature"
    if abs(verifier.clock.now() - int(timestamp)) > WINDOW_SECONDS:
        return "X-Slack-Request-Timestamp is outside the 5-minute window"
    if not (verifier.is_valid(body, timestamp, signature) if _utf8(body) else _valid_bytes(verifier, body, timestamp,
                                                                                           signature)):
        return "the signature does not match"
    return None


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _valid_bytes(verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str) -> bool:
    # slack_sdk decodes the body as UTF-8 before hashing; Slack never sends other bytes, but such a
    # body must still be a 401 when unsigned (and a 400 when signed), so hash the raw bytes here.
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(verifier.signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def parse(body: bytes, content_type: str) -> dict[str, Any]:
    """The payload of a verified body: a JSON object (Events API), ``payload=`` JSON, or a form."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed("the body is not UTF-8") from exc
    if content_type.split(";")[0].strip().lower() == "application/json":
        return _object(text, "the JSON body")
    form = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in form:
        return _object(form["payload"], "payload=")
    return form


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not a JSON object")
    return value


def _str(container: Any, key: str, where: str, *, optional: bool = False) -> None:
    value = container.get(key)
    if value is None and optional:
        return
    if not isinstance(value, str) or (not optional and not value):
        raise Malformed(f"{where}{key} must be a string")


def _slack_id(container: Any, key: str, where: str) -> None:
    # Slack's user and channel IDs are short; a longer one is not Slack's and would not fit
    # the 32-character columns they are stored in.
    if len(container[key]) > MAX_ID:
        raise Malformed(f"{where}{key} is not a Slack ID (longer than {MAX_ID} characters)")


def _dict(container: Any, key: str, where: str, *, optional: bool = False) -> Any:
    value = container.get(key)
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{where}{key} must be an object")
    return value


def check_shape(body: dict[str, Any]) -> None:
    """Raise Malformed unless ``body`` has the fields (and types) our listeners and Bolt read."""
    for key in ("team", "enterprise", "user", "channel", "container", "view", "event", "message"):
        if key in body and body[key] is not None and not isinstance(body[key], dict | str):
            raise Malformed(f"{key} must be an object")
    if "authorizations" in body and not (isinstance(body["authorizations"], list)
                                         and all(isinstance(a, dict) for a in body["authorizations"])):
        raise Malformed("authorizations must be a list of objects")
    if "ssl_check" in body:
        return
    if "command" in body:
        for key in ("command", "channel_id", "user_id", "trigger_id"):
            _str(body, key, "")
        _str(body, "text", "", optional=True)
        _slack_id(body, "user_id", "")
        _slack_id(body, "channel_id", "")
        return
    kind = body.get("type")
    if not isinstance(kind, str):
        raise Malformed("a payload needs a type (or a slash command its command)")
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"):
        _str(_dict(body, "user", ""), "id", "user.")
        _slack_id(body["user"], "id", "user.")
        _str(body, "trigger_id", "", optional=kind == "view_closed")
        _dict(body, "channel", "", optional=True)
        _dict(body, "container", "", optional=True)
    if kind == "block_actions":
        _check_actions(body.get("actions"))
    if kind in ("view_submission", "view_closed"):
        _check_view(_dict(body, "view", ""))
    if kind == "event_callback":
        _str(_dict(body, "event", ""), "type", "event.")
    if kind == "url_verification":
        _str(body, "challenge", "")


def _check_actions(actions: Any) -> None:
    if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
        raise Malformed("actions must be a non-empty list of objects")
    for action in actions:
        _str(action, "action_id", "actions[].")
        for key in ("block_id", "value", "action_ts"):
            _str(action, key, "actions[].", optional=True)


def _check_view(view: dict[str, Any]) -> None:
    _str(view, "type", "view.")
    _str(view, "callback_id", "view.", optional=True)
    _str(view, "private_metadata", "view.", optional=True)
    values = _dict(_dict(view, "state", "view.", optional=True), "values", "view.state.", optional=True)
    for block in values.values():
        if not isinstance(block, dict) or not all(isinstance(e, dict) for e in block.values()):
            raise Malformed("view.state.values must map block ids to objects of elements")
        for element in block.values():
            _str(element, "type", "view.state.values element ", optional=True)
            _str(element, "value", "view.state.values element ", optional=True)
            _str(element, "selected_user", "view.state.values element ", optional=True)
            _str(element, "selected_date", "view.state.values element ", optional=True)
            option = element.get("selected_option")
            if option is not None and not (isinstance(option, dict) and isinstance(option.get("value"), str)):
                raise Malformed("selected_option must be an option object")
            options = element.get("selected_options")
            if options is not None and not (isinstance(options, list) and all(
                    isinstance(o, dict) and isinstance(o.get("value"), str) for o in options)):
                raise Malformed("selected_options must be a list of option objects")


def _bad(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def endpoint(bolt: App, signing_secret: str) -> Endpoint:
    """The /slack/events route: 401 unless signed, 400 unless shaped as Slack sends it, else Bolt's answer."""
    verifier = SignatureVerifier(signing_secret)

    async def slack_events(request: Request) -> Response:
        body = await request.body()  # bounded by the edge limits (bot/edge.py)
        reason = verify(verifier, body, request.headers.get("x-slack-request-timestamp"),
                        request.headers.get("x-slack-signature"))
        if reason:
            return _bad(401, reason)
        try:
            payload = parse(body, request.headers.get("content-type", ""))
            check_shape(payload)
        except Malformed as exc:
            return _bad(400, f"not a Slack payload: {exc}")
        # From the scope as the server gave it (Starlette's URL and header views parse more than Bolt reads).
        headers: dict[str, str | Sequence[str]] = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]
            if k not in (b"content-type", b"content-length")}
        headers["content-type"] = "application/json"
        bolt_request = BoltRequest(body=json.dumps(payload), query=request.scope["query_string"].decode("latin-1"),
                                   headers=headers)
        answer = await run_in_threadpool(bolt.dispatch, bolt_request)
        return Response(answer.body, status_code=answer.status, headers=answer.first_headers_without_set_cookie())

    return slack_events
