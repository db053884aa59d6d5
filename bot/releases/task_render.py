"""Coordination task messages: the request in the release thread (requirements as checkboxes,
Done and Blocked buttons), re-rendered when a requirement is ticked or the task is marked, and
the task section of the announcement."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from bot import blocks as bk
from bot.ops import Op
from bot.policy import Policy
from bot.text import escape
from storage.models import Release, ReleaseTask

MESSAGE = "release_task"  # the outbox renderer of a task's thread message
TICK = "task_tick"  # the action id of the requirement checkboxes
MARKS = {"requested": ":hourglass_flowing_sand:", "done": ":white_check_mark:", "blocked": ":no_entry:"}
PHASE_LABELS = {"pre_release": "Pre-release", "preparation": "Preparation", "deployment": "Deployment",
                "post_deploy": "Post-deploy"}


def task_key(task_id: int | None) -> str:
    """The SlackRef key of a task's request message in the release thread."""
    return f"task:{task_id}:message"


def owner_text(owner: str) -> str:
    """A user or group mention, or the executor's name."""
    if owner.startswith("S") and owner[1:].isalnum() and owner.isupper():
        return f"<!subteam^{owner}>"
    if owner[:1] in "UW" and owner[1:].isalnum() and owner.isupper():
        return f"<@{owner}>"
    return f"*{escape(owner)}*"


def title_of(policy: Policy, task: ReleaseTask) -> str:
    """The task's title in the policy (its name if the policy no longer lists it)."""
    found = next((t for t in policy.tasks.get(task.phase, []) if t.name == task.name), None)
    return found.title if found else task.name


def progress(task: ReleaseTask) -> tuple[int, list[str]]:
    """How many requirements are ticked, and the ones that are not (in requirement order)."""
    ticked = set(task.ticked or [])
    return sum(r in ticked for r in task.requirements), [r for r in task.requirements if r not in ticked]


def tick_value(task_id: int | None, index: int) -> str:
    """The checkbox option value of requirement ``index`` of a task."""
    return json.dumps({"t": task_id, "r": index}, separators=(",", ":"))


def message(task: ReleaseTask, title: str, version: str) -> tuple[str, list[dict[str, Any]]]:
    """The task's thread message: text fallback (requirements as ☐/☑) and blocks (checkboxes)."""
    intro = (f":clipboard: To: {owner_text(task.owner)}. Task: {escape(title)} "
             f"({PHASE_LABELS.get(task.phase, task.phase)}, release {version}).")
    ticked = set(task.ticked or [])
    text = intro
    if task.requirements:
        text += "\nRequirements:\n" + "\n".join(("☑ " if r in ticked else "☐ ") + escape(r)
                                                for r in task.requirements)
    blocks: list[Any] = [bk.section(intro + ("\n*Requirements*" if task.requirements else ""))]
    values = [(tick_value(task.id, i), r) for i, r in enumerate(task.requirements)]
    shown = {tick_value(task.id, i) for i, r in enumerate(task.requirements) if r in ticked}
    for start in range(0, len(values), bk.CHECKBOX_OPTIONS_MAX):  # Slack takes 10 options per element
        chunk = values[start:start + bk.CHECKBOX_OPTIONS_MAX]
        blocks.append(bk.actions(bk.checkboxes(TICK, chunk, shown), block_id=f"task:{task.id}:r{start}"))
    done, missing = progress(task)
    state = ""
    if task.state != "requested":
        state = f"{MARKS.get(task.state, '')} Marked {task.state}" + (f" by {owner_text(task.by)}" if task.by else "")
        if task.state == "done" and missing:
            state += f" with {len(missing)} requirement{'s' if len(missing) != 1 else ''} not ticked"
    elif task.requirements and not missing:
        state = "All requirements are ticked: press *Done* when the task is."
    if state:
        blocks.append(bk.context(state))
    blocks.append(bk.actions(bk.button("Done", "task_done", {"t": task.id}, style="primary"),
                             bk.button("Blocked", "task_blocked", {"t": task.id}, style="danger")))
    return text, bk.to_dicts(blocks)


def message_call(s: Session, args: dict[str, Any], policy: Policy) -> tuple[Op, dict[str, Any]] | None:
    """Outbox renderer: the task's thread message as it stands when sent (an update in place)."""
    task = s.get(ReleaseTask, args["task_id"])
    release = s.get(Release, task.release_id) if task else None
    if task is None or release is None:
        return None
    text, blocks = message(task, title_of(policy, task), release.version)
    return Op.UPDATE, {"channel": args["channel"], "ts": args["ts"], "text": text, "blocks": blocks}


def lines(policy: Policy, tasks: list[ReleaseTask]) -> str:
    """The announcement's task section: each task's state, requirements ticked, and (once done)
    the requirements left unticked."""
    out = []
    for t in tasks:
        line = (f"{MARKS.get(t.state, '')} {PHASE_LABELS.get(t.phase, t.phase)}: "
                f"{escape(title_of(policy, t))} ({owner_text(t.owner)}) {t.state}")
        if t.requirements:
            done, missing = progress(t)
            line += f", {done}/{len(t.requirements)} requirements"
            if t.state == "done" and missing:
                line += f" (not ticked: {escape(', '.join(missing))})"
        out.append(line + (f": {escape(t.note)}" if t.note else ""))
    return "*Tasks*\n" + "\n".join(out)
