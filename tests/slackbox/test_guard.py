"""The local workspace stays local: loopback binds only (unless --public, with fresh secrets), and its
endpoints answer only loopback Hosts, same-origin pages and JSON writes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from bot.app import LOCAL_BOT_TOKEN, LOCAL_SIGNING_SECRET
from bot.cli import main
from bot.errors import ConfigError
from bot.settings import load_settings
from slackbox import RELEASES_CHANNEL, REQUESTER, SandboxStore, start_workspace
from slackbox.actor import sign
from slackbox.guard import host_name, is_loopback
from slackbox.launch import LOCAL_API_TOKEN, start_sandbox
from slackbox.ui import ui_routes


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "", "::", "192.168.1.5", "evil.example"))  # noqa: S104
    assert [host_name(h) for h in ("127.0.0.1:3000", "[::1]:3000", "localhost", "evil.example:80")] == [
        "127.0.0.1", "::1", "localhost", "evil.example"]


def test_a_non_loopback_bind_is_refused_without_public(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/w.db")
    with pytest.raises(ConfigError, match="--public"):
        start_sandbox(settings, host="0.0.0.0", store_path=str(tmp_path / "s.db"))  # noqa: S104
    env_keys = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    saved = {k: os.environ.pop(k) for k in env_keys if k in os.environ}
    try:
        assert main(["sandbox", "--host", "0.0.0.0", "--port", "0", "--bot-port", "0"]) == 2  # noqa: S104
    finally:
        os.environ.update(saved)
    assert "refusing to serve the local workspace on 0.0.0.0" in capsys.readouterr().err


def _sign(secret: str, body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(secret, ts, body),
            "Content-Type": "application/x-www-form-urlencoded"}


def test_public_generates_secrets_and_refuses_the_public_constants(tmp_path: Path) -> None:
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/w.db", WARROOM_FREEZE_DAYS="")
    box = start_sandbox(settings, store_path=str(tmp_path / "s.db"), public=True)
    try:
        keys = box.keys
        assert keys.public and keys.signing_secret != LOCAL_SIGNING_SECRET and len(keys.signing_secret) >= 32
        assert keys.bot_token != LOCAL_BOT_TOKEN and keys.api_token != LOCAL_API_TOKEN
        body = urlencode({"command": "/release", "text": "list", "channel_id": RELEASES_CHANNEL,
                          "user_id": REQUESTER, "trigger_id": "1.2"}).encode()
        events = box.bot_url + "/slack/events"
        assert httpx.post(events, content=body, headers=_sign(LOCAL_SIGNING_SECRET, body)).status_code == 401
        assert httpx.post(events, content=body, headers=_sign(keys.signing_secret, body)).status_code == 200
        api = box.bot_url + "/api/releases"
        assert httpx.get(api, headers={"Authorization": f"Bearer {LOCAL_API_TOKEN}"}).status_code == 401
        assert httpx.get(api, headers={"Authorization": f"Bearer {keys.api_token}"}).status_code == 200
        post = box.url + "/api/chat.postMessage"
        args = {"channel": RELEASES_CHANNEL, "text": "hello"}
        assert httpx.post(post, data={**args, "token": LOCAL_BOT_TOKEN}).json()["error"] == "invalid_auth"
        assert httpx.post(post, data={**args, "token": keys.bot_token}).json()["ok"] is True
        # A shared workspace answers any Host, and still only same-origin pages.
        assert httpx.get(box.url + "/ui/state", params={"user": REQUESTER},
                         headers={"Host": "warroom.lan:3000"}).status_code == 200
        assert httpx.post(box.url + "/ui/post", json={"user": REQUESTER, "channel": RELEASES_CHANNEL, "text": "x"},
                          headers={"Origin": "http://evil.example"}).status_code == 403
    finally:
        box.stop()


def test_the_cli_prints_the_generated_secrets_with_public(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/w.db"}
    code = ("import sys; from bot.cli import main; "
            "sys.exit(main(['sandbox', '--public', '--host', '127.0.0.1', '--port', '0', '--bot-port', '0']))")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("API token:" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        proc.terminate()
        proc.wait(10)
    text = "".join(lines)
    secret = next(line.rsplit(" ", 1)[1].strip() for line in lines if "generated signing secret" in line)
    assert len(secret) == 64 and secret != LOCAL_SIGNING_SECRET, text
    assert "generated bot token:" in text and LOCAL_BOT_TOKEN not in text


@pytest.fixture
def workspace(tmp_path: Path):  # noqa: ANN201 - yields a RunningWorkspace
    running = start_workspace(SandboxStore(str(tmp_path / "w.db")), "", "secret", host="127.0.0.1", port=0,
                              extra_routes=ui_routes())
    try:
        yield running
    finally:
        running.stop()


def test_foreign_hosts_origins_and_plain_text_writes_are_refused(workspace) -> None:  # noqa: ANN001
    url = workspace.url
    post = {"user": REQUESTER, "channel": RELEASES_CHANNEL, "text": "hi"}
    # DNS rebinding: a foreign name that resolves here.
    assert httpx.get(url + "/ui/state", params={"user": REQUESTER},
                     headers={"Host": "evil.example"}).status_code == 403
    assert httpx.post(url + "/api/chat.postMessage", data={**post, "token": "xoxb-x"},
                      headers={"Host": "evil.example"}).status_code == 403
    # Another origin, even on this machine, and the browser's own cross-site marker.
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        assert httpx.post(url + "/ui/post", json=post, headers=headers).status_code == 403, headers
    # A cross-site form or text/plain fetch needs no preflight: writes take JSON only.
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        answer = httpx.post(url + "/ui/post", content=b'{"user": "U0REQUEST"}', headers={"Content-Type": kind})
        assert answer.status_code == 415 and "application/json" in answer.json()["error"]
    assert httpx.post(url + "/sandbox/clock/advance", data={"seconds": "60"}).status_code == 415
    assert workspace.store.messages(RELEASES_CHANNEL) == []
    # The same write from the page's own origin, as JSON, works.
    same = httpx.post(url + "/ui/post", json=post, headers={"Origin": url, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and same.json()["ok"]
    # Server-to-server calls (the bot's Web API calls) carry no Origin and pass.
    assert httpx.post(url + "/api/chat.postMessage", data={**post, "token": "xoxb-bot"}).json()["ok"] is True
