"""GET /api/incidents, /api/incidents/{id} and the timeline as Markdown, behind the bearer token."""

from __future__ import annotations

import pytest

from bot.app import build_runtime
from bot.settings import load_settings
from tests.support import who


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_incident_api(database_url: str) -> None:
    from starlette.testclient import TestClient

    settings = load_settings(DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="s",
                             SLACK_API_URL="http://127.0.0.1:9/api/", WARROOM_API_TOKEN="t0ken")
    runtime = build_runtime(settings)  # background work is not started: nothing is sent
    s = runtime.services
    from bot.incidents.requests import DeclareIncident

    iid = s.incidents.declare(DeclareIncident.build("P2", "search is slow", "C0FROM"), who("U0IC")).incident.id
    s.incidents.update(iid, "reindexing", who("U0IC"))
    s.incidents.decision(iid, "pause the batch jobs", who("U0DBA"))
    s.incidents.resolve(iid, who("U0IC"), "index rebuilt")
    client = TestClient(runtime.asgi)
    auth = {"Authorization": "Bearer t0ken"}
    assert client.get("/api/incidents").status_code == 401
    listed = client.get("/api/incidents", headers=auth).json()["incidents"]
    assert [(i["id"], i["severity"], i["status"]) for i in listed] == [(iid, "P2", "resolved")]
    one = client.get(f"/api/incidents/{iid}", headers=auth).json()
    for key in ("id", "title", "severity", "status", "channel_id", "commander", "declared_at", "resolved_at",
                "postmortem_due_at", "timeline"):
        assert key in one
    assert one["time_to_resolve_seconds"] is not None and one["commander"] == "U0IC"
    kinds = [(e["kind"], e["by"], e["text"]) for e in one["timeline"]]
    assert ("update", "U0IC", "reindexing") in kinds and ("decision", "U0DBA", "pause the batch jobs") in kinds
    assert all(e["at"] for e in one["timeline"])
    md = client.get(f"/api/incidents/{iid}/timeline.md", headers=auth)
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("---\n") and "Decision by @U0DBA: pause the batch jobs" in md.text
    assert client.get("/api/incidents/999", headers=auth).status_code == 404
    assert client.get("/api/incidents/abc", headers=auth).status_code == 400
    s.db.engine.dispose()
