"""The `warroom` command: start-up errors name the setting; `db upgrade` migrates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect

ROOT = Path(__file__).resolve().parents[1]


def clean_env(**env: str) -> dict[str, str]:
    """This process's environment without any warroom or Slack setting, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_", "DATABASE_URL"))}
    return {**base, **env}


def warroom(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a clean environment plus ``env``."""
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=clean_env(**env),
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


def test_a_worker_logs_what_it_does_not_each_scheduler_tick(tmp_path) -> None:
    """`warroom worker` runs its due work every second; its log says it runs and drains, without two
    scheduler lines a second in between."""
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path}/w.db", SLACK_BOT_TOKEN="xoxb-test",
                    SLACK_SIGNING_SECRET="s", SLACK_API_URL="http://127.0.0.1:9/api/")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # up to "running"; then three ticks of the one-second scheduler
            if "running" in line:
                break
        time.sleep(3.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert "draining" in out, out
    assert "apscheduler" not in out, out
