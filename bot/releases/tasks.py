"""Coordination tasks: when a release starts, each owner named in the policy's `tasks` is asked
(a mention in the release thread with the requirements as checkboxes and Done/Blocked buttons, or
a `task.requested` webhook to an executor); owners tick requirements and mark tasks; a phase's
tasks can gate promotion."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from sqlmodel import Session

from bot.database import Database
from bot.errors import InvalidTransition, NotFound, PermissionDenied, Unauthorized, UsageError
from bot.ops import Op
from bot.policy import PHASES, Policy, Stage
from bot.releases.records import token_hash
from bot.releases.task_render import MARKS, MESSAGE, message, owner_text, task_key
from bot.releases.view import announcement_key, tasks_of
from bot.text import escape
from bot.tx import Origin, Tx, ref
from storage.models import Release, ReleaseTask, SlackRef
from storage.vocab import TaskState

STATES = ("done", "blocked")


def request_all(tx: Tx, policy: Policy, release: Release) -> list[ReleaseTask]:
    """Create the release's tasks and ask each owner (inside the start transaction); returns them."""
    created: list[ReleaseTask] = []
    for phase in PHASES:  # in the order the phases happen, whatever the file's order
        for task in policy.tasks.get(phase, []):
            executor = task.owner in policy.executors
            token = secrets.token_urlsafe(32) if executor else None
            row = ReleaseTask(release_id=release.id or 0, phase=phase, name=task.name, owner=task.owner,
                              requirements=list(task.requirements), ticked=[], state=TaskState.REQUESTED,
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
            text, blocks = message(row, task.title, release.version)
            key = announcement_key(release.id)
            # Stored under the task's key, so ticks and marks can update it in place.
            tx.slack.post(ref(key, "channel"), text, blocks, thread_ts=ref(key, "ts"), store_as=task_key(row.id))
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


def requirement_ticks(task: ReleaseTask, raw: object) -> dict[str, bool]:
    """An executor's ``requirements`` ({text: true|false}) checked against the task's own."""
    if not isinstance(raw, dict):
        raise UsageError('requirements must be an object such as {"tag created": true}')
    known = ", ".join(repr(r) for r in task.requirements) or "none"
    for name, on in raw.items():
        if name not in task.requirements:
            raise UsageError(f"unknown requirement {str(name)[:200]!r}; this task's requirements are {known}")
        if not isinstance(on, bool):
            raise UsageError(f"requirement {name!r} must be true or false")
    return dict(raw)


class TaskService:
    """Ticks a task's requirements and marks it done or blocked (checkbox, button or callback);
    each in one transaction. Ticking the last requirement does not mark the task done: Done is
    the owner's own word."""

    def __init__(self, db: Database, policy: Policy, is_member: Callable[[str, str], bool],
                 announce: Callable[[Tx, Release, str | None], None]) -> None:
        self.db = db
        self.policy = policy
        self.is_member = is_member
        self.announce = announce

    def _owned(self, task_id: int, origin: Origin, verb: str, *, checked: bool) -> ReleaseTask:
        """The task, once ``origin`` is its owner (or a member of the owner group) or ``checked``."""
        with self.db.read() as s:
            found = s.get(ReleaseTask, task_id)
        if found is None:
            raise NotFound(f"There is no task {task_id}.")
        # Asked before the transaction (a group's members come from Slack), never under the write
        # lock; a task's owner never changes, so the answer still holds inside it.
        if not checked and not self.is_member(origin.user, found.owner):
            raise PermissionDenied(f"Only {owner_text(found.owner)} may {verb}.")
        return found

    def mark(self, task_id: int, state: str, origin: Origin, note: str | None = None, *,
             checked: bool = False) -> ReleaseTask:
        """Set a task done or blocked; only its owner (or a member of the owner group) may, unless
        the caller already proved it holds the task's token (``checked``)."""
        if state not in STATES:
            raise UsageError(f"state must be one of {', '.join(STATES)}")
        self._owned(task_id, origin, "mark this task", checked=checked)
        return self.db.run(lambda tx: self._apply(tx, task_id, origin, state=state, note=note, checked=checked))

    def toggle(self, task_id: int, offered: set[int], shown: set[int], selected: set[int],
               origin: Origin) -> ReleaseTask:
        """A click on a task's requirement checkboxes: ``offered`` the requirements (by index) of the
        clicked element, ``shown`` those its message showed ticked, ``selected`` those ticked now."""
        found = self._owned(task_id, origin, "tick this task's requirements", checked=False)
        if not offered | selected <= set(range(len(found.requirements))):
            raise UsageError("Those checkboxes are out of date.")
        # What this person changed is what differs from the message they clicked in; comparing with
        # the stored ticks instead would undo another owner's tick their message did not show yet.
        ticks = {found.requirements[i]: i in selected for i in offered if (i in selected) != (i in shown)}
        return self.db.run(lambda tx: self._apply(tx, task_id, origin, ticks=ticks))

    def callback(self, task_id: int, token: str, body: dict[str, Any]) -> ReleaseTask:
        """An executor's report on a task it was asked for: a state, requirements ticked, or both."""
        with self.db.read() as s:
            task = s.get(ReleaseTask, task_id)
        expected = task.callback_token_hash if task else None
        if not token or not expected or not hmac.compare_digest(token_hash(token), expected):
            raise Unauthorized("missing or wrong callback token for this task")
        assert task is not None
        state, raw = body.get("state"), body.get("requirements")
        if (state is not None or raw is None) and state not in STATES:
            raise UsageError(f"state must be one of {', '.join(STATES)} (or leave it out and send requirements)")
        # Checked before anything is written: an unknown requirement leaves the state unchanged too.
        ticks = requirement_ticks(task, raw) if raw is not None else None
        note = body.get("note") if isinstance(body.get("note"), str) else None
        origin = Origin(f"executor:{task.owner}"[:32], "hook:task")
        return self.db.run(lambda tx: self._apply(tx, task_id, origin, state=str(state) if state else None,
                                                  note=note, ticks=ticks, checked=True))

    def _apply(self, tx: Tx, task_id: int, origin: Origin, *, state: str | None = None, note: str | None = None,
               ticks: Mapping[str, bool] | None = None, checked: bool = False) -> ReleaseTask:
        """Apply ticks and a state in ``tx``: audit each change, update the announcement and the
        task's thread message in place."""
        task = tx.session.get(ReleaseTask, task_id)
        if task is None:
            raise NotFound(f"There is no task {task_id}.")
        ticked = set(task.ticked or [])
        flipped = [(r, on) for r, on in (ticks or {}).items() if (r in ticked) != on]
        changes: dict[str, Any] = {}
        if flipped:
            ticked = (ticked | {r for r, on in flipped if on}) - {r for r, on in flipped if not on}
            changes["ticked"] = [r for r in task.requirements if r in ticked]
        event = None
        if state and task.state != state:
            if task.state == "done":
                raise InvalidTransition("That task is done already.")
            changes.update(state=state, by=origin.user[:64], note=(note or "")[:1000] or None)
            event = (f"{MARKS[state]} Task {escape(task.name)} marked {state} by "
                     f"{owner_text(task.owner) if checked else owner_text(origin.user)}"
                     + (f": {escape(note)}" if note else "."))
        if not changes:
            return task
        tx.save(task, **changes, updated_at=tx.now)
        release = tx.session.get(Release, task.release_id)
        assert release is not None
        for requirement, on in flipped:
            tx.audit(origin, "release", release.id or 0, "task_ticked" if on else "task_unticked",
                     task=f"{task.phase}.{task.name}", requirement=requirement)
        if event:
            tx.audit(origin, "release", release.id or 0, f"task_{state}", task=f"{task.phase}.{task.name}",
                     reason=note)
        self.announce(tx, release, event)
        key = task_key(task.id)
        if tx.session.get(SlackRef, key) is not None:  # tasks asked before ticks existed have no stored message
            tx.slack.render(MESSAGE, task_id=task.id, channel=ref(announcement_key(release.id), "channel"),
                            ts=ref(key, "ts"), coalesce=key)
        return task
