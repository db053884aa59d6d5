"""The built-in deployer's requests in the sandbox store (mixed into SandboxStore), so the Deploys
panel still lists them, and can still report on them, after `make run` restarts."""

from __future__ import annotations

import json
from typing import Any

from slackbox.store_objects import StoreBase

DEPLOYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS deploys (seq INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL, body TEXT NOT NULL, signed TEXT NOT NULL, reports TEXT NOT NULL DEFAULT '[]');
"""


class DeploysMixin(StoreBase):
    """Deploy and rollback requests the bot sent to the built-in deployer, with the reports made on them."""

    def keep_deploy(self, webhook_id: str, received_at: float, body: dict[str, Any], signed: dict[str, Any]) -> bool:
        """Store one request; False when a request with this webhook-id is kept already (a retry)."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO deploys (webhook_id, received_at, body, signed) VALUES (?,?,?,?)",
                             (webhook_id, received_at, json.dumps(body), json.dumps(signed)))
        return cur.rowcount == 1

    def deploy(self, webhook_id: str) -> dict[str, Any] | None:
        """One request (with its callback token) or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM deploys WHERE webhook_id = ?", (webhook_id,)).fetchone()
        return _deploy(row) if row else None

    def deploys(self) -> list[dict[str, Any]]:
        """Every request, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM deploys ORDER BY seq").fetchall()
        return [_deploy(r) for r in rows]

    def add_deploy_report(self, webhook_id: str, report: dict[str, Any]) -> None:
        """Append a report made on one request."""
        with self._tx() as db:
            row = db.execute("SELECT reports FROM deploys WHERE webhook_id = ?", (webhook_id,)).fetchone()
            if row is not None:
                db.execute("UPDATE deploys SET reports = ? WHERE webhook_id = ?",
                           (json.dumps([*json.loads(row["reports"]), report]), webhook_id))


def _deploy(row: Any) -> dict[str, Any]:
    return {"webhook_id": row["webhook_id"], "received_at": row["received_at"], "body": json.loads(row["body"]),
            "signed": json.loads(row["signed"]), "reports": json.loads(row["reports"])}
