"""The write API with scoped tokens: start a release from CI, report checks, list unmatched deliveries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.conftest import Stack
from tests.e2e.test_releases import REL, announcement
from tests.hooks.conftest import github, payload, processed, report_check


def post(stack: Stack, path: str, token: str, body: object, **headers: str) -> httpx.Response:
    """POST JSON to the bot's API with a bearer token."""
    assert stack.bot
    return httpx.post(stack.bot.url + path, json=body, timeout=10,
                      headers={"Authorization": f"Bearer {token}", **headers})


def test_ci_starts_a_release_and_reports_checks(hooked: Stack) -> None:
    assert hooked.runtime
    tokens = hooked.runtime.services.tokens
    ci = tokens.create("ci-pipeline", ["releases:write", "checks:write"])
    reader = tokens.create("dashboard", ["read"])
    body = {"version": "v9.1.0", "channel": REL, "risk": "low", "service": "checkout", "summary": "From CI"}
    assert post(hooked, "/api/releases", reader, body).status_code == 403
    assert post(hooked, "/api/releases", "wr_nope", body).status_code == 401
    bad = post(hooked, "/api/releases", ci, {**body, "risk": "extreme"})
    assert bad.status_code == 400 and "risk" in bad.json()["error"]
    made = post(hooked, "/api/releases", ci, body, **{"Idempotency-Key": "build-77"})
    again = post(hooked, "/api/releases", ci, body, **{"Idempotency-Key": "build-77"})
    assert (made.status_code, again.status_code) == (201, 200)
    assert made.json()["requested_by"] == "ci-pipeline" and made.json()["stage"] == "dev"
    shown = str(announcement(hooked, "v9.1.0")["blocks"])
    assert "From CI" in shown and "*ci-pipeline*" in shown and "<@ci-pipeline>" not in shown
    dup = post(hooked, "/api/releases", ci, body)
    assert dup.status_code == 400 and "exists already" in dup.json()["error"]

    assert post(hooked, "/api/releases/v9.1.0/checks", reader, {"check": "tests", "state": "passed"}).status_code \
        == 403
    unknown = post(hooked, "/api/releases/v9.1.0/checks", ci, {"check": "fuzz", "state": "passed"})
    assert unknown.status_code == 400 and "No policy check" in unknown.json()["error"]
    assert post(hooked, "/api/releases/v0.0.0/checks", ci, {"check": "tests", "state": "passed"}).status_code == 404
    done = post(hooked, "/api/releases/v9.1.0/checks", ci,
                {"check": "tests", "state": "passed", "values": {"coverage": 98.1}, "url": "https://ci/1"})
    assert done.status_code == 200
    tests = next(c for c in done.json()["checks"] if c["name"] == "tests")
    assert (tests["state"], tests["values"], tests["url"]) == ("passed", {"coverage": 98.1}, "https://ci/1")
    listed = hooked.api("/api/releases/v9.1.0/checks", token=reader).json()["checks"]
    assert [c["name"] for c in listed] == ["lint", "tests", "security", "review", "smoke"]
    assert hooked.api("/api/releases/v9.1.0", token=reader).json()["service"] == "checkout"


def test_unmatched_deliveries_are_listed(hooked: Stack) -> None:
    github(hooked, "issues", payload("github.issues"), delivery="issue-1")
    github(hooked, "star", {"action": "created", "starred_at": None}, delivery="star-1")
    processed(hooked)
    listed = hooked.api("/api/events?matched=false").json()["events"]
    assert sorted((e["event"], e["delivery_id"], e["matched"]) for e in listed) == [
        ("issues", "issue-1", False), ("star", "star-1", False)]
    assert hooked.api("/api/events?matched=true").json()["events"] == []
    assert hooked.api("/api/events?matched=maybe").status_code == 400


def test_a_burst_of_reports_is_one_or_two_announcement_updates(hooked: Stack) -> None:
    hooked.ws.command("U0REQUEST", REL, "/release", "start v9.2.0")
    msg = announcement(hooked, "v9.2.0")
    hooked.settle()
    before = len(hooked.store.calls("chat.update"))

    def one(i: int) -> int:
        return report_check(hooked, {"release": "v9.2.0", "check": "tests", "state": "passed",
                                     "values": {"coverage": 95 + i / 10}, "at": f"2026-11-28T10:00:{i:02d}Z"}
                            ).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:  # a CI matrix finishing at once
        assert set(pool.map(one, range(50))) == {202}
    processed(hooked)
    hooked.settle()
    updates = hooked.store.calls("chat.update")[before:]
    assert 1 <= len(updates) <= 3, len(updates)
    final = next(m for m in hooked.bot_messages(REL) if m["ts"] == msg["ts"])
    assert "coverage 99.9" in str(final["blocks"])


def test_an_incident_id_no_row_can_have_is_refused_with_a_reason(hooked: Stack) -> None:
    # Found by the schema fuzzer: 2**31 went to PostgreSQL as an integer, which answered 500.
    assert hooked.runtime
    ci = hooked.runtime.services.tokens.create("ci-pipeline", ["releases:write"])
    body = {"version": "v9.2.0", "channel": REL, "risk": "low"}
    for incident in (2**31, 0, -1):
        bad = post(hooked, "/api/releases", ci, {**body, "incident_id": incident})
        assert bad.status_code == 400 and "incident_id" in bad.json()["error"], bad.text
    assert post(hooked, "/api/releases", ci, body).status_code == 201  # nothing of the refused ones was stored
