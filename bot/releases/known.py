"""Releases as this process last wrote them, so an approval needs no read before its write.

An entry is never trusted on its own: an approval decided from it writes with compare-and-set on the
release's ``row_version``, which every change of a release or its approvals bumps (``Tx.save``; an
approval saves its release). If another replica changed the release meanwhile, that write changes
nothing, and the approval is decided again from a fresh read. A refusal decided from an entry is
checked against a fresh read too, so a stale entry can cost a round trip, never a wrong answer.
Entries are copies: a transaction changing the rows it was given cannot change the entry.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from bot.errors import DatabaseUnavailable, WarroomError
from bot.releases.view import ReleaseView
from storage.models import Approval, Release
from storage.rows import new_row

Entry = tuple[dict[str, Any], tuple[dict[str, Any], ...]]
Rows = tuple[Release, list[Approval]]


def _copy(value: Any) -> Any:
    # Only JSON columns hold mutable values; the rest (text, numbers, datetimes) are shared safely.
    if isinstance(value, dict | list):
        return copy.deepcopy(value) if value else type(value)()
    return value


def _values(row: Release | Approval) -> dict[str, Any] | None:
    # Every field, as loaded or written; None when one is not loaded (it would be read on access).
    state = row.__dict__
    if any(name not in state for name in type(row).model_fields):
        return None
    return {name: _copy(state[name]) for name in type(row).model_fields}


class KnownReleases:
    """A bounded map from version to the release and its approvals, safe across request threads."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._versions: dict[int, str] = {}  # release id -> version, to forget by id
        self._lock = threading.Lock()

    def get(self, version: str) -> tuple[Release, list[Approval]] | None:
        """Fresh copies of the release called ``version`` and its approvals, if known."""
        with self._lock:
            entry = self._entries.get(version)
            if entry is None:
                return None
            self._entries.move_to_end(version)
        release, approvals = entry
        return (new_row(Release, **{k: _copy(v) for k, v in release.items()}),
                [new_row(Approval, **a) for a in approvals])

    def put(self, release: Release, approvals: list[Approval]) -> None:
        """Remember ``release`` and its approvals as just committed (skipped if any field is not loaded)."""
        values = _values(release)
        rows = [_values(a) for a in approvals]
        if values is None or release.id is None or any(r is None for r in rows):
            return
        with self._lock:
            self._entries[release.version] = (values, tuple(r for r in rows if r is not None))
            self._entries.move_to_end(release.version)
            self._versions[release.id] = release.version
            while len(self._entries) > self.size:
                _, (old, _) = self._entries.popitem(last=False)
                self._versions.pop(old["id"], None)

    def forget(self, release_ids: set[int]) -> None:
        """Drop the releases a committed transaction of this process changed."""
        with self._lock:
            for release_id in release_ids:
                version = self._versions.pop(release_id, None)
                if version is not None:
                    self._entries.pop(version, None)

    def drop(self, version: str) -> None:
        """Drop one release (its entry turned out stale)."""
        with self._lock:
            entry = self._entries.pop(version, None)
            if entry is not None:
                self._versions.pop(entry[0]["id"], None)


def decided(known: KnownReleases, version: str, run: Callable[[Rows | None, int], ReleaseView]) -> ReleaseView:
    """``run(rows, attempts)`` with the known rows of ``version`` if there are any (one attempt), else,
    or when that attempt is refused or finds them stale, with rows it reads itself; remembers the result."""
    rows = known.get(version)
    if rows is not None:
        try:
            view = run(rows, 1)
        except DatabaseUnavailable:
            raise
        except WarroomError:  # Conflict (another replica changed it), or a refusal to confirm
            known.drop(version)
        else:
            known.put(view.release, view.approvals)
            return view
    view = run(None, 8)
    known.put(view.release, view.approvals)
    return view
