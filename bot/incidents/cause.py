"""An incident's cause: the change (a release's version) that brought it, which the delivery
metrics count as a failed change (see bot.metrics.definitions)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from bot.policy import Policy
from bot.releases.records import service_of
from bot.tx import Origin, Tx
from storage.models import Incident, Release


def set_cause(tx: Tx, policy: Policy, incident: Incident, version: str, origin: Origin) -> Release | None:
    """Name the change that caused the incident (a release of ours when one has that version);
    audited. Returns the release, if any."""
    release = tx.session.exec(select(Release).where(Release.version == version)).first()
    changes: dict[str, Any] = {"caused_by_version": version, "caused_by_release_id": release.id if release else None,
                               "updated_at": tx.now}
    if release is not None and incident.service is None:
        # The incident is about the service that release shipped (the metrics filter by service).
        changes["service"] = service_of(release, policy)
    before = incident.caused_by_version
    tx.save(incident, **changes)
    tx.audit(origin, "incident", incident.id or 0, "cause", from_state=before, to_state=version,
             release_id=changes["caused_by_release_id"])
    return release
