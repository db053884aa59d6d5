"""Through Slack: a release rolled back and an incident it caused change the change failure
rate and the recovery time as the README defines them; the API answers with reasons."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack

REL, INC = "C0RELEASES", "C0INCIDENTS"
REQ, AP1, IC = "U0REQUEST", "U0APPROVE1", "U0ONCALL"


def metrics(stack: Stack, query: str = "") -> dict[str, Any]:
    """GET /api/metrics."""
    resp = stack.api(f"/api/metrics{query}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def command(stack: Stack, user: str, channel: str, cmd: str, text: str) -> str:
    """Run a slash command; return the ephemeral answer."""
    resp = stack.ws.command(user, channel, cmd, text)
    assert resp.status_code == 200, resp.text
    return str(resp.json().get("text", ""))


def ship(stack: Stack, version: str) -> None:
    """Start a low-risk release and take it to production by commands."""
    command(stack, REQ, REL, "/release", f"start {version} risk=low")
    for n in range(3):
        if n == 1:
            assert "Approved" in command(stack, AP1, REL, "/release", f"approve {version}")
        assert "is now at" in command(stack, REQ, REL, "/release", f"promote {version}")
    assert stack.api(f"/api/releases/{version}").json()["stage"] == "production"


def incident_room(stack: Stack, number: int) -> str:
    """The war-room channel of incident ``number``."""
    return stack.api(f"/api/incidents/{number}").json()["channel_id"]


def test_a_rollback_and_a_caused_incident_count_as_failures_with_their_recovery(stack: Stack) -> None:
    ship(stack, "v5.0.0")
    ship(stack, "v5.0.1")
    before = metrics(stack)
    assert (before["deployments"], before["change_failure_rate"]) == (2, 0.0)
    assert before["failed_deployment_recovery_hours_median"] is None
    assert before["success_rate"] == 1.0 and before["targets"]["success_rate"]["met"] is True

    stack.clock.advance(600)
    answer = command(stack, IC, INC, "/incident", "declare P2 checkout errors caused_by=v5.0.0")
    assert "declared" in answer
    assert stack.api("/api/incidents/1").json()["title"] == "checkout errors"
    after_incident = metrics(stack)
    assert after_incident["change_failure_rate"] == pytest.approx(0.5)
    assert after_incident["failed_deployment_recovery_hours_median"] is None  # not recovered yet

    stack.clock.advance(1200)
    assert "Rolled back" in command(stack, AP1, REL, "/release", "rollback v5.0.0 checkout errors")
    rolled = metrics(stack)
    assert rolled["change_failure_rate"] == pytest.approx(0.5)  # still one failed change of two
    assert rolled["rollback_rate"] == pytest.approx(0.5)
    assert rolled["rework_rate"] == pytest.approx(1 / 3)  # the rollback of three deployments
    # From the incident's declaration to the rollback's finish: 20 minutes.
    assert rolled["failed_deployment_recovery_hours_median"] == pytest.approx(1 / 3, abs=0.02)
    assert rolled["levels"]["failed_deployment_recovery_hours_median"] == "elite"

    # A second incident, its cause named later in the war room, resolved an hour on.
    stack.clock.advance(300)
    command(stack, IC, INC, "/incident", "declare P3 slow search")
    room = stack.ws.wait_for(lambda: incident_room(stack, 2), what="the second war room")
    stack.settle()  # the commander is invited to it
    stack.clock.advance(300)
    assert "caused by v5.0.1" in command(stack, IC, room, "/incident", "cause v5.0.1")
    assert metrics(stack)["change_failure_rate"] == pytest.approx(1.0)
    stack.clock.advance(3300)
    command(stack, IC, room, "/incident", "resolve fixed the index")
    final = metrics(stack)
    # v5.0.0: 20 min; v5.0.1: from its incident's declaration to its resolution, 1 h.
    assert final["failed_deployment_recovery_hours_median"] == pytest.approx((1 / 3 + 1) / 2, abs=0.02)
    assert final["mttr_hours_median"] == pytest.approx(1.0, abs=0.02)
    # Success is a deployment's result: both deployed fine, though both later counted as failed changes.
    assert final["success_rate"] == 1.0 and final["change_failure_rate"] == 1.0
    # The cause is audited and on the timeline.
    timeline = stack.api("/api/incidents/2").json()["timeline"]
    assert any(e["kind"] == "cause" and "v5.0.1" in e["text"] for e in timeline)


def test_metrics_api_explains_bad_input(stack: Stack) -> None:
    for query, needle in (("?from=yesterday", "from: 'yesterday' is not an ISO date"),
                          ("?from=2026-02-01&to=2026-01-01", "from must be before to"),
                          ("?form=2026-01-01", "unknown parameter(s): form"),
                          ("?from=2020-01-01&to=2026-01-01", "at most 800 days"),
                          ("?from=9999-12-01&to=9999-12-31", "between 1900 and 3000"),
                          ("?to=0001-01-02", "too early"),
                          ("?from=0001-01-01T00:00:00%2B14:00", "in range")):
        resp = stack.api(f"/api/metrics{query}")
        assert resp.status_code == 400 and needle in resp.json()["error"], (query, resp.text)
    assert stack.api("/api/metrics", token=None).status_code == 401


def test_imports_need_the_write_scope_and_valid_bodies(stack: Stack) -> None:
    assert stack.runtime
    writer = stack.runtime.services.tokens.create("importer", ["releases:write"])
    url = stack.bot.url if stack.bot else ""
    good = {"service": "shop", "environment": "production", "version": "v1", "kind": "planned",
            "result": "success", "started_at": "2026-01-05T10:00:00Z", "finished_at": "2026-01-05T10:20:00Z",
            "commits": [{"sha": "abc123", "committed_at": "2026-01-04T10:00:00Z"}]}

    def post(path: str, body: Any, token: str = writer) -> httpx.Response:
        return httpx.post(url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert post("/api/deployments", good, token="e2e-api-token").status_code == 403  # read-only token
    first = post("/api/deployments", good)
    assert first.status_code == 200 and first.json()["created"] is True
    assert post("/api/deployments", good).json() == {"id": first.json()["id"], "created": False}
    for bad, needle in (({**good, "kind": "deploy"}, "kind"),
                        ({**good, "finished_at": "2026-01-05T09:00:00Z"}, "finished_at is before started_at"),
                        ({**good, "kind": "rollback"}, "rolls_back"),
                        ({**good, "started_at": "2026-01-05T10:00:00"}, "time zone"),
                        ({k: v for k, v in good.items() if k != "service"}, "service"),
                        ({**good, "started_at": "0001-01-01T00:00:00+14:00"}, "out of range")):
        resp = post("/api/deployments", bad)
        assert resp.status_code == 400 and needle in resp.json()["error"], resp.text
    resp = httpx.post(url + "/api/deployments", content=b"{nope", timeout=10,
                      headers={"Authorization": f"Bearer {writer}", "content-type": "application/json"})
    assert resp.status_code == 400 and "not JSON" in resp.json()["error"]
    nul = post("/api/incidents/import", {"title": "db\u0000down", "severity": "P1",
                                         "declared_at": "2026-01-05T11:00:00Z"})
    assert nul.status_code == 400 and "NUL" in nul.json()["error"]

    incident = {"title": "db down", "severity": "P1", "declared_at": "2026-01-05T11:00:00Z",
                "resolved_at": "2026-01-05T12:30:00Z", "caused_by_version": "v1", "service": "shop"}
    assert post("/api/incidents/import", incident).json()["created"] is True
    assert post("/api/incidents/import", {**incident, "severity": "P9"}).status_code == 400
    report = metrics(stack, "?from=2026-01-01&to=2026-02-01&service=shop")
    assert report["deployments"] == 1 and report["change_failure_rate"] == 1.0
    assert report["lead_time_hours_median"] == pytest.approx(24 + 1 / 3)
    assert report["failed_deployment_recovery_hours_median"] == pytest.approx(1.5)
    assert report["mttr_hours_median"] == pytest.approx(1.5)
    assert report["window"] == {"from": "2026-01-01T00:00:00+00:00", "to": "2026-02-01T00:00:00+00:00",
                                "days": 31.0, "service": "shop", "environment": "production"}


def test_release_metrics_acks_at_once_and_posts_the_report_with_its_chart(stack: Stack) -> None:
    ship(stack, "v6.0.0")
    answer = command(stack, REQ, REL, "/release", "metrics 30d")
    # The ack only says what is coming: the figures are computed off the request path.
    assert "Computing delivery metrics for the last 30 days (all services)" in answer
    assert "posted in this channel" in answer
    assert "Deployments:" not in answer and "Success rate" not in answer
    shared = stack.ws.wait_for(lambda: [m for m in stack.bot_messages(REL) if m.get("files")], what="the report")
    text = shared[-1]["text"]
    assert "Delivery metrics, all services" in text and "(30 days)" in text
    assert "Deployments: 1" in text
    assert "Lead time (median): no data" in text
    assert "Success rate: 100.0% (target > 95%: met)" in text
    assert "Deployment frequency: 0.23/week (target >= 2/month: NOT met; DORA 2024: medium)" in text
    upload = stack.ws.wait_for(lambda: stack.ws.calls("files.getUploadURLExternal"), what="the chart upload")[0]
    assert "Deployments per week" in upload["args"]["alt_txt"] and "Success rate: 100.0%" in upload["args"]["alt_txt"]
    file = shared[-1]["files"][0]
    assert file["name"].startswith("delivery-metrics-all-") and file["name"].endswith(".png")
    assert stack.store.file_content(file["id"])[:8] == b"\x89PNG\r\n\x1a\n"

    answer = command(stack, REQ, REL, "/release", "metrics quarter shop")
    assert "Computing delivery metrics for this quarter so far (`shop`)" in answer
    reports = stack.ws.wait_for(lambda: [m for m in stack.bot_messages(REL) if "Delivery metrics, shop" in m["text"]],
                                what="the report on shop")
    assert "Deployments: 0" in reports[-1]["text"] and reports[-1]["files"]
    before = len([m for m in stack.bot_messages(REL) if m.get("files")])
    for bad, needle in (("metrics 7d", "Usage"), ("metrics 30d shop extra", "Usage"),
                        ("metrics <!channel>", "service:")):
        assert needle in command(stack, REQ, REL, "/release", bad), bad
    stack.settle()
    assert len([m for m in stack.bot_messages(REL) if m.get("files")]) == before  # nothing queued for them


def test_a_rollback_brings_back_the_version_deployed_before(stack: Stack) -> None:
    ship(stack, "v9.0.0")
    ship(stack, "v9.1.0")
    ship(stack, "v9.2.0")
    command(stack, AP1, REL, "/release", "rollback v9.1.0 broke search")
    assert stack.runtime
    from sqlmodel import select

    from storage.models import Deployment

    with stack.runtime.services.db.read() as s:
        rollback = s.exec(select(Deployment).where(Deployment.kind == "rollback")).one()
    assert (rollback.rolls_back, rollback.version, rollback.environment) == ("v9.1.0", "v9.0.0", "production")
    assert rollback.description == "broke search" and rollback.result == "success"
