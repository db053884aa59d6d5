"""Channels of the sandbox store (mixed into SandboxStore)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from slackbox.store_objects import StoreBase, new_id


class ChannelsMixin(StoreBase):
    """Channels, DMs, membership and topics."""

    # -- channels ---------------------------------------------------------------------------------
    def channel(self, channel_id: str) -> dict[str, Any] | None:
        """Return one channel by id or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM channels WHERE id = ?", (channel_id,)).fetchone()
        return _channel(row) if row else None

    def channel_by_name(self, name: str) -> dict[str, Any] | None:
        """Return one channel by name (with or without '#') or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM channels WHERE name = ?", (name.lstrip("#"),)).fetchone()
        return _channel(row) if row else None

    def resolve_channel(self, ref: str) -> dict[str, Any] | None:
        """Return a channel given its id, `#name` or `name`."""
        return self.channel(ref) or self.channel_by_name(ref)

    def channels(self) -> list[dict[str, Any]]:
        """Return every channel, including DMs, in creation order."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM channels ORDER BY rowid").fetchall()
        return [_channel(r) for r in rows]

    def create_channel(
        self, name: str, *, creator: str, is_private: bool = False, members: list[str] | None = None
    ) -> dict[str, Any]:
        """Create a channel; raises sqlite3.IntegrityError when the name is taken."""
        cid = new_id("C")
        with self._tx() as db:
            db.execute(
                "INSERT INTO channels (id, name, is_private, creator, created, members) VALUES (?,?,?,?,?,?)",
                (cid, name, int(is_private), creator, int(time.time()), json.dumps(members or [creator])),
            )
        channel = self.channel(cid)
        assert channel is not None
        self._notify({"type": "channel_created", "channel": channel})
        return channel

    def open_dm(self, user_id: str, *, with_user: str) -> dict[str, Any]:
        """Return (creating if needed) the DM channel between `with_user` (the bot) and `user_id`."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM channels WHERE is_im = 1 AND im_user = ?", (user_id,)).fetchone()
            created = row is None
            cid = new_id("D") if created else row["id"]
            if created:
                db.execute(
                    "INSERT INTO channels (id, is_im, im_user, creator, created, members) "
                    "VALUES (?, 1, ?, ?, ?, ?)",
                    (cid, user_id, with_user, int(time.time()), json.dumps([with_user, user_id])),
                )
        channel = self.channel(cid)
        assert channel is not None
        if created:
            self._notify({"type": "channel_created", "channel": channel})
        return channel

    def add_members(self, channel_id: str, user_ids: list[str]) -> dict[str, Any]:
        """Add members to a channel, posting Slack's `channel_join` messages."""
        with self._tx() as db:
            row = db.execute("SELECT members FROM channels WHERE id = ?", (channel_id,)).fetchone()
            current = json.loads(row["members"])
            new = [u for u in user_ids if u not in current]
            db.execute(
                "UPDATE channels SET members = ? WHERE id = ?", (json.dumps(current + new), channel_id)
            )
        for user in new:
            self.post_message(
                channel_id, user=user, text=f"<@{user}> has joined the channel", subtype="channel_join"
            )
        channel = self.channel(channel_id)
        assert channel is not None
        self._notify({"type": "channel_changed", "channel": channel})
        return channel

    def set_topic(self, channel_id: str, topic: str, *, by: str) -> dict[str, Any]:
        """Set a channel's topic, posting Slack's `channel_topic` message."""
        with self._tx() as db:
            db.execute("UPDATE channels SET topic = ? WHERE id = ?", (topic, channel_id))
        self.post_message(
            channel_id, user=by, text=f"set the channel topic: {topic}", subtype="channel_topic"
        )
        channel = self.channel(channel_id)
        assert channel is not None
        self._notify({"type": "channel_changed", "channel": channel})
        return channel


def _channel(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "topic": row["topic"],
        "purpose": row["purpose"],
        "is_private": bool(row["is_private"]),
        "is_im": bool(row["is_im"]),
        "user": row["im_user"],
        "creator": row["creator"],
        "created": row["created"],
        "members": json.loads(row["members"]),
        "is_archived": bool(row["is_archived"]),
    }
