"""The `warroom` command: start-up errors name the setting; `db upgrade` migrates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect

ROOT = Path(__file__).resolve().parents[1]


def warroom(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a clean environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_", "DATABASE_URL"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_db_upgrade_creates_the_schema(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    done = warroom("db", "upgrade", DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout
    assert "release" in inspect(create_engine(url)).get_table_names()


def test_bad_settings_stop_startup_naming_them(tmp_path) -> None:
    done = warroom("db", "upgrade", WARROOM_APPROVERS="alice", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert done.returncode == 2
    assert "WARROOM_APPROVERS" in done.stderr and "'alice' is not a Slack user ID" in done.stderr
    policy = tmp_path / "policy.yml"
    policy.write_text("risk_levels:\n  high:\n    approvals: zero\n")
    done = warroom("db", "upgrade", WARROOM_CONFIG=str(policy))
    assert done.returncode == 2 and "risk_levels.high.approvals" in done.stderr


def test_serve_needs_credentials_and_never_logs_the_token(tmp_path) -> None:
    done = warroom("serve", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN" in done.stderr and "warroom sandbox" in done.stderr
    done = warroom("db", "upgrade", SLACK_BOT_TOKEN="xoxb-secret-123", SLACK_SIGNING_SECRET="sig-secret-456",
                   DATABASE_URL=f"sqlite:///{tmp_path}/y.db")
    assert done.returncode == 0
    assert "xoxb-secret-123" not in done.stdout + done.stderr
    assert "sig-secret-456" not in done.stdout + done.stderr
