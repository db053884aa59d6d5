"""Policy gates on a release: approvals needed, freeze windows, emergencies, checklists."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.policy import WEEKDAYS, Policy, Stage
from storage.models import Release


def approvals_needed(policy: Policy, risk: str) -> int:
    """How many distinct approvers the risk level asks for."""
    return policy.risk_levels[risk].approvals  # type: ignore[index]


def is_emergency(policy: Policy, release: Release) -> bool:
    """A hotfix of an emergency severity (default P0/P1) passes the freeze."""
    return release.type == "hotfix" and (release.severity or "") in policy.freeze.emergency_severities


def frozen_today(policy: Policy, now: datetime) -> str | None:
    """The frozen weekday's name when ``now`` falls in a freeze window, else None."""
    day = WEEKDAYS[now.astimezone(ZoneInfo(policy.timezone)).weekday()]
    return day if day in policy.freeze.days else None


def checklist_keys(policy: Policy, section: str | None = None) -> list[str]:
    """Stable keys ("s0.i1") of checklist items, optionally of one section."""
    return [f"s{i}.i{j}" for i, sec in enumerate(policy.checklist) if section in (None, sec.section)
            for j in range(len(sec.items))]


def check_bound(policy: Policy) -> dict[str, str]:
    """{checklist key: check name} for items a check ticks (not a person)."""
    keys = checklist_keys(policy)
    items = [item for sec in policy.checklist for item in sec.items]
    return {k: item.check for k, item in zip(keys, items, strict=True) if not isinstance(item, str) and item.check}


def checklist_label(policy: Policy, key: str) -> str:
    """The item's text for a key from ``checklist_keys``."""
    i, j = (int(part[1:]) for part in key.split("."))
    return policy.checklist[i].labels()[j]


def blocked_by(policy: Policy, release: Release, target: Stage, approvals: int, now: datetime) -> str | None:
    """Why ``release`` may not move into ``target`` now, or None when every gate allows it."""
    if target.requires_approval:
        needed = approvals_needed(policy, release.risk)
        if approvals < needed:
            return (f"{target.label} needs {needed} approval{'s' if needed > 1 else ''} "
                    f"({release.risk} risk); {approvals} so far.")
    for section in target.requires_checklist:
        missing = [k for k in checklist_keys(policy, section) if k not in release.checklist]
        if missing:
            return f"{target.label} needs the '{section}' checklist done; {len(missing)} item(s) open."
    if target.production:
        day = frozen_today(policy, now)
        if day and not is_emergency(policy, release) and not release.freeze_override:
            return (f"Production deploys are frozen today ({day}, {policy.timezone}). Emergencies (hotfix "
                    f"{'/'.join(policy.freeze.emergency_severities)}) pass; an approver can override "
                    f"with `/release override {release.version} <reason>`.")
    return None
