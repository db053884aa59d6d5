"""The pure rules of checks: which policy check a report names, what state it leaves, what blocks."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from bot.policy import Check, Policy, Stage
from bot.text import escape

STATES = ("pending", "running", "passed", "failed", "skipped")
TERMINAL = ("passed", "failed", "skipped")
# GitHub's words (check runs, suites, workflow runs, commit statuses) in ours. A word GitHub adds
# later is not here: the report is kept as pending with the word in its note, never an error.
_GITHUB = {
    "queued": "pending", "requested": "pending", "waiting": "pending", "pending": "pending",
    "in_progress": "running", "success": "passed", "neutral": "passed", "failure": "failed",
    "error": "failed", "cancelled": "failed", "timed_out": "failed", "action_required": "failed",
    "startup_failure": "failed", "skipped": "skipped", "stale": "pending",
}
_NUMBER = r"(-?\d+(?:\.\d+)?)"


@dataclass(frozen=True)
class Report:
    """One report about one check, whatever system sent it."""

    name: str  # the external name (check run, workflow, context) or the policy name
    state: str
    values: dict[str, float]
    url: str | None
    source: str
    at: Any = None  # datetime | None
    note: str | None = None


def normalize_state(word: str | None) -> tuple[str, str | None]:
    """Our state for a reporter's word, and a note when the word was not one we know."""
    raw = (word or "").strip().lower()
    if raw in STATES:
        return raw, None
    if raw in _GITHUB:
        return _GITHUB[raw], None
    return "pending", f"unrecognised state {raw[:40]!r}"


def matching(policy: Policy, external: str) -> list[Check]:
    """Policy checks a report named ``external`` belongs to: its own name, or its ``match`` glob."""
    out = []
    for check in policy.checks:
        if external == check.name or (check.match and fnmatch.fnmatchcase(external, check.match)):
            out.append(check)
    return out


def values_in(text: str, keys: list[str]) -> dict[str, float]:
    """``key: 97.4`` or ``key=97.4`` for the keys a check constrains, found in free text (a
    check run's output title and summary)."""
    found: dict[str, float] = {}
    for key in keys:
        hit = re.search(rf"\b{re.escape(key)}\b\s*[:=]\s*{_NUMBER}", text or "")
        if hit:
            found[key] = float(hit.group(1))
    return found


def judge(check: Check, state: str, values: dict[str, float]) -> tuple[str, str | None]:
    """A passed report that misses a bound (min coverage, max regression) is a failure, with why."""
    if state != "passed":
        return state, None
    for key, low in check.min.items():
        if key not in values:
            return "failed", f"{key} not reported (needs at least {low:g})"
        if values[key] < low:
            return "failed", f"{key} {values[key]:g} is below {low:g}"
    for key, high in check.max.items():
        if key not in values:
            return "failed", f"{key} not reported (needs at most {high:g})"
        if values[key] > high:
            return "failed", f"{key} {values[key]:g} is above {high:g}"
    return state, None


def newer(stored_at: Any, stored_state: str, at: Any, state: str) -> bool:
    """Whether a report replaces the stored one: later wins; at the same time a finished state
    wins over an unfinished one (GitHub may deliver `completed` before `created`)."""
    if stored_at is None or at is None:
        return not (stored_state in TERMINAL and state not in TERMINAL and at is None)
    if at != stored_at:
        return bool(at > stored_at)
    return state in TERMINAL or stored_state not in TERMINAL


@dataclass(frozen=True)
class Row:
    """What the gate needs of a stored check."""

    name: str
    state: str
    url: str | None
    overridden: bool


def blocking(policy: Policy, rows: dict[str, Row], target: Stage) -> list[str]:
    """Each check required for ``target`` that is not passed (nor overridden), as a short line."""
    out = []
    for check in policy.checks:
        if check.required_for != target.name:
            continue
        row = rows.get(check.name)
        if row and row.overridden:
            continue
        state = row.state if row else "pending"
        waiting = [a for a in check.after if (rows.get(a) is None or rows[a].state != "passed")
                   and not (rows.get(a) and rows[a].overridden)]
        if state == "passed" and not waiting:
            continue
        line = f"`{check.name}` is {state}"
        if waiting and state != "failed":
            line += f" (waits for {', '.join(waiting)})"
        if row and row.url:
            line += f": {link(row.url)}"
        out.append(line)
    return out


def link(url: str | None, label: str = "link") -> str:
    """A mrkdwn link to an http(s) URL a reporter sent; anything else is shown escaped, not linked."""
    if not url:
        return ""
    if re.match(r"^https?://[^\s<>|]+$", url) and len(url) <= 1000:
        return f"<{url}|{label}>"
    return escape(url[:200])
