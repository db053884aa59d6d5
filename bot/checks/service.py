"""Checks on releases: seeded at start, updated by reports, shown live, and gating promotion.

Slack-free: it records state and queues messages through ``Tx``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.checks import rules
from bot.checks.rules import Report
from bot.errors import UsageError
from bot.policy import Check, Policy, Stage
from bot.releases.gates import check_bound
from bot.releases.service import ReleaseService
from bot.releases.state import ACTIVE
from bot.text import escape, mention
from bot.tx import Origin, Tx
from storage.models import Release, ReleaseAlert, ReleaseCheck

COALESCE_SECONDS = 2.0
_EMOJI = {"pending": ":white_circle:", "running": ":hourglass_flowing_sand:", "passed": ":white_check_mark:",
          "failed": ":x:", "skipped": ":fast_forward:"}


class ChecksService:
    """Applies check reports to releases; its gate refuses promotion while a required check is open."""

    def __init__(self, releases: ReleaseService, policy: Policy) -> None:
        self.releases = releases
        self.db = releases.db
        self.policy = policy

    # --- reads -------------------------------------------------------------------------
    def rows(self, s: Session, release_id: int) -> dict[str, ReleaseCheck]:
        """The release's stored checks by name."""
        found = s.exec(select(ReleaseCheck).where(ReleaseCheck.release_id == release_id)).all()
        return {r.name: r for r in found}

    def listed(self, version: str) -> list[ReleaseCheck]:
        """The release's checks in policy order (API)."""
        with self.db.read() as s:
            release = self.releases.find(s, version)
            rows = self.rows(s, release.id or 0)
        order = [c.name for c in self.policy.checks]
        return sorted(rows.values(), key=lambda r: order.index(r.name) if r.name in order else len(order))

    # --- applying reports ----------------------------------------------------------------
    def apply(self, tx: Tx, release: Release, report: Report, *, by_name: bool = False) -> bool:
        """Apply ``report`` to every policy check it matches; True when one changed."""
        checks = ([c for c in self.policy.checks if c.name == report.name] if by_name
                  else rules.matching(self.policy, report.name))
        changed = False
        for check in checks:
            changed = self._apply_one(tx, release, check, report) or changed
        if changed:
            # Rendered when sent, so a burst of reports within this window is one chat.update.
            self.releases.announce(tx, release, delay=COALESCE_SECONDS)
        return changed

    def _apply_one(self, tx: Tx, release: Release, check: Check, report: Report) -> bool:
        if check.stage and not self._reached(release, check.stage):
            return False  # a smoke test of the canary says nothing before the canary runs
        state, note = rules.judge(check, report.state, report.values)
        note = note or report.note
        row = self.rows(tx.session, release.id or 0).get(check.name)
        if row is None:
            row = self._seed_one(tx, release, check.name)
        if not rules.newer(row.at, row.state, report.at, state):
            return False
        before = row.state
        values = {**row.values, **report.values}
        tx.save(row, state=state, values=values, url=report.url or row.url, source=report.source[:200],
                note=note, at=report.at or tx.now, updated_at=tx.now)
        if before == state:
            return True
        tx.audit(Origin(user="warroom", source=report.source[:64]), "release", release.id or 0, "check",
                 from_state=before, to_state=state, check=check.name, values=report.values, note=note)
        self._tick(tx, release, check.name, state)
        if state in ("passed", "failed"):
            why = f" ({escape(note)})" if note else ""
            link = rules.link(row.url, "details")
            self.releases.thread(tx, release, f"{_EMOJI[state]} Check `{check.name}` {state}{why}"
                                 + (f" {link}" if link else "") + ".")
        return True

    def _tick(self, tx: Tx, release: Release, name: str, state: str) -> None:
        """Checklist items that name the check follow it: ticked on pass, unticked otherwise."""
        keys = [k for k, check in check_bound(self.policy).items() if check == name]
        if not keys:
            return
        ticked = dict(release.checklist)
        for key in keys:
            if state == "passed":
                ticked[key] = {"by": f"check:{name}", "at": tx.now.isoformat()}
            else:
                ticked.pop(key, None)
        if ticked != release.checklist:
            tx.save(release, checklist=ticked, updated_at=tx.now)

    def _reached(self, release: Release, stage: str) -> bool:
        names: list[str] = [s.name for s in self.policy.stages]
        return names.index(release.stage) >= names.index(stage)

    def _seed_one(self, tx: Tx, release: Release, name: str) -> ReleaseCheck:
        row = ReleaseCheck(release_id=release.id or 0, name=name, state="pending", values={}, updated_at=tx.now)
        tx.session.add(row)
        tx.session.flush()
        return row

    def on_release(self, tx: Tx, release: Release, action: str, origin: Origin) -> None:
        """Release listener: a started release gets its policy's checks, all pending."""
        if action == "start":
            for check in self.policy.checks:
                tx.insert(ReleaseCheck(release_id=release.id or 0, name=check.name, state="pending", values={},
                                       updated_at=tx.now))

    # --- the gate and the override --------------------------------------------------------
    def gate(self, tx: Tx, release: Release, target: Stage) -> str | None:
        """Why ``target`` is closed by checks or firing alerts, or None."""
        # Only a check required for ``target`` can close it: no query when the policy has none.
        lines: list[str] = []
        if any(c.required_for == target.name for c in self.policy.checks):
            rows = {n: rules.Row(n, r.state, r.url, bool(r.override))
                    for n, r in self.rows(tx.session, release.id or 0).items()}
            lines = rules.blocking(self.policy, rows, target)
        alerts = firing(tx.session, release.id or 0)
        if alerts:
            names = ", ".join(f"`{escape(a.name)}`" for a in alerts)
            return (f"Promotion of {release.version} is paused: alert {names} is firing. It resumes when the "
                    f"alert resolves, or an approver overrides: `/release bypass {release.version} <reason>`.")
        if not lines:
            return None
        return (f"{target.label} needs these checks passed first:\n" + "\n".join(f"• {line}" for line in lines)
                + f"\nAn approver may override: `/release bypass {release.version} <reason>`.")

    def bypass(self, version: str, origin: Origin, reason: str) -> list[str]:
        """An approver lets the release past the open checks of its next stage and its firing alerts."""
        reason = reason.strip()
        if not reason:
            raise UsageError(f"A bypass needs a reason: `/release bypass {version} <reason>`.")

        approver = self.releases.is_approver(origin.user)  # asked before the transaction, not under its lock

        def work(tx: Tx) -> list[str]:
            tx.once(origin.request_id)
            release = self.releases.find(tx.session, version)
            self.releases.check_approver(release, origin.user, approver, "bypass the checks of")
            if release.status != ACTIVE:
                raise UsageError(f"Release {release.version} is not in progress; nothing to bypass.")
            target = self.policy.next_stage(release.stage)
            stamp = {"by": origin.user, "reason": reason[:1000], "at": tx.now.isoformat()}
            waived: list[str] = []
            rows = self.rows(tx.session, release.id or 0)
            for check in self.policy.checks:
                row = rows.get(check.name) or self._seed_one(tx, release, check.name)
                if target and check.required_for == target.name and row.state != "passed" and not row.override:
                    tx.save(row, override=stamp, updated_at=tx.now)
                    waived.append(f"check {check.name}")
            for alert in firing(tx.session, release.id or 0):
                tx.save(alert, override=stamp, updated_at=tx.now)
                waived.append(f"alert {alert.name}")
            if not waived:
                raise UsageError(f"Nothing holds {release.version} back: no open check or firing alert.")
            tx.audit(origin, "release", release.id or 0, "bypass", reason=reason, waived=waived)
            self.releases.announce(tx, release, f":warning: {mention(origin.user)} bypassed "
                                  f"{escape(', '.join(waived))}: {escape(reason)}")
            return waived
        return self.db.run(work)

    # --- the announcement -----------------------------------------------------------------
    def section(self, s: Session, release: Release, now: datetime) -> list[str]:
        """One line per check for the announcement's Validation status."""
        if not self.policy.checks:
            return []
        rows = self.rows(s, release.id or 0)
        lines = []
        for check in self.policy.checks:
            row = rows.get(check.name)
            state = row.state if row else "pending"
            line = f"{_EMOJI.get(state, '')} `{check.name}` {state}"
            if row and row.values:
                line += " (" + ", ".join(f"{escape(str(k))} {v:g}" if isinstance(v, int | float) else
                                         f"{escape(str(k))} {escape(str(v))}" for k, v in row.values.items()) + ")"
            if row and row.note:
                line += f": {escape(row.note)}"
            if row and row.url and state in ("failed", "running"):
                line += f" {rules.link(row.url, 'details')}"
            if row and row.override:
                line += f" _(bypassed by {mention(row.override['by'])}: {escape(row.override['reason'])})_"
            if check.required_for:
                line += f" · for {check.required_for}"
            lines.append(line)
        return lines


# Built once: every promotion's gate reads it (building it each time cost more than running it).
_FIRING = (select(ReleaseAlert).where(ReleaseAlert.release_id == bindparam("release_id"),
                                      ReleaseAlert.status == "firing").order_by(col(ReleaseAlert.id)))


def firing(s: Session, release_id: int) -> list[ReleaseAlert]:
    """The release's alerts that fire and nobody has overridden."""
    rows = s.exec(_FIRING, params={"release_id": release_id})
    # Filtered here: a JSON column may hold SQL NULL or JSON null for "no override".
    return [a for a in rows if not a.override]
