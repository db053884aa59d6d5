"""Views, trigger ids, response URLs and files of the sandbox store (mixed into SandboxStore)."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from slackbox.seed import APP_ID, BOT_ID, TEAM_ID

# Slack: a trigger_id expires 3 seconds after it was issued; a response_url allows 5 uses in 30 minutes.
TRIGGER_TTL = 3.0
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
# Keys a stored view carries besides Slack's own fields (removed before a view is sent to the bot).
SANDBOX_VIEW_KEYS = ("user", "is_open", "errors")


def new_id(prefix: str, length: int = 10) -> str:
    """Return a random Slack-style id such as C0A1B2C3D4."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


class StoreBase:
    """What the store mixins need from SandboxStore: its lock, connection, transactions and notifications."""

    _lock: threading.RLock
    _db: sqlite3.Connection
    _ratelimit: int

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover - provided by the store
        raise NotImplementedError

    def _notify(self, event: dict[str, Any]) -> None:  # pragma: no cover - provided by the store
        raise NotImplementedError

    # Provided by the store (keyword arguments: user, text, blocks, thread_ts, ...).
    post_message: Callable[..., dict[str, Any]]


class ObjectsMixin(StoreBase):
    """The call log and rate limit, views, trigger ids, response URLs and files."""

    # -- rate limiting and the call log -----------------------------------------------------------
    def set_ratelimit(self, n: int) -> None:
        """Make the next `n` Web API calls answer HTTP 429 (ratelimited)."""
        with self._lock:
            self._ratelimit = max(0, int(n))

    def ratelimit_remaining(self) -> int:
        """How many of the next Web API calls will still answer 429."""
        with self._lock:
            return self._ratelimit

    def take_ratelimit(self) -> bool:
        """Consume one rate-limited call; True when this call must be refused."""
        with self._lock:
            if self._ratelimit <= 0:
                return False
            self._ratelimit -= 1
            return True

    def log_call(
        self, method: str, args: dict[str, Any], ok: bool, error: str | None = None
    ) -> dict[str, Any]:
        """Record one Web API call."""
        call = {"method": method, "args": args, "at": time.time(), "ok": ok, "error": error}
        with self._tx() as db:
            db.execute(
                "INSERT INTO api_calls (method, args, at, ok, error) VALUES (?, ?, ?, ?, ?)",
                (method, json.dumps(args, default=str), call["at"], int(ok), error),
            )
        self._notify({"type": "api_call", "call": call})
        return call

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Return the logged Web API calls, oldest first, optionally for one method."""
        sql, params = "SELECT * FROM api_calls", tuple[str, ...]()
        if method:
            sql, params = sql + " WHERE method = ?", (method,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", params).fetchall()
        return [
            {
                "method": r["method"],
                "args": json.loads(r["args"]),
                "at": r["at"],
                "ok": bool(r["ok"]),
                "error": r["error"],
            }
            for r in rows
        ]

    # -- views ------------------------------------------------------------------------------------
    def publish_home(self, user: str, body: dict[str, Any]) -> None:
        """Replace `user`'s App Home view (views.publish)."""
        with self._tx() as db:
            db.execute("INSERT INTO home_views (user, body, updated) VALUES (?, ?, ?) ON CONFLICT (user) "
                       "DO UPDATE SET body = excluded.body, updated = excluded.updated",
                       (user, json.dumps(body), time.time()))
        self._notify({"type": "home_published", "user": user})

    def home(self, user: str) -> dict[str, Any] | None:
        """`user`'s App Home view as last published, or None."""
        with self._tx() as db:
            row = db.execute("SELECT body FROM home_views WHERE user = ?", (user,)).fetchone()
        return None if row is None else json.loads(row["body"])

    def create_view(
        self, user: str, body: dict[str, Any], *, previous_id: str | None = None
    ) -> dict[str, Any]:
        """Open a view for `user`: a new stack, or pushed on top of `previous_id`."""
        view_id = new_id("V")
        root_id = view_id
        with self._tx() as db:
            if previous_id:
                root_id = db.execute("SELECT root_id FROM views WHERE id = ?", (previous_id,)).fetchone()[
                    "root_id"
                ]
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM views").fetchone()[0]
            db.execute(
                "INSERT INTO views (id, user, root_id, previous_id, body, hash, external_id, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    view_id,
                    user,
                    root_id,
                    previous_id,
                    json.dumps(body),
                    _hash(),
                    body.get("external_id"),
                    seq,
                ),
            )
        view = self.view(view_id)
        assert view is not None
        self._notify({"type": "view_opened", "view": view})
        return view

    def view(self, view_id: str) -> dict[str, Any] | None:
        """Return a view (Slack's shape plus `user`, `is_open`, `errors`) or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM views WHERE id = ?", (view_id,)).fetchone()
        return _view(row) if row else None

    def view_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        """Return the newest view with this external_id or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM views WHERE external_id = ? ORDER BY seq DESC LIMIT 1", (external_id,)
            ).fetchone()
        return self.view(row["id"]) if row else None

    def update_view(
        self,
        view_id: str,
        *,
        body: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Replace a view's body (new hash, fresh state) or set its state or its input errors."""
        with self._tx() as db:
            if body is not None:
                db.execute(
                    "UPDATE views SET body = ?, hash = ?, state = '{\"values\": {}}', errors = NULL, "
                    "external_id = ? WHERE id = ?",
                    (json.dumps(body), _hash(), body.get("external_id"), view_id),
                )
            if state is not None:
                db.execute("UPDATE views SET state = ? WHERE id = ?", (json.dumps(state), view_id))
            db.execute(
                "UPDATE views SET errors = ? WHERE id = ?", (json.dumps(errors) if errors else None, view_id)
            )
        view = self.view(view_id)
        assert view is not None
        self._notify({"type": "view_updated", "view": view})
        return view

    def close_views(self, view_ids: list[str]) -> None:
        """Close views (the user dismissed them or the app cleared the stack)."""
        closed = []
        with self._tx() as db:
            for view_id in view_ids:
                db.execute("UPDATE views SET is_open = 0 WHERE id = ?", (view_id,))
        for view_id in view_ids:
            view = self.view(view_id)
            if view:
                closed.append(view)
                self._notify({"type": "view_closed", "view": view})

    def open_views(self, user: str | None = None) -> list[dict[str, Any]]:
        """Return open views (oldest first), for one user or everyone; the last is the one on top."""
        sql, params = "SELECT * FROM views WHERE is_open = 1", tuple[str, ...]()
        if user:
            sql, params = sql + " AND user = ?", (user,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", params).fetchall()
        return [_view(r) for r in rows]

    # -- trigger ids ------------------------------------------------------------------------------
    def issue_trigger(self, user: str) -> str:
        """Issue a trigger_id for an interaction by `user`."""
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        with self._tx() as db:
            db.execute(
                "INSERT INTO triggers (id, user, issued_at) VALUES (?, ?, ?)", (trigger_id, user, time.time())
            )
        return trigger_id

    def consume_trigger(self, trigger_id: str, ttl: float = TRIGGER_TTL) -> tuple[str | None, str | None]:
        """Use a trigger_id once: returns (user, None) or (None, Slack's error code)."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM triggers WHERE id = ?", (trigger_id,)).fetchone()
            if row is None:
                return None, "invalid_trigger_id"
            if row["used"]:
                return None, "exchanged_trigger_id"
            if time.time() - row["issued_at"] > ttl:
                return None, "expired_trigger_id"
            db.execute("UPDATE triggers SET used = 1 WHERE id = ?", (trigger_id,))
        return row["user"], None

    # -- response URLs ----------------------------------------------------------------------------
    def issue_response_url(
        self, user: str, channel: str, *, message_ts: str | None = None, is_ephemeral: bool = False
    ) -> str:
        """Issue a response_url token tied to a user, a channel and optionally the original message."""
        token = secrets.token_urlsafe(24)
        with self._tx() as db:
            db.execute(
                "INSERT INTO response_urls (token, user, channel, message_ts, is_ephemeral, issued_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token, user, channel, message_ts, int(is_ephemeral), time.time()),
            )
        return token

    def use_response_url(
        self, token: str, *, max_uses: int = RESPONSE_URL_USES, ttl: float = RESPONSE_URL_TTL
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Count one use of a response_url: returns (info, None) or (None, Slack's error code)."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM response_urls WHERE token = ?", (token,)).fetchone()
            if row is None:
                return None, "no_such_url"
            if time.time() - row["issued_at"] > ttl:
                return None, "expired_url"
            if row["uses"] >= max_uses:
                return None, "used_url"
            db.execute("UPDATE response_urls SET uses = uses + 1 WHERE token = ?", (token,))
        info = dict(row)
        info["is_ephemeral"] = bool(info["is_ephemeral"])
        return info, None

    # -- files ------------------------------------------------------------------------------------
    def create_file(self, name: str, size: int, *, user: str, title: str | None = None) -> dict[str, Any]:
        """Reserve a file id for an upload (files.getUploadURLExternal)."""
        file_id = new_id("F")
        with self._tx() as db:
            db.execute(
                "INSERT INTO files (id, name, title, size, user, created) VALUES (?, ?, ?, ?, ?, ?)",
                (file_id, name, title or name, size, user, int(time.time())),
            )
        file = self.file(file_id)
        assert file is not None
        return file

    def put_file_content(self, file_id: str, content: bytes) -> bool:
        """Store the uploaded bytes of a reserved file; False if the id is unknown."""
        with self._tx() as db:
            cur = db.execute("UPDATE files SET content = ?, uploaded = 1 WHERE id = ?", (content, file_id))
        return cur.rowcount == 1

    def complete_file(
        self, file_id: str, *, title: str | None = None, channel: str | None = None
    ) -> dict[str, Any]:
        """Finish an upload: set the title and share it in a channel."""
        file = self.file(file_id)
        assert file is not None
        channels = file["channels"] + ([channel] if channel and channel not in file["channels"] else [])
        with self._tx() as db:
            db.execute(
                "UPDATE files SET title = COALESCE(?, title), channels = ? WHERE id = ?",
                (title, json.dumps(channels), file_id),
            )
        result = self.file(file_id)
        assert result is not None
        return result

    def file(self, file_id: str) -> dict[str, Any] | None:
        """Return a file's metadata (not its bytes) or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, title, size, user, uploaded, created, channels FROM files WHERE id = ?",
                (file_id,),
            ).fetchone()
        if row is None:
            return None
        return {**dict(row), "uploaded": bool(row["uploaded"]), "channels": json.loads(row["channels"])}

    def file_content(self, file_id: str) -> bytes | None:
        """Return a file's uploaded bytes or None."""
        with self._lock:
            row = self._db.execute("SELECT content FROM files WHERE id = ?", (file_id,)).fetchone()
        return None if row is None or row["content"] is None else bytes(row["content"])


def _hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def _view(row: sqlite3.Row) -> dict[str, Any]:
    body = json.loads(row["body"])
    view = {
        "type": "modal",
        "private_metadata": "",
        "callback_id": "",
        "external_id": "",
        "clear_on_close": False,
        "notify_on_close": False,
        "submit": None,
        "close": None,
        **body,
    }
    view.update(
        {
            "id": row["id"],
            "team_id": TEAM_ID,
            "state": json.loads(row["state"]),
            "hash": row["hash"],
            "root_view_id": row["root_id"],
            "previous_view_id": row["previous_id"],
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
            "external_id": row["external_id"] or "",
            "user": row["user"],
            "is_open": bool(row["is_open"]),
            "errors": json.loads(row["errors"] or "{}"),
        }
    )
    return view


def iter_view_elements(view: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (block, element) for every interactive element of a view or message's blocks."""
    for block in view.get("blocks") or []:
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            yield block, block["element"]
        elif block.get("type") == "actions":
            for element in block.get("elements") or []:
                yield block, element
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            yield block, block["accessory"]
