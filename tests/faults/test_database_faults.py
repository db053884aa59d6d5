"""PostgreSQL unreachable under the running bot: Slack requests get a clear ephemeral answer
within the ack window, /readyz says not ready while /healthz stays up, and everything comes
back by itself when the database does."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import httpx

from slackbox import SandboxStore, start_workspace
from tests.e2e.conftest import BASE_ENV, SECRET
from tests.e2e.test_releases import AP1, REL, REQ, announcement, told
from tests.faults.conftest import FaultStack, TcpForwarder


def test_database_outage_gets_a_clear_reply_and_recovers(postgres_url: str, tmp_path) -> None:
    parts = urlsplit(postgres_url)
    forwarder = TcpForwarder((parts.hostname or "127.0.0.1", parts.port or 5432))
    via = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{forwarder.port}"))
    workspace = start_workspace(SandboxStore(str(tmp_path / "ws.db")), "", SECRET, host="127.0.0.1", port=0)
    stack = FaultStack(workspace=workspace, database_url=via, env=dict(BASE_ENV))
    stack.start_bot()
    assert stack.bot
    try:
        assert "started" in stack.ws.command(REQ, REL, "/release", "start v1.0.0 risk=low").json()["text"]
        ts = announcement(stack, "v1.0.0")["ts"]
        forwarder.down()
        t0 = time.monotonic()
        resp = stack.ws.command(REQ, REL, "/release", "start v2.0.0 risk=low")
        assert time.monotonic() - t0 < 3.0  # inside Slack's ack window
        assert resp.status_code == 200
        assert resp.json()["response_type"] == "ephemeral"
        assert "cannot reach its database; nothing was changed" in resp.json()["text"]
        # A click: its reply goes through the click's response_url, the outbox being unreachable.
        t0 = time.monotonic()
        assert stack.ws.click(AP1, REL, ts, "release_approve").status_code == 200
        assert time.monotonic() - t0 < 3.0
        told(stack, AP1, "cannot reach its database")
        assert httpx.get(stack.bot.url + "/readyz", timeout=5).status_code == 503
        assert httpx.get(stack.bot.url + "/healthz", timeout=5).status_code == 200

        forwarder.up()
        stack.ws.wait_for(lambda: httpx.get(stack.bot.url + "/readyz", timeout=5).status_code == 200, timeout=10,
                          what="ready again")
        assert "started" in stack.ws.command(REQ, REL, "/release", "start v3.0.0 risk=low").json()["text"]
        # Known gap: a sender transaction cut mid-way can leave a session idle in transaction
        # on the server, holding its rows until PostgreSQL ends it (30 s, storage.db).
        stack.settle(timeout=60)
        versions = stack.api("/api/releases").json()["releases"]
        assert sorted(r["version"] for r in versions) == ["v1.0.0", "v3.0.0"]  # nothing half-written
        assert not [m for m in stack.outbox() if m.failed]
    finally:
        forwarder.down()  # first: no session of the bot's is left holding locks on the server
        stack.stop_bot()
        stack.stop_proxy()
        workspace.handle.stop()
