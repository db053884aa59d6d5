"""The timeline export: front matter, one heading per day, times in the team's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.incidents.markdown import filename, timeline_markdown
from bot.incidents.view import IncidentView
from bot.policy import load_policy
from storage.models import Incident, Release, TimelineEntry


def _entry(i: int, kind: str, at: datetime, text: str = "", **detail: object) -> TimelineEntry:
    return TimelineEntry(id=i, incident_id=3, kind=kind, actor="U0IC", text=text, detail=detail, at=at)


def test_markdown_groups_by_local_day() -> None:
    policy = load_policy(overrides={"timezone": "Europe/Berlin"})
    declared = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, Monday
    inc = Incident(id=3, title='db "primary" down', severity="P1", status="resolved", declared_by="U0IC",
                   commander="U0IC", channel_name="inc", channel_id="C0ROOM", declared_at=declared,
                   resolved_at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC), updated_at=declared)
    entries = [
        _entry(1, "declared", declared, 'db "primary" down'),
        _entry(2, "decision", datetime(2026, 11, 23, 22, 45, tzinfo=UTC), "fail over\nto the replica"),
        _entry(3, "role", datetime(2026, 11, 23, 23, 5, tzinfo=UTC), role="comms", user="U0COMMS"),
        _entry(4, "resolved", datetime(2026, 11, 24, 1, 0, tzinfo=UTC), "replica promoted"),
    ]
    hotfix = Release(version="v1.2.1", type="hotfix", risk="high", status="active", stage="staging",
                     requested_by="U0DEV", channel_id="C0ROOM", checklist={},
                     created_at=datetime(2026, 11, 23, 23, 30, tzinfo=UTC), updated_at=declared)
    md = timeline_markdown(IncidentView(inc, entries, [hotfix]), policy)
    front, body = md.split("---\n")[1], md.split("---\n")[2]
    assert 'title: "db \\"primary\\" down"' in front
    assert "severity: P1" in front and "timezone: Europe/Berlin" in front
    assert "resolved_at: 2026-11-24T01:00:00+00:00" in front
    assert body.count("\n## ") == 2
    monday, tuesday = body.split("## 2026-11-24 (Tuesday)")
    assert "## 2026-11-23 (Monday)" in monday
    assert "- **23:30** Declared by @U0IC" in monday
    assert "- **23:45** Decision by @U0IC: fail over\n  to the replica" in monday
    assert "- **00:05** Role by @U0IC: communications lead is now @U0COMMS" in tuesday
    assert "- **00:30** Hotfix by @U0DEV: v1.2.1 (active)" in tuesday
    assert "- **02:00** Resolved by @U0IC: replica promoted" in tuesday
    assert filename(IncidentView(inc, [], [])) == "incident-3-timeline.md"
