"""Coordination tasks: when a release starts, each owner named in the policy's `tasks` is asked
(a mention in the release thread with the requirements and Done/Blocked buttons, or a
`task.requested` webhook to an executor); a phase's tasks can gate promotion."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from bot import blocks as bk
from bot.errors import InvalidTransition, NotFound, PermissionDenied, Unauthorized, UsageError
from bot.ops import Op
from bot.policy import PHASES, Policy, Stage
from bot.releases.records import token_hash
from bot.releases.view import announcement_key, tasks_of
from bot.text import escape
from bot.tx import Database, Origin, Tx, ref
from storage.models import Release, ReleaseTask
from storage.vocab import TaskState

STATES = ("done", "blocked")
MARKS = {"requested": ":hourglass_flowing_sand:", "done": ":white_check_mark:", "blocked": ":no_entry:"}
PHASE_LABELS = {"pre_release": "Pre-release", "preparation": "Preparation", "deployment": "Deployment",
                "post_deploy": "Post-deploy"}


def owner_text(owner: str) -> str:
    """A user or group mention, or the executor's name."""
    if owner.startswith("S") and owner[1:].isalnum() and owner.isupper():
        return f"<!subteam^{owner}>"
    if owner[:1] in "UW" and owner[1:].isalnum() and owner.isupper():
        return f"<@{owner}>"
    return f"*{escape(owner)}*"


def request_all(tx: Tx, policy: Policy, release: Release) -> list[ReleaseTask]:
    """Create the release's tasks and ask each owner (inside the start transaction); returns them."""
    created: list[ReleaseTask] = []
    for phase in PHASES:  # in the order the phases happen, whatever the file's order
        for task in policy.tasks.get(phase, []):
            executor = task.owner in policy.executors
            token = secrets.token_urlsafe(32) if executor else None
            row = ReleaseTask(release_id=release.id or 0, phase=phase, name=task.name, owner=task.owner,
                              requirements=list(task.requirements), state=TaskState.REQUESTED,
                              callback_token_hash=token_hash(token) if token else None,
                              created_at=tx.now, updated_at=tx.now)
            tx.session.add(row)
            tx.session.flush()
            created.append(row)
            if executor:
                tx.send(Op.WEBHOOK, executor=task.owner, message_id=f"msg_warroom_task_{row.id}",
                        callback_path=f"/hooks/tasks/{row.id}", secret={"callback_token": token}, body={
                            "type": "task.requested", "task_id": row.id, "phase": phase, "name": task.name,
                            "title": task.title, "requirements": task.requirements,
                            "release": {"version": release.version, "risk": release.risk, "type": release.type,
                                        "ref": release.ref, "sha": release.sha, "repo": release.repo,
                                        "service": release.service}})
                continue
            ticks = "\n".join(f"☐ {escape(r)}" for r in task.requirements)
            text = (f":clipboard: To: {owner_text(task.owner)}. Task: {escape(task.title)} "
                    f"({PHASE_LABELS[phase]}, release {release.version}).")
            if ticks:
                text += f"\nRequirements:\n{ticks}"
            key = announcement_key(release.id)
            buttons = bk.actions(bk.button("Done", "task_done", {"t": row.id}, style="primary"),
                                 bk.button("Blocked", "task_blocked", {"t": row.id}, style="danger"))
            tx.slack.post(ref(key, "channel"), text, bk.to_dicts([bk.section(text), buttons]), thread_ts=ref(key, "ts"))
    return created


def blocking(s: Session, policy: Policy, release: Release, target: Stage) -> str | None:
    """Why ``target`` waits for tasks, or None."""
    if not target.requires_tasks:
        return None
    open_ = [t for t in tasks_of(s, release.id or 0) if t.phase in target.requires_tasks and t.state != "done"]
    if not open_:
        return None
    titles = {(p, t.name): t.title for p, ts in policy.tasks.items() for t in ts}
    listed = ", ".join(f"{titles.get((t.phase, t.name), t.name)} ({t.state})" for t in open_)
    return f"{target.label} waits for its tasks: {escape(listed)}."


def lines(policy: Policy, tasks: list[ReleaseTask]) -> str:
    """The announcement's task section."""
    titles = {(p, t.name): t.title for p, ts in policy.tasks.items() for t in ts}
    out = [f"{MARKS.get(t.state, '')} {PHASE_LABELS.get(t.phase, t.phase)}: "
           f"{escape(titles.get((t.phase, t.name), t.name))} ({owner_text(t.owner)}) {t.state}"
           + (f": {escape(t.note)}" if t.note else "") for t in tasks]
    return "*Tasks*\n" + "\n".join(out)


class TaskService:
    """Marks tasks done or blocked (button or callback); each in one transaction."""

    def __init__(self, db: Database, policy: Policy, is_member: Callable[[str, str], bool],
                 announce: Callable[[Tx, Release, str | None], None]) -> None:
        self.db = db
        self.policy = policy
        self.is_member = is_member
        self.announce = announce

    def mark(self, task_id: int, state: str, origin: Origin, note: str | None = None, *,
             checked: bool = False) -> ReleaseTask:
        """Set a task done or blocked; only its owner (or a member of the owner group) may, unless
        the caller already proved it holds the task's token (``checked``)."""
        if state not in STATES:
            raise UsageError(f"state must be one of {', '.join(STATES)}")
        with self.db.read() as s:
            found = s.get(ReleaseTask, task_id)
        if found is None:
            raise NotFound(f"There is no task {task_id}.")
        # Asked before the transaction (a group's members come from Slack), never under the write
        # lock; a task's owner never changes, so the answer still holds inside it.
        if not checked and not self.is_member(origin.user, found.owner):
            raise PermissionDenied(f"Only {owner_text(found.owner)} may mark this task.")

        def work(tx: Tx) -> ReleaseTask:
            task = tx.session.get(ReleaseTask, task_id)
            if task is None:
                raise NotFound(f"There is no task {task_id}.")
            if task.state == state:
                return task
            if task.state == "done":
                raise InvalidTransition("That task is done already.")
            tx.save(task, state=state, by=origin.user[:64], note=(note or "")[:1000] or None, updated_at=tx.now)
            release = tx.session.get(Release, task.release_id)
            assert release is not None
            tx.audit(origin, "release", release.id or 0, f"task_{state}", task=f"{task.phase}.{task.name}",
                     reason=note)
            self.announce(tx, release, f"{MARKS[state]} Task {escape(task.name)} marked {state} by "
                                       f"{owner_text(origin.user) if not checked else owner_text(task.owner)}"
                                       + (f": {escape(note)}" if note else "."))
            return task
        return self.db.run(work)

    def callback(self, task_id: int, token: str, body: dict[str, Any]) -> ReleaseTask:
        """An executor's report on a task it was asked for."""
        with self.db.read() as s:
            task = s.get(ReleaseTask, task_id)
        expected = task.callback_token_hash if task else None
        if not token or not expected or not hmac.compare_digest(token_hash(token), expected):
            raise Unauthorized("missing or wrong callback token for this task")
        assert task is not None
        note = body.get("note") if isinstance(body.get("note"), str) else None
        return self.mark(task_id, str(body.get("state")), Origin(f"executor:{task.owner}"[:32], "hook:task"),
                         note, checked=True)
