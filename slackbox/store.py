"""Workspace state of the local Slack sandbox, kept in SQLite (stdlib sqlite3, thread-safe)."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from slackbox.seed import (
    SEED_CHANNELS,
    SEED_MEMBERS,
    SEED_USERGROUPS,
    TEAM_ID,
)
from slackbox.store_channels import ChannelsMixin
from slackbox.store_deploys import DEPLOYS_SCHEMA, DeploysMixin
from slackbox.store_objects import ObjectsMixin, new_id

__all__ = ["SandboxStore", "Event", "new_id", "SEED_MEMBERS", "SEED_CHANNELS", "SEED_USERGROUPS", "TEAM_ID"]

Event = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS members (id TEXT PRIMARY KEY, name TEXT NOT NULL, real_name TEXT NOT NULL,
    is_bot INTEGER NOT NULL DEFAULT 0, bot_id TEXT, tz TEXT NOT NULL DEFAULT 'Europe/London');
CREATE TABLE IF NOT EXISTS usergroups (id TEXT PRIMARY KEY, handle TEXT NOT NULL, name TEXT NOT NULL,
    users TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (id TEXT PRIMARY KEY, name TEXT UNIQUE, topic TEXT NOT NULL DEFAULT '',
    purpose TEXT NOT NULL DEFAULT '', is_private INTEGER NOT NULL DEFAULT 0, is_im INTEGER NOT NULL DEFAULT 0,
    im_user TEXT, creator TEXT, created INTEGER NOT NULL, members TEXT NOT NULL DEFAULT '[]',
    is_archived INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,
    ts TEXT NOT NULL, thread_ts TEXT, user TEXT, bot_id TEXT, subtype TEXT, text TEXT NOT NULL DEFAULT '',
    blocks TEXT, attachments TEXT, files TEXT, ephemeral_for TEXT, pinned INTEGER NOT NULL DEFAULT 0,
    edited TEXT, reply_broadcast INTEGER NOT NULL DEFAULT 0, UNIQUE (channel, ts));
CREATE TABLE IF NOT EXISTS views (id TEXT PRIMARY KEY, user TEXT NOT NULL, root_id TEXT NOT NULL,
    previous_id TEXT, body TEXT NOT NULL, state TEXT NOT NULL DEFAULT '{"values": {}}', errors TEXT,
    hash TEXT NOT NULL, external_id TEXT, is_open INTEGER NOT NULL DEFAULT 1, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, name TEXT NOT NULL, title TEXT, size INTEGER NOT NULL,
    user TEXT, content BLOB, uploaded INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
    channels TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS triggers (id TEXT PRIMARY KEY, user TEXT NOT NULL, issued_at REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS response_urls (token TEXT PRIMARY KEY, user TEXT NOT NULL, channel TEXT NOT NULL,
    message_ts TEXT, is_ephemeral INTEGER NOT NULL DEFAULT 0, uses INTEGER NOT NULL DEFAULT 0,
    issued_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS home_views (user TEXT PRIMARY KEY, body TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS api_calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT NOT NULL,
    args TEXT NOT NULL, at REAL NOT NULL, ok INTEGER NOT NULL, error TEXT);
"""

_MSG_COLS = (
    "channel, ts, thread_ts, user, bot_id, subtype, text, blocks, attachments, files, ephemeral_for, "
    "pinned, edited, reply_broadcast"
)


def _loads(raw: str | None) -> Any:
    return None if raw is None else json.loads(raw)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


class SandboxStore(ChannelsMixin, ObjectsMixin, DeploysMixin):
    """The workspace: members, channels, messages, views, files, a log of Web API calls and the
    built-in deployer's requests."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._listeners: list[Callable[[Event], None]] = []
        self._queues: list[queue.Queue[Event]] = []
        self._ratelimit = 0
        with self._tx() as db:
            db.executescript(_SCHEMA + DEPLOYS_SCHEMA)
            if db.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone() is None:
                self._seed(db)
            row = db.execute("SELECT ts FROM messages ORDER BY CAST(ts AS REAL) DESC LIMIT 1").fetchone()
        self._last_us = _ts_to_us(row["ts"]) if row else 0

    # -- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise

    def _seed(self, db: sqlite3.Connection) -> None:
        now = int(time.time())
        for m in SEED_MEMBERS:
            db.execute(
                "INSERT INTO members (id, name, real_name, is_bot, bot_id) VALUES (?, ?, ?, ?, ?)",
                (m.id, m.name, m.real_name, int(m.is_bot), m.bot_id),
            )
        in_channels = [m.id for m in SEED_MEMBERS if m.in_channels]
        for c in SEED_CHANNELS:
            db.execute(
                "INSERT INTO channels (id, name, topic, is_private, created, members) VALUES (?,?,?,?,?,?)",
                (c.id, c.name, c.topic, int(c.is_private), now, json.dumps(in_channels)),
            )
        for g in SEED_USERGROUPS:
            db.execute(
                "INSERT INTO usergroups (id, handle, name, users) VALUES (?, ?, ?, ?)",
                (g.id, g.handle, g.name, json.dumps(list(g.users))),
            )
        db.execute("INSERT INTO meta (key, value) VALUES ('seeded', ?)", (str(now),))

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._db.close()

    # -- change notifications ---------------------------------------------------------------------
    def add_listener(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` after every change; returns a function that removes it."""
        with self._lock:
            self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def subscribe(self) -> queue.Queue[Event]:
        """Return a thread-safe queue that receives every change event (see `unsubscribe`)."""
        q: queue.Queue[Event] = queue.Queue()
        with self._lock:
            self._queues.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[Event]) -> None:
        """Stop delivering events to a queue returned by `subscribe`."""
        with self._lock:
            if q in self._queues:
                self._queues.remove(q)

    def _notify(self, event: Event) -> None:
        with self._lock:
            listeners, queues = list(self._listeners), list(self._queues)
        for q in queues:
            q.put_nowait(event)
        for callback in listeners:
            callback(event)

    # -- members ----------------------------------------------------------------------------------
    def member(self, user_id: str) -> dict[str, Any] | None:
        """Return one member or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM members WHERE id = ?", (user_id,)).fetchone()
        return _member(row) if row else None

    def members(self) -> list[dict[str, Any]]:
        """Return every member."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM members ORDER BY rowid").fetchall()
        return [_member(r) for r in rows]

    def usergroup(self, group_id: str) -> dict[str, Any] | None:
        """Return one user group (with its `users`) or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM usergroups WHERE id = ?", (group_id,)).fetchone()
        return None if row is None else {**dict(row), "users": json.loads(row["users"])}

    # -- messages ---------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        with self._lock:
            self._last_us = max(int(time.time() * 1_000_000), self._last_us + 1)
            us = self._last_us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def post_message(
        self,
        channel: str,
        *,
        user: str | None = None,
        bot_id: str | None = None,
        text: str = "",
        blocks: list[Any] | None = None,
        attachments: list[Any] | None = None,
        files: list[Any] | None = None,
        thread_ts: str | None = None,
        ephemeral_for: str | None = None,
        subtype: str | None = None,
        reply_broadcast: bool = False,
    ) -> dict[str, Any]:
        """Store a new message and return it as a dict."""
        with self._tx() as db:  # ts taken under the lock so that ts order == insertion order
            ts = self._next_ts()
            db.execute(
                f"INSERT INTO messages ({_MSG_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,0,NULL,?)",
                (
                    channel,
                    ts,
                    thread_ts,
                    user,
                    bot_id,
                    subtype,
                    text,
                    _dumps(blocks),
                    _dumps(attachments),
                    _dumps(files),
                    ephemeral_for,
                    int(reply_broadcast),
                ),
            )
        msg = self.message(channel, ts)
        assert msg is not None
        self._notify({"type": "message", "message": msg})
        return msg

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """Return one message or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_MSG_COLS} FROM messages WHERE channel = ? AND ts = ?", (channel, ts)
            ).fetchone()
        return _message(row) if row else None

    def update_message(self, channel: str, ts: str, **fields: Any) -> dict[str, Any]:
        """Change a message's text, blocks, attachments, files or pinned flag; marks it edited."""
        allowed = {"text", "blocks", "attachments", "files", "pinned"}
        sets, params = [], []
        for key, value in fields.items():
            if key not in allowed:
                raise ValueError(f"cannot update message field {key!r}")
            sets.append(f"{key} = ?")
            params.append(int(value) if key == "pinned" else value if key == "text" else _dumps(value))
        if set(fields) - {"pinned"}:
            sets.append("edited = ?")
            params.append(json.dumps({"user": None, "ts": self._next_ts()}))
        with self._tx() as db:
            db.execute(
                f"UPDATE messages SET {', '.join(sets)} WHERE channel = ? AND ts = ?", (*params, channel, ts)
            )
        msg = self.message(channel, ts)
        assert msg is not None
        self._notify({"type": "message_changed", "message": msg})
        return msg

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete one message."""
        msg = self.message(channel, ts)
        with self._tx() as db:
            db.execute("DELETE FROM messages WHERE channel = ? AND ts = ?", (channel, ts))
        if msg:
            self._notify({"type": "message_deleted", "message": msg})

    def messages(
        self,
        channel: str | None = None,
        *,
        include_ephemeral_for: str | None = None,
        include_all_ephemeral: bool = False,
    ) -> list[dict[str, Any]]:
        """Return messages (oldest first) of a channel, or of all channels, incl. thread replies."""
        where: list[str] = []
        params: list[str | None] = []
        if channel:
            where.append("channel = ?")
            params.append(channel)
        if not include_all_ephemeral:
            where.append("(ephemeral_for IS NULL OR ephemeral_for = ?)")
            params.append(include_ephemeral_for)
        sql = f"SELECT {_MSG_COLS} FROM messages" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", params).fetchall()
        return [_message(r) for r in rows]


def _ts_to_us(ts: str) -> int:
    sec, _, frac = ts.partition(".")
    return int(sec) * 1_000_000 + int((frac + "000000")[:6])


def _member(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "real_name": row["real_name"],
        "is_bot": bool(row["is_bot"]),
        "bot_id": row["bot_id"],
        "tz": row["tz"],
        "team_id": TEAM_ID,
    }


def _message(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "channel": row["channel"],
        "ts": row["ts"],
        "thread_ts": row["thread_ts"],
        "user": row["user"],
        "bot_id": row["bot_id"],
        "subtype": row["subtype"],
        "text": row["text"],
        "blocks": _loads(row["blocks"]),
        "attachments": _loads(row["attachments"]),
        "files": _loads(row["files"]),
        "ephemeral_for": row["ephemeral_for"],
        "pinned": bool(row["pinned"]),
        "edited": _loads(row["edited"]),
        "reply_broadcast": bool(row["reply_broadcast"]),
    }
