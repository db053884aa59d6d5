"""The incident part of the JSON API: list, one incident with its timeline, timeline as Markdown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.errors import NotFound
from bot.ids import parse_id, query_limit
from bot.incidents.view import IncidentView
from bot.services import Services


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def incident_json(view: IncidentView, *, timeline: bool = True) -> dict[str, Any]:
    """An incident as the API shows it."""
    i = view.incident
    out: dict[str, Any] = {
        "id": i.id, "title": i.title, "severity": i.severity, "status": i.status, "channel_id": i.channel_id,
        "channel_name": i.channel_name, "commander": i.commander, "comms": i.comms, "scribe": i.scribe,
        "declared_by": i.declared_by, "declared_at": _iso(i.declared_at), "mitigated_at": _iso(i.mitigated_at),
        "resolved_at": _iso(i.resolved_at), "response_due_at": _iso(i.response_due_at),
        "next_status_at": _iso(i.next_status_at), "resolution_summary": i.resolution_summary,
        "time_to_resolve_seconds": (i.resolved_at - i.declared_at).total_seconds() if i.resolved_at else None,
        "postmortem_due_at": _iso(i.postmortem_due_at), "postmortem_done_at": _iso(i.postmortem_done_at),
        "postmortem_link": i.postmortem_link, "hotfixes": [h.version for h in view.hotfixes],
    }
    if timeline:
        out["timeline"] = [{"id": e.id, "kind": e.kind, "by": e.actor, "at": e.at.isoformat(), "text": e.text,
                            "detail": e.detail} for e in view.entries]
    return out


def _id(request: Request) -> int:
    # A number no row can have (99999999999999999999999) names no incident: 404, not a 500.
    return parse_id(request.path_params.get("id", ""), "incident number", too_big=NotFound)


def routes(services: Services) -> list[tuple[str, Callable[[Request], Any]]]:
    """(path, endpoint) pairs mounted under /api behind the bearer token."""

    def list_incidents(request: Request) -> Any:
        """GET /api/incidents[?limit=50&open=1]: newest first, without timelines."""
        limit = query_limit(request.query_params.get("limit"))
        open_only = request.query_params.get("open", "").lower() in ("1", "true", "yes")
        views = services.incidents.list(limit, open_only=open_only)
        return {"incidents": [incident_json(v, timeline=False) for v in views]}

    def get_incident(request: Request) -> Any:
        """GET /api/incidents/{id}: one incident with its timeline."""
        return incident_json(services.incidents.get(_id(request)))

    def timeline_md(request: Request) -> Any:
        """GET /api/incidents/{id}/timeline.md: the timeline as text/markdown."""
        text = services.incidents.timeline_markdown(_id(request))
        return Response(text, media_type="text/markdown; charset=utf-8")

    return [
        ("/incidents", list_incidents),
        ("/incidents/{id}", get_incident),
        ("/incidents/{id}/timeline.md", timeline_md),
    ]
