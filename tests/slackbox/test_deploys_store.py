"""The built-in deployer's requests are kept in the workspace's store: a retried request is kept once,
and after `make run` restarts the Deploys panel still lists them and can still report on them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bot.settings import load_settings
from slackbox import RELEASES_CHANNEL, REQUESTER, SandboxStore
from slackbox.deploys import new_secret
from slackbox.launch import LOCAL_DEPLOYER_SECRET_ENV, start_sandbox


def test_a_request_is_kept_once_with_its_reports(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.db")
    store = SandboxStore(path)
    body = {"type": "deploy.requested", "deployment_id": 7, "callback_token": "t"}
    assert store.keep_deploy("msg_1", 1.0, body, {"webhook-id": "msg_1"}) is True
    assert store.keep_deploy("msg_1", 2.0, {**body, "deployment_id": 8}, {}) is False  # a retry
    store.add_deploy_report("msg_1", {"state": "in_progress", "status": 200, "at": 3.0})
    store.add_deploy_report("msg_unknown", {"state": "failed", "status": 200, "at": 3.0})
    store.close()
    again = SandboxStore(path)
    try:
        assert again.deploys() == [{"webhook_id": "msg_1", "received_at": 1.0, "body": body,
                                    "signed": {"webhook-id": "msg_1"},
                                    "reports": [{"state": "in_progress", "status": 200, "at": 3.0}]}]
        assert again.deploy("msg_unknown") is None
    finally:
        again.close()


def test_the_deploys_panel_survives_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCAL_DEPLOYER_SECRET_ENV, new_secret())
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/warroom.db", WARROOM_FREEZE_DAYS="",
                             WARROOM_SCHEDULER_TICK="0.2")
    store_path = str(tmp_path / "warroom-sandbox.db")
    box = start_sandbox(settings, store_path=store_path, local_deployer=True)
    ports = urlsplit(box.url).port, urlsplit(box.bot_url).port
    try:
        ws = box.workspace_app.state.workspace
        assert ws.command(REQUESTER, RELEASES_CHANNEL, "/release", "start v1.0.0 risk=low").status_code == 200
        assert "requested from" in ws.command(REQUESTER, RELEASES_CHANNEL, "/release", "promote v1.0.0").json()["text"]
        listed = ws.wait_for(lambda: httpx.get(box.url + "/ui/deploys").json()["deploys"], what="the request")
        assert box.scratch is not None and (box.scratch / "policy.yml").is_file()  # what the bot runs on
    finally:
        box.stop()
    # The policy the built-in deployer wrote for the bot is gone with it (a run left one in /tmp each time).
    assert box.scratch is not None and not box.scratch.exists()
    (item,) = listed
    assert item["body"]["type"] == "deploy.requested" and "callback_token" not in item["body"]

    # `make run` again, on the same ports and files: the request is still there and still works.
    box = start_sandbox(settings, port=ports[0] or 0, bot_port=ports[1] or 0, store_path=store_path,
                        local_deployer=True)
    try:
        assert httpx.get(box.url + "/ui/deploys").json()["deploys"] == listed
        answer = httpx.post(box.url + "/ui/deploys/report", json={"webhook_id": item["webhook_id"],
                                                                 "state": "succeeded"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["status"] == 200, answer.text
        assert box.runtime.services.releases.get("v1.0.0").release.stage == "staging"
        (after,) = httpx.get(box.url + "/ui/deploys").json()["deploys"]
        assert [r["state"] for r in after["reports"]] == ["succeeded"]
    finally:
        box.stop()
