"""What a release does when a stage is reached, and when an executor reports on a deployment.

Shared by the release service (a manual promotion moves at once) and the deployment service (a
stage with an executor moves only when the executor reports ``succeeded``).
"""

from __future__ import annotations

from typing import Any, Protocol

from bot import blocks as bk
from bot.errors import InvalidTransition
from bot.policy import Policy, Stage
from bot.releases import records
from bot.releases.state import ACTIVE, COMPLETED, describe, next_status
from bot.releases.view import announcement_key
from bot.text import duration, escape, mention
from bot.tx import Origin, Tx, ref
from storage.models import Deployment, Release
from storage.vocab import StageName


class Releases(Protocol):
    """What of the release service these steps use (it calls them, so it is not imported here)."""

    policy: Policy

    def emit(self, tx: Tx, release: Release, action: str, origin: Origin) -> None:
        """Tell the listeners about a release event."""

    def thread(self, tx: Tx, release: Release, text: str) -> None:
        """A line in the announcement's thread."""

    def announce(self, tx: Tx, release: Release, event: str | None) -> None:
        """Refresh the announcement, with a thread line when ``event`` is given."""


def link(d: Deployment) -> str:
    """The executor's link for a deployment, as mrkdwn (empty when it gave none)."""
    if not d.url or not d.url.startswith(("http://", "https://")):
        return ""
    return f" (<{d.url.replace('|', '%7C').replace('>', '%3E')}|details>)"


def restore_seconds(d: Deployment) -> float | None:
    """A rollback's time from the decision to the executor's success report."""
    if d.kind != "rollback" or d.result != "success" or not d.started_at or not d.finished_at:
        return None
    return (d.finished_at - d.started_at).total_seconds()


def move(svc: Releases, tx: Tx, release: Release, target: Stage, origin: Origin,
         deployment: Deployment | None = None) -> None:
    """Put the release at ``target`` (the last stage completes it), audit and announce."""
    final = svc.policy.next_stage(target.name) is None
    status = next_status(release.version, release.status, "complete" if final else "promote")
    before = f"{release.status}:{release.stage}"
    changes: dict[str, object] = {"stage": target.name, "status": status, "updated_at": tx.now}
    if target.production and release.production_at is None:
        changes["production_at"] = tx.now
    if final:
        changes["finished_at"] = tx.now
    tx.save(release, **changes)
    detail: dict[str, Any] = {"deployment_id": deployment.id, "executor": deployment.executor} if deployment else {}
    tx.audit(origin, "release", release.id or 0, "promote", from_state=before, to_state=f"{status}:{target.name}",
             **detail)
    note = " The release is complete." if final else ""
    svc.emit(tx, release, "promote", origin)
    if deployment is None:
        svc.announce(tx, release, f"Promoted to *{target.label}* by {mention(origin.user)}.{note}")
    else:
        svc.announce(tx, release, f":white_check_mark: Deployed to *{target.label}*: *{escape(deployment.executor)}* "
                                  f"reported success{link(deployment)}.{note}")


def deployed(svc: Releases, tx: Tx, release: Release, d: Deployment, origin: Origin) -> None:
    """An executor reported success: move the release, or finish its rollback."""
    if d.kind == "rollback":
        _rolled_back(svc, tx, release, d, origin)
        return
    target = svc.policy.stage(d.environment)
    nxt = svc.policy.next_stage(release.stage)
    if release.status != ACTIVE or nxt is None or nxt.name != target.name:
        svc.thread(tx, release, f"*{escape(d.executor)}* reported {release.version} deployed to *{target.label}*, "
                                f"but the release is {describe(release.status)} at "
                                f"{svc.policy.stage(release.stage).label}; its stage was not changed.")
        return
    move(svc, tx, release, target, origin, deployment=d)


def _rolled_back(svc: Releases, tx: Tx, release: Release, d: Deployment, origin: Origin) -> None:
    label = svc.policy.stage(d.environment).label
    seconds = restore_seconds(d) or 0.0
    if release.status not in (ACTIVE, COMPLETED):
        svc.thread(tx, release, f"*{escape(d.executor)}* reported the rollback in *{label}* done "
                                f"({duration(seconds)} after the decision).")
        return
    before = release.status
    status = next_status(release.version, release.status, "rollback")
    tx.save(release, status=status, finished_at=tx.now, updated_at=tx.now)
    tx.audit(origin, "release", release.id or 0, "rollback", from_state=before, to_state=status,
             reason=release.rollback_reason, deployment_id=d.id, seconds_to_restore=round(seconds, 3))
    svc.emit(tx, release, "rollback", origin)
    reason = escape(release.rollback_reason or "")
    tx.slack.post(release.channel_id,
                  f":rewind: Release {release.version} was rolled back in {label} by *{escape(d.executor)}* "
                  f"{duration(seconds)} after {mention(release.rolled_back_by)} decided: {reason}")
    svc.announce(tx, release, f"Rolled back in *{label}*: *{escape(d.executor)}* reported success "
                              f"{duration(seconds)} after the decision{link(d)}.")


def _buttons(release: Release, d: Deployment, *, retry: bool) -> list[Any]:
    out = []
    if retry:
        out.append(bk.button("Retry", "deployment_retry", {"d": d.id, "v": release.version}, style="primary"))
    if d.kind != "rollback" and release.status in (ACTIVE, COMPLETED):
        out.append(bk.button(
            "Roll back", "release_rollback", {"v": release.version, "s": release.stage}, style="danger",
            confirm=("Roll back?", f"Roll back release {release.version}? You will be asked for a reason.",
                     "Roll back")))
    return out


def _thread_with_buttons(tx: Tx, release: Release, text: str, buttons: list[Any]) -> None:
    key = announcement_key(release.id)
    blocks = [bk.section(text)] + ([bk.actions(*buttons)] if buttons else [])
    tx.slack.post(ref(key, "channel"), text, bk.to_dicts(blocks), thread_ts=ref(key, "ts"))


def failed(svc: Releases, tx: Tx, release: Release, d: Deployment) -> None:
    """An executor reported failure: say who/what failed in the thread, offer the rollback."""
    what = "rollback" if d.kind == "rollback" else "deploy"
    why = f": {escape(d.description)}" if d.description else "."
    here = svc.policy.stage(release.stage).label
    text = (f":x: The {what} of {release.version} to *{svc.policy.stage(d.environment).label}* failed, "
            f"reported by *{escape(d.executor)}*{why}{link(d)} The release stays at {here}.")
    _thread_with_buttons(tx, release, text, _buttons(release, d, retry=True))
    svc.announce(tx, release, None)


def timed_out(svc: Releases, tx: Tx, release: Release, d: Deployment, seconds: int) -> None:
    """No final report in time: tell the thread, ping the requester, offer retry and rollback."""
    what = "rollback" if d.kind == "rollback" else "deploy"
    text = (f":hourglass: {mention(d.requested_by)} *{escape(d.executor)}* has not reported on the {what} of "
            f"{release.version} to *{svc.policy.stage(d.environment).label}* after {duration(seconds)}; "
            "it is marked timed out.")
    _thread_with_buttons(tx, release, text, _buttons(release, d, retry=True))
    svc.announce(tx, release, None)


def progress(svc: Releases, tx: Tx, release: Release, d: Deployment) -> None:
    """The executor started: show its link on the announcement."""
    what = "rolling back" if d.kind == "rollback" else "deploying"
    svc.announce(tx, release, f"*{escape(d.executor)}* is {what} {release.version} in "
                              f"*{svc.policy.stage(d.environment).label}*{link(d)}.")


def starting_point(policy: Policy, stage: StageName) -> tuple[Stage | None, StageName]:
    """The later stage a hotfix is deployed to as it starts (None at the first stage), and the stage
    the release is put at: that one, or the one before it when an executor deploys there (the
    release moves when the executor reports success, as after a promotion)."""
    names = [x.name for x in policy.stages]
    if stage not in names[1:]:
        return None, stage
    begins = policy.stage(stage)
    return begins, names[names.index(stage) - 1] if begins.executor else stage


def begin_at(releases: Releases, tx: Tx, release: Release, stage: Stage, origin: Origin) -> None:
    """A hotfix starting at ``stage``: record it deployed there (by hand), or request the deploy from
    the stage's executor (the release moves there when it reports success)."""
    if stage.executor is None:
        records.record_manual(tx, releases.policy, release, stage, origin)
        done = " The release is complete." if release.status == COMPLETED else ""
        releases.thread(tx, release, f"Hotfix: recorded as deployed to *{stage.label}*, where it starts.{done}")
        return
    deployment = records.request(tx, releases.policy, release, stage, origin)
    tx.audit(origin, "release", release.id or 0, "deploy_requested", from_state=release.stage,
             to_state=release.stage, deployment_id=deployment.id, executor=stage.executor, stage=stage.name)
    releases.announce(tx, release, f":hourglass_flowing_sand: Hotfix: deploying straight to *{stage.label}*, "
                                   f"requested from *{stage.executor}*. The stage changes when it reports success.")


def roll_back(svc: Releases, tx: Tx, release: Release, stage: Stage, origin: Origin, reason: str, *,
              automatic: bool) -> None:
    """Roll back a release at a stage without an executor: recorded as done at once."""
    before = release.status
    status = next_status(release.version, release.status, "rollback")
    service = records.service_of(release, svc.policy)
    records.record_manual(tx, svc.policy, release, stage, origin, kind="rollback", rolls_back=release.version,
                          version=records.previous_version(tx.session, service, stage.name, release.version),
                          automatic=automatic, description=reason)
    tx.save(release, status=status, rollback_reason=reason, rolled_back_by=origin.user,
            finished_at=tx.now, updated_at=tx.now)
    tx.audit(origin, "release", release.id or 0, "rollback", from_state=before, to_state=status,
             reason=reason, automatic=automatic)
    who = "warroom (automatic)" if automatic else mention(origin.user)
    tx.slack.post(release.channel_id, f":rewind: Release {release.version} was rolled back by {who}: {escape(reason)}")
    svc.emit(tx, release, "rollback", origin)
    svc.announce(tx, release, f"Rolled back by {who}. Reason: {escape(reason)}")


def request_rollback(svc: Releases, tx: Tx, release: Release, stage: Stage, origin: Origin, reason: str, *,
                     automatic: bool) -> None:
    """Ask the stage's executor to roll back; the release is rolled back when it reports success."""
    waiting = records.pending(tx.session, release.id or 0)
    if waiting is not None and waiting.kind == "rollback":
        raise InvalidTransition(f"A rollback of {release.version} is waiting for *{waiting.executor}* already.")
    tx.save(release, rollback_reason=reason, rolled_back_by=origin.user, updated_at=tx.now)
    deployment = records.request(tx, svc.policy, release, stage, origin, kind="rollback", automatic=automatic)
    tx.audit(origin, "release", release.id or 0, "rollback_requested", from_state=release.status,
             to_state=release.status, reason=reason, deployment_id=deployment.id, executor=stage.executor,
             automatic=automatic)
    who = "warroom (automatic)" if automatic else mention(origin.user)
    svc.announce(tx, release, f":rewind: Rollback in *{stage.label}* requested from *{stage.executor}* by "
                              f"{who}: {escape(reason)}. It is rolled back when the executor reports success.")
