"""Fuzz every edge a stranger can reach: /slack/events (signed and unsigned, every payload kind the bot
accepts), /api and /hooks. Mutated requests go to the real bot over HTTP; outcomes are counted and the
test fails on any 5xx or any ERROR logged. Bounded: WARROOM_FUZZ_EXAMPLES (default 1000 Slack + 500 API
requests per database backend, so 3,000 with PostgreSQL)."""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from slackbox.actor import sign
from tests.e2e.conftest import API_TOKEN, SECRET, Stack

REL, INC, USER = "C0RELEASES", "C0INCIDENTS", "U0REQUEST"
EXAMPLES = int(os.environ.get("WARROOM_FUZZ_EXAMPLES", "1000"))
NASTY = ["99999999999999999999999", "٣", "#٣", "³", "0", "-1", "1e3", "1_0", " 1 ", "#1", "1", "",
         "<!channel>", "x" * 5000, "'unbalanced \"quotes", "incident=99999999999999999999999", "\x00", "é" * 3]
COMMANDS = ["start v1.2.3 risk=high Notes", "start v1.2.4 incident=99999999999999999999999", "start v1.2.5 incident=٣",
            "promote v1.2.3", "approve v1.2.3", "status", "list", "rollback v1.2.3 broken", "help",
            "declare P1 Checkout down", "status 99999999999999999999999", "status ٣", "timeline #1", "export 1",
            "followup done 99999999999999999999999", "role commander <@U0APPROVE1>", "update all good", "hotfix v9.9.9"]

text_values = st.one_of(st.text(max_size=30), st.sampled_from(NASTY), st.sampled_from(COMMANDS))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=False)
    | text_values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _user() -> dict[str, Any]:
    return {"id": USER, "username": "req", "name": "req", "team_id": "T0SANDBOX"}


def _action(action_id: str, value: Any) -> dict[str, Any]:
    return {"type": "block_actions", "user": _user(), "team": {"id": "T0SANDBOX"}, "trigger_id": "1.2.fuzz",
            "channel": {"id": REL}, "container": {"type": "message", "channel_id": REL, "message_ts": "1.1"},
            "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "action_ts": "1.5",
                         "value": json.dumps(value)}]}


def _view(callback_id: str, meta: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "view_submission", "user": _user(), "team": {"id": "T0SANDBOX"}, "trigger_id": "1.2.fuzz",
            "view": {"id": "V1", "type": "modal", "callback_id": callback_id, "private_metadata": json.dumps(meta),
                     "state": {"values": {k: {k: v} for k, v in values.items()}}}}


def _text(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def _select(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value}}


SEEDS: list[tuple[str, dict[str, Any]]] = [
    *[("form", {"command": cmd, "text": text, "channel_id": REL, "user_id": USER, "trigger_id": "1.2.fuzz",
                "team_id": "T0SANDBOX", "response_url": "http://127.0.0.1:9/none"})
      for cmd in ("/release", "/incident") for text in ("", "status", "start v1.0.0", "declare P2 x")],
    *[("payload", _action(a, {"v": "v1.2.3", "s": "dev", "i": 1}))
      for a in ("release_promote", "release_approve", "release_reject", "release_rollback", "release_checklist",
                "incident_update", "incident_decision", "incident_role", "incident_hotfix", "incident_mitigated",
                "incident_resolve", "incident_postmortem_done")],
    ("payload", _view("release_start", {"channel_id": REL}, {"version": _text("v3.0.0"), "risk": _select("low")})),
    ("payload", _view("release_checklist", {"version": "v1.2.3"},
                      {"c": {"type": "checkboxes", "selected_options": [{"value": "s0.i0"}]}})),
    ("payload", _view("release_reason", {"version": "v1.2.3", "action": "rollback"}, {"reason": _text("bad")})),
    ("payload", _view("incident_declare", {"channel_id": INC}, {"severity": _select("P2"), "title": _text("db")})),
    ("payload", _view("incident_update", {"i": 1}, {"text": _text("progress")})),
    ("payload", _view("incident_role", {"i": 1}, {"role": _select("scribe"),
                                                   "user": {"type": "users_select", "selected_user": USER}})),
    ("payload", _view("incident_hotfix", {"i": 1, "channel_id": INC}, {"version": _text("v1.2.9")})),
    ("json", {"type": "event_callback", "team_id": "T0SANDBOX", "event_id": "Ev1",
              "event": {"type": "app_mention", "user": USER, "text": "<@U0WARROOM> hi", "channel": REL}}),
    ("json", {"type": "url_verification", "challenge": "abc", "token": "x"}),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


def _mutate(draw: Callable[..., Any], body: dict[str, Any], form: bool) -> None:
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(body)
        if not paths:
            return
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(text_values if form or draw(st.booleans()) else json_values)
        if isinstance(parent, dict) and isinstance(parent.get("value"), dict | list):  # a button's JSON value
            parent["value"] = json.dumps(parent["value"])


@st.composite
def slack_requests(draw: Callable[..., Any]) -> tuple[bytes, dict[str, str], str]:
    """One mutated Slack request: (body, headers, what) signed or not, with a valid or broken encoding."""
    kind, seed = draw(st.sampled_from(SEEDS))
    body = copy.deepcopy(seed)
    _mutate(draw, body, form=kind == "form")
    if kind == "form":
        raw = urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
    elif kind == "payload":
        raw = urlencode({"payload": json.dumps(body)})
    else:
        raw = json.dumps(body)
    data = raw.encode()
    corrupt = draw(st.sampled_from(["none"] * 16 + ["truncate", "bytes", "payload-junk", "empty"]))
    if corrupt == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif corrupt == "bytes":
        data = draw(st.binary(max_size=200))
    elif corrupt == "payload-junk":
        data = b"payload=" + quote(draw(st.text(max_size=60))).encode()
    elif corrupt == "empty":
        data = b""
    content_type = "application/json" if kind == "json" else "application/x-www-form-urlencoded"
    content_type = draw(st.sampled_from([content_type] * 10 + ["text/plain", "application/json", ""]))
    ts = str(int(time.time()))
    headers = {"Content-Type": content_type}
    auth = draw(st.sampled_from(["signed"] * 4 + ["none", "bad-ts", "non-ascii-ts", "stale", "wrong", "non-ascii"]))
    signature = sign(SECRET, ts, data)
    if auth == "signed":
        headers.update({"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(SECRET, ts, data)})
    elif auth == "bad-ts":
        headers.update({"X-Slack-Request-Timestamp": draw(st.sampled_from(["abc", "", "1e9", "-1", "1_700"])),
                        "X-Slack-Signature": signature})
    elif auth == "non-ascii-ts":
        headers.update({"X-Slack-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠", "X-Slack-Signature": signature})
    elif auth == "stale":
        old = str(int(time.time()) - 3600)
        headers.update({"X-Slack-Request-Timestamp": old, "X-Slack-Signature": sign(SECRET, old, data)})
    elif auth == "wrong":
        headers.update({"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + "0" * 64})
    elif auth == "non-ascii":
        headers.update({"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=é" + "0" * 63})
    return data, headers, f"slack:{kind}:{auth}"


ID_TEXTS = st.one_of(st.sampled_from(NASTY[:12]), st.text(max_size=12))
API_PATHS = ["/api/releases", "/api/releases/{x}", "/api/releases/{x}/audit", "/api/incidents", "/api/incidents/{x}",
             "/api/incidents/{x}/timeline.md", "/api/{x}", "/hooks/github", "/hooks/alertmanager", "/hooks/grafana",
             "/hooks/checks", "/hooks/executor/{x}", "/hooks/{x}", "/healthz", "/metrics", "/readyz"]


@st.composite
def api_requests(draw: Callable[..., Any]) -> tuple[str, str, dict[str, str], bytes]:
    """One request to the JSON API or a hook: odd ids, odd limits, odd tokens, odd bodies."""
    path = draw(st.sampled_from(API_PATHS)).replace("{x}", quote(draw(ID_TEXTS), safe=""))
    query = draw(st.sampled_from(["", "?limit=" + quote(draw(ID_TEXTS)), "?open=1&limit=2", "?limit=٣"]))
    token = draw(st.sampled_from([f"Bearer {API_TOKEN}", f"bearer {API_TOKEN}", f"BEARER  {API_TOKEN}",
                                  "Bearer wrong", "Basic eA==", "Bearer", "", "Bearer é"]))
    headers = {"Authorization": token} if token else {}
    method = draw(st.sampled_from(["GET", "GET", "POST"]))
    body = b""
    if method == "POST":
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain", "application/x-www-form"]))
        body = draw(st.one_of(st.binary(max_size=100), json_values.map(lambda v: json.dumps(v).encode())))
        headers["X-Hub-Signature-256"] = draw(st.sampled_from(["sha256=00", "é", ""]))
    return method, path + query, headers, body


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                phases=(Phase.explicit, Phase.generate),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.fixture
def fuzz_stack(make_stack: Callable[..., Stack]) -> Stack:
    """The bot with rate limits lifted (the fuzzer is one source sending thousands of requests)."""
    stack = make_stack(WARROOM_API_RATE="0", WARROOM_HOOKS_RATE="0")
    stack.ws.command(USER, REL, "/release", "start v1.2.3 risk=low")
    stack.ws.command(USER, INC, "/incident", "declare P2 Seed incident")
    return stack


def _no_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def test_slack_events_fuzz(fuzz_stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    outcomes: Counter[tuple[str, int]] = Counter()
    client = httpx.Client(base_url=fuzz_stack.bot.url if fuzz_stack.bot else "", timeout=10, trust_env=False)

    @FUZZ
    @given(slack_requests())
    def probe(request: tuple[bytes, dict[str, str], str]) -> None:
        data, headers, what = request
        encoded = {k: v.encode("utf-8") for k, v in headers.items()}
        status = client.post("/slack/events", content=data, headers=encoded).status_code
        outcomes[(what.split(":")[2], status)] += 1
        assert status < 500, (what, data[:300], headers)

    with caplog.at_level(logging.WARNING):
        probe()
    client.close()
    print("slack fuzz outcomes (auth, status): count", dict(sorted(outcomes.items())))
    assert sum(outcomes.values()) == EXAMPLES
    assert not [k for k in outcomes if k[1] >= 500]
    # Every unsigned or mis-signed request was refused with 401.
    assert all(status == 401 for (auth, status) in outcomes if auth not in ("signed",))
    # The signed ones reached the listeners often enough to mean something.
    assert outcomes[("signed", 200)] > EXAMPLES // 10
    assert _no_errors(caplog) == []


def test_api_and_hooks_fuzz(fuzz_stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    outcomes: Counter[int] = Counter()
    client = httpx.Client(base_url=fuzz_stack.bot.url if fuzz_stack.bot else "", timeout=10, trust_env=False)
    examples = max(EXAMPLES // 2, 50)

    @settings(FUZZ, max_examples=examples)
    @given(api_requests())
    def probe(request: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, body = request
        encoded = {k: v.encode("utf-8") for k, v in headers.items()}
        status = client.request(method, path, headers=encoded, content=body).status_code
        outcomes[status] += 1
        assert status < 500, (method, path, headers)

    with caplog.at_level(logging.WARNING):
        probe()
    client.close()
    print("api/hooks fuzz outcomes status: count", dict(sorted(outcomes.items())))
    assert sum(outcomes.values()) == examples and outcomes[200] > 0 and outcomes[401] > 0
    assert _no_errors(caplog) == []
