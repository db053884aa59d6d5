"""`make run`'s workspace asks the approvers group to prepare each release; the page ticks the
requirement checkboxes through /ui/click as the browser does, and the bot updates the message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.settings import load_settings
from slackbox import APPROVER_1, RELEASES_CHANNEL, REQUESTER
from slackbox.deploys import new_secret
from slackbox.launch import LOCAL_DEPLOYER_SECRET_ENV, start_sandbox


def _checkboxes(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return next((b["block_id"], e) for b in message["blocks"] for e in b.get("elements") or []
                if e.get("type") == "checkboxes")


def test_the_page_ticks_a_task_requirement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCAL_DEPLOYER_SECRET_ENV, new_secret())
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/warroom.db", WARROOM_FREEZE_DAYS="",
                             WARROOM_SCHEDULER_TICK="0.2")
    box = start_sandbox(settings, store_path=str(tmp_path / "warroom-sandbox.db"), local_deployer=True)
    try:
        ws = box.workspace_app.state.workspace
        assert ws.command(REQUESTER, RELEASES_CHANNEL, "/release", "start v1.0.0 risk=low").status_code == 200
        ask = ws.wait_for(lambda: next((m for m in ws.messages(RELEASES_CHANNEL, include_replies=True)
                                        if "Task: Prepare the release" in m["text"]), None), what="the task")
        block_id, element = _checkboxes(ask)
        first = element["options"][0]
        click = {"channel": RELEASES_CHANNEL, "ts": ask["ts"], "action_id": element["action_id"],
                 "selected": [first["value"]], "block_id": block_id}
        # The requester is not in the approvers group: refused, and the message is left as it was.
        assert httpx.post(box.url + "/ui/click", json={"user": REQUESTER, **click}, timeout=10).status_code == 200
        ws.wait_for(lambda: [m for m in ws.ephemerals(REQUESTER) if "may tick" in m["text"]], what="the refusal")
        assert httpx.post(box.url + "/ui/click", json={"user": APPROVER_1, **click}, timeout=10).status_code == 200
        ticked = ws.wait_for(lambda: _checkboxes(ws.store.message(RELEASES_CHANNEL, ask["ts"]))[1]
                             .get("initial_options"), what="the tick shown in the message")
        assert [o["text"]["text"] for o in ticked] == ["version bumped"]
        bad = httpx.post(box.url + "/ui/click", json={"user": APPROVER_1, **click, "selected": "all"}, timeout=10)
        assert bad.status_code == 400 and "selected must be a list" in bad.text
    finally:
        box.stop()
