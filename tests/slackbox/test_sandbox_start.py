"""Starting the bot with the local workspace logs no error: the bot's background work (it reads the
approver user group first) reaches a workspace that is listening already."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.settings import load_settings
from slackbox.launch import free_port, start_sandbox


def _group_read(store_path: Path) -> bool:
    if not store_path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as db:
            return db.execute("SELECT 1 FROM api_calls WHERE method = 'usergroups.users.list' AND ok = 1"
                              ).fetchone() is not None
    except sqlite3.OperationalError:  # the workspace is still creating its tables
        return False


def test_warroom_sandbox_starts_without_an_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_", "DATABASE_URL"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/warroom.db"
    code = ("from bot.cli import main; raise SystemExit(main(['sandbox', '--port', "
            f"'{free_port()}', '--bot-port', '{free_port()}']))")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _group_read(tmp_path / "warroom-sandbox.db"):
            assert proc.poll() is None and time.monotonic() < deadline, "the bot never read the approver group"
            time.sleep(0.1)
        time.sleep(1.5)  # slack_sdk's retry of a refused call would come a second later
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Ctrl-C stops" in out, out
    assert " ERROR " not in out and "cannot read user group" not in out, out


def test_start_sandbox_logs_no_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/warroom.db")
    with caplog.at_level(logging.WARNING):
        box = start_sandbox(settings, store_path=str(tmp_path / "ws.db"))
        try:
            ws = box.workspace_app.state.workspace
            ws.wait_for(lambda: any(c["ok"] for c in box.store.calls("usergroups.users.list")),
                        what="the approver group read")
        finally:
            box.stop()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
