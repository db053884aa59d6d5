"""The attacks of issue 12, each as a user or an attacker would try it against the running bot."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlencode

import httpx
import pytest

from slackbox.actor import sign
from tests.e2e.conftest import API_TOKEN, SECRET, Stack

REL, INC, REQ = "C0RELEASES", "C0INCIDENTS", "U0REQUEST"
HUGE = "99999999999999999999999"


def signed(body: bytes, ts: str | None = None, secret: str = SECRET) -> dict[str, str]:
    """Headers as Slack signs ``body``."""
    ts = ts or str(int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(secret, ts, body),
            "Content-Type": "application/x-www-form-urlencoded"}


def post(stack: Stack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    assert stack.bot
    return httpx.post(stack.bot.url + "/slack/events", content=body, headers=headers, timeout=30)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def command(text: str, command: str = "/release") -> bytes:
    return urlencode({"command": command, "text": text, "channel_id": REL, "user_id": REQ,
                      "trigger_id": "1.2.3", "team_id": "T0SANDBOX"}).encode()


def test_malformed_unsigned_payload_is_401_not_500(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    for body in (b"payload=%7Bnot json", b"payload=[1,2]", b"\xff\xfe", b"payload=" + b"A" * 1000):
        answer = post(stack, body, {"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 401, body
        assert "X-Slack" in answer.json()["error"]
    assert errors(caplog) == []


@pytest.mark.parametrize("timestamp", ["abc", "1e9", "١٧٠٠٠٠٠٠٠٠", "+1700000000", "1_700_000_000", "9" * 40])
def test_every_bad_timestamp_is_401(stack: Stack, timestamp: str) -> None:
    body = command("list")
    headers = {**signed(body), "X-Slack-Request-Timestamp": timestamp}
    answer = httpx.post(stack.bot.url + "/slack/events", content=body, timeout=10,  # type: ignore[union-attr]
                        headers={k: v.encode() for k, v in headers.items()})
    assert answer.status_code == 401


def test_stale_forged_and_missing_signatures_are_401(stack: Stack) -> None:
    body = command("list")
    stale = signed(body, ts=str(int(time.time()) - 600))
    forged = signed(body, secret="not-the-secret")
    non_ascii = {**signed(body), "X-Slack-Signature": "v0=é"}
    for headers, reason in ((stale, "window"), (forged, "does not match"), ({}, "missing"),
                            (non_ascii, "not a v0 signature")):
        answer = httpx.post(stack.bot.url + "/slack/events", content=body, timeout=10,  # type: ignore[union-attr]
                            headers={k: v.encode() for k, v in headers.items()})
        assert answer.status_code == 401 and reason in answer.json()["error"]
    assert post(stack, body, signed(body)).status_code == 200  # the same body, signed, is served


def test_signed_but_malformed_bodies_are_400(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    cases = {
        b"payload=%7Bnot json": "payload= is not JSON",
        b"payload=%5B1%5D": "not a JSON object",
        b"\xff\xfe": "not UTF-8",
        urlencode({"command": "/release", "text": "list"}).encode(): "channel_id",
        urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": REQ}, "trigger_id": "1",
                                          "actions": ["x"]})}).encode(): "actions",
        urlencode({"payload": json.dumps({"type": "view_submission", "user": {"id": REQ}, "trigger_id": "1",
                                          "view": {"type": "modal", "state": {"values": {"b": 3}}}})}).encode():
            "view.state.values",
        # Longer than any Slack ID (and than the column it is stored in).
        urlencode({"command": "/incident", "text": "declare P2 x", "channel_id": REL,
                   "user_id": "start v1.2.4 incident=99999999999999999999999", "trigger_id": "1"}).encode():
            "user_id is not a Slack ID",
        urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U" * 40}, "trigger_id": "1",
                                          "actions": [{"action_id": "release_promote"}]})}).encode():
            "user.id is not a Slack ID",
    }
    for body, reason in cases.items():
        answer = post(stack, body, signed(body))
        assert answer.status_code == 400 and reason in answer.json()["error"], (body, answer.text)
    assert errors(caplog) == []


def test_a_signed_megabyte_command_is_a_quick_usage_reply(stack: Stack) -> None:
    body = command("start v1 " + "ab " * 330_000)  # about 1 MB once encoded, under the body limit
    assert 900_000 < len(body) < 1_048_576
    started = time.monotonic()
    answer = post(stack, body, signed(body))
    assert time.monotonic() - started < 5  # shlex.split on it took 26 s
    assert answer.status_code == 200 and "the limit is 4,000" in answer.json()["text"]
    assert stack.api("/api/releases").json()["releases"] == []


def test_bodies_over_the_limit_are_413(stack: Stack) -> None:
    big = b"text=" + b"a" * 1_100_000
    assert post(stack, big, signed(big)).status_code == 413
    assert post(stack, big, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413


def test_huge_and_non_ascii_ids_are_404_or_usage_never_500(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    assert stack.api(f"/api/incidents/{HUGE}").status_code == 404
    assert stack.api(f"/api/incidents/{HUGE}/timeline.md").status_code == 404
    assert stack.api("/api/incidents/%D9%A3").status_code == 400  # Arabic-Indic three
    assert stack.api("/api/incidents/0").status_code == 404
    assert stack.api("/api/releases?limit=%D9%A3").status_code == 400
    for text, expected in ((f"start v1.0.0 incident={HUGE}", "There is no incident number"),
                           ("start v1.0.0 incident=٣", "is not a valid incident number"),
                           ("start v1.0.0 incident=³", "is not a valid incident number")):
        reply = stack.ws.command(REQ, REL, "/release", text).json()
        assert reply["response_type"] == "ephemeral" and expected in reply["text"], reply
    for text in (f"status {HUGE}", "status ٣", f"followup done {HUGE}", f"timeline #{HUGE}"):
        reply = stack.ws.command(REQ, INC, "/incident", text).json()
        assert reply["response_type"] == "ephemeral" and "incident number" in reply["text"], (text, reply)
    assert stack.api("/api/releases").json()["releases"] == []
    assert errors(caplog) == []


def test_a_button_with_a_huge_incident_id_is_refused_politely(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    payload = {"type": "block_actions", "user": {"id": REQ}, "trigger_id": "1.2", "channel": {"id": INC},
               "actions": [{"action_id": "incident_resolve", "value": json.dumps({"i": 10**30}), "action_ts": "1"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert post(stack, body, signed(body)).status_code == 200
    assert errors(caplog) == []


def test_the_bearer_scheme_is_case_insensitive(stack: Stack) -> None:
    assert stack.bot
    for scheme in ("Bearer", "bearer", "BEARER"):
        answer = httpx.get(stack.bot.url + "/api/releases", headers={"Authorization": f"{scheme} {API_TOKEN}"})
        assert answer.status_code == 200
    assert httpx.get(stack.bot.url + "/api/releases", headers={"Authorization": "Basic eA=="}).status_code == 401


def test_api_and_hooks_are_rate_limited_per_source(make_stack) -> None:  # noqa: ANN001 - the fixture factory
    stack = make_stack(WARROOM_API_RATE="0.05", WARROOM_API_BURST="3", WARROOM_HOOKS_RATE="0.05",
                       WARROOM_HOOKS_BURST="2")
    assert stack.bot
    answers = [stack.api("/api/releases") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    # Another source address has its own bucket.
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    assert other.get(stack.bot.url + "/api/releases", headers={"Authorization": f"Bearer {API_TOKEN}"}
                     ).status_code == 200
    other.close()
    hooks = [httpx.post(stack.bot.url + "/hooks/github", content=b"{}").status_code for _ in range(3)]
    assert hooks[-1] == 429 and 429 not in hooks[:2]
    # Slack's own deliveries are never rate limited here.
    body = command("list")
    assert all(post(stack, body, signed(body)).status_code == 200 for _ in range(5))


def test_hooks_take_bigger_bodies_than_the_api(stack: Stack) -> None:
    assert stack.bot
    two_mb = b"{" + b" " * 2_000_000 + b"}"
    assert httpx.post(stack.bot.url + "/hooks/github", content=two_mb).status_code == 404  # no such hook yet
    assert httpx.post(stack.bot.url + "/api/releases", content=two_mb).status_code == 413
    assert httpx.post(stack.bot.url + "/hooks/github", content=b"x" * 6_000_000).status_code == 413


def test_command_text_with_the_word_payload_is_still_a_command(stack: Stack) -> None:
    """Bolt alone reads any form body containing "payload" as an interaction (and drops the command)."""
    reply = stack.ws.command(REQ, REL, "/release", "start v1.0.0 payload checks").json()
    assert "v1.0.0 started" in reply["text"], reply
