"""Release messages: the announcement that is updated in place, and short replies."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import blocks as bk
from bot.policy import Policy
from bot.releases import gates
from bot.releases.state import ACTIVE, describe
from bot.text import escape, local_time, mention

if TYPE_CHECKING:
    from bot.releases.service import ReleaseView

_STATUS_EMOJI = {"active": ":large_blue_circle:", "completed": ":white_check_mark:",
                 "rolled_back": ":rewind:", "rejected": ":no_entry:"}


def _plan(view: ReleaseView, policy: Policy) -> str:
    names = [s.name for s in policy.stages]
    here = names.index(view.release.stage)
    lines = []
    for i, stage in enumerate(policy.stages):
        mark = ":white_check_mark:" if i < here else (":arrow_right:" if i == here else ":white_circle:")
        gate = " _(approval required)_" if stage.requires_approval else ""
        lines.append(f"{mark} {stage.label}{gate}")
    return "*Deployment plan*\n" + "\n".join(lines)


def _checklist(view: ReleaseView, policy: Policy) -> tuple[str, str]:
    ticked = view.release.checklist
    validation = ""
    lines = []
    for i, sec in enumerate(policy.checklist):
        keys = [f"s{i}.i{j}" for j in range(len(sec.items))]
        done = sum(k in ticked for k in keys)
        if i == 0:
            validation = f"*Validation status*\n{sec.section}: {done}/{len(keys)} done"
        items = ", ".join(("☑ " if k in ticked else "☐ ") + item for k, item in zip(keys, sec.labels(), strict=True))
        lines.append(f"*{sec.section}* ({done}/{len(keys)}): {items}")
    return validation, "*Release checklist*\n" + "\n".join(lines)


def _buttons(view: ReleaseView, policy: Policy) -> list[Any]:
    r = view.release
    ref = {"v": r.version, "s": r.stage}
    out: list[Any] = []
    nxt = policy.next_stage(r.stage)
    if r.status == ACTIVE:
        if nxt:
            out.append(bk.button(f"Promote to {nxt.label}", "release_promote", ref, style="primary"))
        if not policy.stage(r.stage).production:
            out.append(bk.button("Approve", "release_approve", ref))
            out.append(bk.button("Reject", "release_reject", ref))
        out.append(bk.button("Update checklist", "release_checklist", ref))
    if r.status in (ACTIVE, "completed"):
        out.append(bk.button(
            "Rollback", "release_rollback", ref, style="danger",
            confirm=("Roll back?", f"Roll back release {r.version}? You will be asked for a reason.", "Roll back"),
        ))
    return out


def announcement(view: ReleaseView, policy: Policy, now: datetime,
                 extra: list[str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The release announcement: summary, plan, approvals, mitigations, checklist, buttons."""
    r = view.release
    tz = policy.timezone
    kind = "Hotfix" if r.type == "hotfix" else "Release"
    stage = policy.stage(r.stage).label
    text = f"{kind} {r.version}: {describe(r.status)}, stage {stage}, risk {r.risk}"
    fields = [
        f"*Type*\n{r.type}" + (f" ({r.severity})" if r.severity else ""),
        f"*Risk*\n{r.risk}",
        f"*Stage*\n{stage}",
        f"*Status*\n{_STATUS_EMOJI.get(r.status, '')} {describe(r.status)}",
        f"*Requested by*\n{mention(r.requested_by)}",
        f"*Approvals*\n{len(view.approvals)}/{view.needed}",
    ]
    if r.incident_id:
        fields.append(f"*Incident*\n#{r.incident_id}")
    blocks: list[Any] = [bk.header(f"{kind} {r.version}"), bk.section("", fields=fields)]
    summary = f"*Summary*\n{escape(r.summary) or '_none given_'}"
    summary += f"\n*Breaking changes*\n{escape(r.breaking_changes) or 'none'}"
    blocks.append(bk.section(summary))
    validation, checklist = _checklist(view, policy)
    blocks.append(bk.section("\n".join([validation, *(extra or [])])))
    blocks.append(bk.section(_plan(view, policy)))
    blocks.append(bk.section(f"*Rollback plan*\n{escape(r.rollback_plan) or 'Redeploy the previous version.'}"))
    mitigations = policy.risk_levels[r.risk].mitigations  # type: ignore[index]
    blocks.append(bk.section(f"*Mitigations ({r.risk} risk)*\n" + "\n".join(f"• {m}" for m in mitigations)))
    blocks.append(bk.section(checklist))
    notes = [f"Approved by {mention(a.user_id)} at {local_time(a.at, tz)}" for a in view.approvals]
    if r.freeze_override:
        notes.append(f"Freeze overridden by {mention(r.freeze_override['by'])}: "
                     f"{escape(r.freeze_override['reason'])}")
    if r.rollback_reason:
        notes.append(f":rewind: Rolled back by {mention(r.rolled_back_by)}: {escape(r.rollback_reason)}")
    day = gates.frozen_today(policy, now)
    if day and r.status == ACTIVE:
        notes.append(f":snowflake: Production freeze today ({day})")
    if notes:
        blocks.append(bk.context(*notes))
    buttons = _buttons(view, policy)
    if buttons:
        blocks.append(bk.actions(*buttons, block_id=f"release:{r.id}"))
    return text, bk.to_dicts(blocks)


def status_line(view: ReleaseView, policy: Policy) -> str:
    """One line about a release for `/release list`."""
    r = view.release
    return (f"• *{r.version}* ({r.type}, {r.risk} risk): {describe(r.status)}, "
            f"{policy.stage(r.stage).label}, approvals {len(view.approvals)}/{view.needed}, "
            f"by {mention(r.requested_by)}")


def status_text(view: ReleaseView, policy: Policy) -> str:
    """The `/release status` reply."""
    r = view.release
    lines = [status_line(view, policy)]
    for a in view.approvals:
        lines.append(f"  approved by {mention(a.user_id)} at {local_time(a.at, policy.timezone)}")
    if r.rollback_reason:
        lines.append(f"  rolled back: {escape(r.rollback_reason)}")
    return "\n".join(lines)


HELP = """*warroom releases*
`/release start <version> [risk=low|medium|high|critical] [type=major|minor|patch|hotfix]
    [severity=P0..P3] [incident=<id>] [service=...] [sha=...] [repo=owner/name] [notes...]`
    start a release (no arguments: a form)
`/release promote <version>` move to the next stage when its gate allows
`/release approve <version>` / `/release reject <version> [reason]` approvers only, never the requester
`/release rollback <version> <reason>` approvers only; the reason is required
`/release override <version> <reason>` approvers only: pass the production freeze
`/release bypass <version> <reason>` approvers only: pass open checks and firing alerts
`/release status [version]`, `/release list`, `/release help`"""
