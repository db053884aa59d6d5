"""Checks close the gate, an alert pauses the canary and rolls it back, an incident is linked:
end to end over HTTP against the loopback Slack."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlmodel import select

from storage.models import Incident, Release
from tests.e2e.conftest import Stack
from tests.e2e.test_releases import AP1, AP2, REL, REQ, VIEWER, release, start
from tests.hooks.conftest import (
    GRAFANA_SECRET,
    POLICY,
    alertmanager,
    checks,
    grafana,
    grafana_signature,
    hook_stack,
    payload,
    processed,
    report_check,
)


def thread_texts(stack: Stack, ts: str) -> list[str]:
    """Every message in the release thread, as text with its blocks."""
    return [m["text"] + json.dumps(m.get("blocks") or []) for m in stack.ws.thread(REL, ts)[1:]]


def pass_pre_release(stack: Stack, version: str, **only: str) -> None:
    """Report the pre-release checks passed (or the states given)."""
    states = {"lint": "passed", "tests": "passed", "security": "passed", "review": "passed", **only}
    for name, state in states.items():
        values = {"coverage": 97.4} if name == "tests" else {}
        assert report_check(stack, {"release": version, "check": name, "state": state, "values": values,
                                    "url": f"https://ci.example.com/{name}"}).status_code == 202
    processed(stack)


def test_checks_gate_then_alert_pauses_rolls_back_and_opens_an_incident(hooked: Stack) -> None:
    msg = start(hooked, "v5.0.0 service=checkout risk=low")
    pass_pre_release(hooked, "v5.0.0", security="failed")
    assert hooked.ws.command(REQ, REL, "/release", "promote v5.0.0").json()["text"].startswith("v5.0.0 is now")
    for user in (AP1, AP2):
        hooked.ws.command(user, REL, "/release", "approve v5.0.0")
    refused = hooked.ws.command(REQ, REL, "/release", "promote v5.0.0").json()["text"]
    assert "`security` is failed" in refused and "https://ci.example.com/security" in refused
    assert "review" in refused  # waits for security
    assert release(hooked, "v5.0.0")["stage"] == "staging"

    pass_pre_release(hooked, "v5.0.0")
    assert "Production canary" in hooked.ws.command(REQ, REL, "/release", "promote v5.0.0").json()["text"]

    firing = payload("alertmanager.firing")
    assert alertmanager(hooked, firing, token="wrong").status_code == 401
    assert alertmanager(hooked, firing).status_code == 202
    processed(hooked)
    hooked.ws.wait_for(lambda: release(hooked, "v5.0.0")["status"] == "rolled_back", what="the automatic rollback")
    audit = hooked.api("/api/releases/v5.0.0/audit").json()["audit"]
    rollback = next(e for e in audit if e["action"] == "rollback")
    assert rollback["detail"]["automatic"] is True and "HighErrorRate" in rollback["reason"]
    assert hooked.runtime
    with hooked.runtime.services.db.read() as s:
        incident = s.exec(select(Incident)).one()
    assert (incident.caused_by_version, incident.severity, incident.service) == ("v5.0.0", "P1", "checkout")
    with hooked.runtime.services.db.read() as s:
        assert incident.caused_by_release_id == s.exec(select(Release.id).where(Release.version == "v5.0.0")).one()
    room = hooked.ws.wait_for(lambda: hooked.ws.channel_by_name(incident.channel_name), what="the war room")
    hooked.ws.wait_for(lambda: any("Suspected cause: release *v5.0.0*" in m["text"]
                                   for m in hooked.messages(room["id"])), what="the cause in the war room")
    texts = hooked.ws.wait_for(lambda: [t for t in thread_texts(hooked, msg["ts"]) if "HighErrorRate" in t],
                               what="the alert in the thread")
    assert "alert_ack" in texts[0] and "release_rollback" in texts[0] and "checkout-7d9f" in texts[0]

    # Alertmanager repeats the firing group every repeat_interval: nothing new is posted.
    again = dict(firing, truncatedAlerts=0, receiver="warroom-repeat")
    alertmanager(hooked, again)
    alertmanager(hooked, payload("alertmanager.resolved"))
    alertmanager(hooked, dict(payload("alertmanager.resolved"), receiver="again"))
    processed(hooked)
    hooked.settle()
    texts = thread_texts(hooked, msg["ts"])
    assert sum("is firing" in t for t in texts) == 1
    assert sum("resolved" in t and "HighErrorRate" in t for t in texts) == 1


def test_a_firing_alert_pauses_promotion_until_bypassed(make_stack, tmp_path) -> None:
    stack = hook_stack(make_stack, tmp_path, POLICY.replace(", auto_rollback: true", ""))
    msg = start(stack, "v6.0.0 service=checkout risk=low")
    pass_pre_release(stack, "v6.0.0")
    stack.ws.command(REQ, REL, "/release", "promote v6.0.0")
    stack.ws.command(AP1, REL, "/release", "approve v6.0.0")
    stack.ws.command(REQ, REL, "/release", "promote v6.0.0")
    assert release(stack, "v6.0.0")["stage"] == "canary"
    report_check(stack, {"release": "v6.0.0", "check": "smoke", "state": "passed"})
    body = payload("grafana.firing")  # severity warning: no incident
    assert grafana(stack, body, secret=None).status_code == 401
    assert grafana(stack, body).status_code == 202
    processed(stack)
    refused = stack.ws.command(REQ, REL, "/release", "promote v6.0.0").json()["text"]
    assert "paused" in refused and "LatencyHigh" in refused
    assert "Only approvers" in stack.ws.command(VIEWER, REL, "/release", "bypass v6.0.0 fine").json()["text"]
    ok = stack.ws.command(AP2, REL, "/release", "bypass v6.0.0 known noisy alert, checked the dashboards")
    assert "alert LatencyHigh" in ok.json()["text"]
    assert "Production 100%" in stack.ws.command(REQ, REL, "/release", "promote v6.0.0").json()["text"]
    audit = stack.api("/api/releases/v6.0.0/audit").json()["audit"]
    assert any(e["action"] == "bypass" and e["actor"] == AP2 and "noisy" in e["reason"] for e in audit)
    assert not stack.runtime or not stack.runtime.services.incidents.list()
    stack.ws.wait_for(lambda: any("bypassed" in t for t in thread_texts(stack, msg["ts"])),
                      what="the bypass in the thread")


def test_generic_reports_need_a_valid_signature_and_body(hooked: Stack) -> None:
    start(hooked, "v7.0.0")
    assert report_check(hooked, {"release": "v7.0.0", "check": "tests", "state": "passed"},
                        secret="whsec_" + "QUJD" * 8).status_code == 401
    bad = report_check(hooked, {"check": "tests", "state": "passed"})
    assert bad.status_code == 400 and "release" in bad.json()["error"]
    low = report_check(hooked, {"release": "v7.0.0", "check": "tests", "state": "passed",
                                "values": {"coverage": 91}}, msg_id="msg_1")
    dup = report_check(hooked, {"release": "v7.0.0", "check": "tests", "state": "passed",
                                "values": {"coverage": 91}}, msg_id="msg_1")
    assert (low.status_code, dup.json()["duplicate"]) == (202, True)
    processed(hooked)
    tests = checks(hooked, "v7.0.0")["tests"]
    assert tests.state == "failed" and "coverage 91 is below 95" in (tests.note or "")


@pytest.mark.parametrize("header", ["X-Grafana-Alerting-Timestamp", "X-Grafana-Alerting-Signature-Timestamp"])
def test_grafana_signature_with_a_timestamp_header(hooked: Stack, header: str) -> None:
    body = payload("grafana.firing")
    now = int(time.time())
    assert grafana(hooked, body, timestamp=str(now), timestamp_header=header).status_code == 202
    # Grafana re-signs each attempt: a retry a minute later is the same delivery.
    again = grafana(hooked, body, timestamp=str(now + 60), timestamp_header=header)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)
    # The signature covers the timestamp: another time under the same signature is refused.
    raw, url = json.dumps(body).encode(), (hooked.bot.url if hooked.bot else "") + "/hooks/grafana"
    forged = httpx.post(url, content=raw, timeout=10, headers={
        "X-Grafana-Alerting-Signature": grafana_signature(GRAFANA_SECRET, raw, str(now)), header: str(now + 1)})
    assert forged.status_code == 401 and "HMAC-SHA256" in forged.json()["error"]
    # A signature over the body alone does not hold once a timestamp is sent.
    unstamped = httpx.post(url, content=raw, timeout=10, headers={
        "X-Grafana-Alerting-Signature": grafana_signature(GRAFANA_SECRET, raw), header: str(now)})
    assert unstamped.status_code == 401


@pytest.mark.parametrize("stamp", ["10 minutes ago", "in 10 minutes", "soon", "9" * 5000])
def test_a_grafana_notification_signed_at_another_time_is_refused(hooked: Stack, stamp: str) -> None:
    # Times are taken when the test runs, not when it is collected (a long suite run apart).
    offsets = {"10 minutes ago": -600, "in 10 minutes": 600}
    if stamp in offsets:
        stamp = str(int(time.time()) + offsets[stamp])
    refused = grafana(hooked, payload("grafana.firing"), timestamp=stamp)
    assert refused.status_code == 401 and "not within 5 minutes" in refused.json()["error"]
    assert processed(hooked) == []


def test_a_completed_release_is_watched_for_its_monitoring_window(hooked: Stack) -> None:
    msg = start(hooked, "v8.0.0 service=checkout risk=low")  # low risk: 15 minutes
    pass_pre_release(hooked, "v8.0.0")
    hooked.ws.command(REQ, REL, "/release", "promote v8.0.0")
    hooked.ws.command(AP1, REL, "/release", "approve v8.0.0")
    hooked.ws.command(REQ, REL, "/release", "promote v8.0.0")
    report_check(hooked, {"release": "v8.0.0", "check": "smoke", "state": "passed"})
    processed(hooked)
    hooked.ws.command(REQ, REL, "/release", "promote v8.0.0")
    assert release(hooked, "v8.0.0")["status"] == "completed"
    warning = payload("grafana.firing")
    assert grafana(hooked, warning).status_code == 202
    assert [e.matched for e in processed(hooked)][-1] is True
    hooked.ws.wait_for(lambda: any("LatencyHigh" in t for t in thread_texts(hooked, msg["ts"])),
                       what="the alert in the completed release's thread")
    assert release(hooked, "v8.0.0")["status"] == "completed"  # production has no auto_rollback here
    hooked.clock.advance(16 * 60)
    later = json.loads(json.dumps(warning))
    later["alerts"][0]["fingerprint"] = "another-one"
    grafana(hooked, later)
    assert [e.matched for e in processed(hooked)][-1] is False  # past the window: nobody's concern
