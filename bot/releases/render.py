"""Release messages: the announcement that is updated in place, and short replies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import blocks as bk
from bot.ops import Op
from bot.policy import Policy
from bot.releases import delivery, gates, task_render
from bot.releases.state import describe
from bot.releases.view import ReleaseView, load
from bot.text import duration, escape, local_time, mention
from storage.models import Release
from storage.vocab import ReleaseStatus, ReleaseType

# Lines another workflow adds to the announcement's validation status: fn(session, release, now).
Section = Callable[[Session, Release, datetime], list[str]]

_STATUS_EMOJI = {ReleaseStatus.ACTIVE: ":large_blue_circle:", ReleaseStatus.COMPLETED: ":white_check_mark:",
                 ReleaseStatus.ROLLED_BACK: ":rewind:", ReleaseStatus.REJECTED: ":no_entry:"}


def _plan(view: ReleaseView, policy: Policy) -> str:
    names = [s.name for s in policy.stages]
    here = names.index(view.release.stage)
    lines = []
    pending = view.pending
    for i, stage in enumerate(policy.stages):
        mark = ":white_check_mark:" if i < here else (":arrow_right:" if i == here else ":white_circle:")
        gate = " _(approval required)_" if stage.requires_approval else ""
        if stage.executor:
            gate += f" _(deployed by {escape(stage.executor)})_"
        if pending and pending.kind != "rollback" and pending.environment == stage.name:
            mark, gate = ":hourglass_flowing_sand:", gate + f" *deploying*{delivery.link(pending)}"
        lines.append(f"{mark} {stage.label}{gate}")
    return "*Deployment plan*\n" + "\n".join(lines)


def _checklist(view: ReleaseView, policy: Policy) -> tuple[str, str]:
    ticked = view.release.checklist
    validation = ""
    lines = []
    for i, sec in enumerate(policy.checklist):
        done = sum(item.id in ticked for item in sec.items)
        if i == 0:
            validation = f"*Validation status*\n{sec.section}: {done}/{len(sec.items)} done"
        items = ", ".join(("☑ " if item.id in ticked else "☐ ") + item.label for item in sec.items)
        lines.append(f"*{sec.section}* ({done}/{len(sec.items)}): {items}")
    return validation, "*Release checklist*\n" + "\n".join(lines)


def _buttons(view: ReleaseView, policy: Policy) -> list[Any]:
    r = view.release
    ref = {"v": r.version, "s": r.stage}
    out: list[Any] = []
    nxt = policy.next_stage(r.stage)
    if r.status == ReleaseStatus.ACTIVE:
        if nxt and view.pending is None:
            out.append(bk.button(f"Promote to {nxt.label}", "release_promote", ref, style="primary"))
        if not policy.stage(r.stage).production:
            out.append(bk.button("Approve", "release_approve", ref))
            out.append(bk.button("Reject", "release_reject", ref))
        out.append(bk.button("Update checklist", "release_checklist", ref))
    if r.status in (ReleaseStatus.ACTIVE, ReleaseStatus.COMPLETED):
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
    kind = "Hotfix" if r.type == ReleaseType.HOTFIX else "Release"
    stage = policy.stage(r.stage).label
    text = f"{kind} {r.version}: {describe(r.status)}, stage {stage}, risk {r.risk}"
    pending = view.pending
    if pending:
        target = policy.stage(pending.environment).label
        doing = "rolling back" if pending.kind == "rollback" else f"deploying to {target}"
        stage += f"\n:hourglass_flowing_sand: {doing} ({escape(pending.executor)}){delivery.link(pending)}"
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
    if r.ref or r.service:
        ships = " ".join(escape(x) for x in (r.service, r.repo, r.ref) if x)
        fields.append(f"*Ships*\n{ships}")
    blocks: list[Any] = [bk.header(f"{kind} {r.version}"), bk.section("", fields=fields)]
    summary = f"*Summary*\n{escape(r.summary) or '_none given_'}"
    summary += f"\n*Breaking changes*\n{escape(r.breaking_changes) or 'none'}"
    blocks.append(bk.section(summary))
    validation, checklist = _checklist(view, policy)
    blocks.append(bk.section("\n".join([validation, *(extra or [])])))
    blocks.append(bk.section(_plan(view, policy)))
    blocks.append(bk.section(f"*Rollback plan*\n{escape(r.rollback_plan) or 'Redeploy the previous version.'}"))
    mitigations = policy.risk_levels[r.risk].mitigations
    blocks.append(bk.section(f"*Mitigations ({r.risk} risk)*\n" + "\n".join(f"• {m}" for m in mitigations)))
    blocks.append(bk.section(checklist))
    if view.tasks:
        blocks.append(bk.section(task_render.lines(policy, view.tasks)))
    notes = [f"Approved by {mention(a.user_id)} at {local_time(a.at, tz)}" for a in view.approvals]
    if r.freeze_override:
        notes.append(f"Freeze overridden by {mention(r.freeze_override['by'])}: "
                     f"{escape(r.freeze_override['reason'])}")
    if r.rollback_reason:
        said = "Rolled back" if r.status == ReleaseStatus.ROLLED_BACK else "Rollback requested"
        notes.append(f":rewind: {said} by {mention(r.rolled_back_by)}: {escape(r.rollback_reason)}")
    for d in view.deployments:
        seconds = delivery.restore_seconds(d)
        if seconds is not None:
            notes.append(f":stopwatch: Rollback in {policy.stage(d.environment).label} took {duration(seconds)} "
                         f"from decision to {escape(d.executor)}'s report")
    day = gates.frozen_today(policy, now)
    if day and r.status == ReleaseStatus.ACTIVE:
        notes.append(f":snowflake: Production freeze today ({day})")
    if notes:
        blocks.append(bk.context(*notes))
    buttons = _buttons(view, policy)
    if buttons:
        blocks.append(bk.actions(*buttons, block_id=f"release:{r.id}"))
    return text, bk.to_dicts(blocks)


def announcement_call(s: Session, args: dict[str, Any], policy: Policy, now: datetime,
                      sections: Sequence[Section] = ()) -> tuple[Op, dict[str, Any]] | None:
    """Outbox renderer: the announcement as it stands when sent (a post, or an update in place);
    ``sections`` add lines of other workflows (checks, alerts, bake time) to its validation status."""
    release = s.get(Release, args["release_id"])
    if release is None:
        return None
    extra = [line for section in sections for line in section(s, release, now)]
    text, blocks = announcement(load(s, release, policy), policy, now, extra)
    if args.get("ts"):
        return Op.UPDATE, {"channel": args["channel"], "ts": args["ts"], "text": text, "blocks": blocks}
    return Op.POST, {"channel": args["channel"], "text": text, "blocks": blocks}


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
    [severity=P0..P3] [incident=<id>] [ref=<sha|tag>] [repo=<owner/name>] [service=<name>] [sha=<hex>]
    [notes...]`
    start a release (no arguments: a form)
`/release promote <version>` move to the next stage when its gate allows
`/release approve <version>` / `/release reject <version> [reason]` approvers only, never the requester
`/release rollback <version> <reason>` approvers only; the reason is required
`/release override <version> <reason>` approvers only: pass the production freeze
`/release bypass <version> <reason>` approvers only: pass open checks and firing alerts
`/release status [version]`, `/release list`, `/release help`
`/release metrics [30d|90d|quarter] [service]` delivery metrics against targets and DORA levels, with a chart"""
