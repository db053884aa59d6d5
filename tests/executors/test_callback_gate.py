"""A forged executor callback is refused from a plain read: it never waits for, nor takes, SQLite's
single writer, which every acked Slack request queues on."""

from __future__ import annotations

import base64
import sqlite3
import threading
import time

from sqlmodel import select

from bot.errors import Unauthorized
from bot.releases.requests import StartRelease
from storage.models import Deployment
from tests.support import make_services, who

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
POLICY = ("executors:\n  deployer:\n    kind: webhook\n    url: https://deploy.internal/warroom\n"
          "    secret_env: DEPLOYER_SECRET\n"
          "stages:\n  - {name: dev, label: Dev}\n  - {name: staging, label: Staging, executor: deployer}\n")


def test_a_wrong_token_is_refused_while_another_process_holds_the_write_lock(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOYER_SECRET", SECRET)
    (tmp_path / "policy.yml").write_text(POLICY)
    path = tmp_path / "bot.db"
    services = make_services(f"sqlite:///{path}", WARROOM_CONFIG=str(tmp_path / "policy.yml"),
                             WARROOM_PUBLIC_URL="https://warroom.example.com")
    services.releases.start(StartRelease.build(version="v1.0.0", channel_id="C1"), who("U0REQ"))
    services.releases.promote("v1.0.0", who("U0REQ"))
    with services.db.read() as s:
        deployment = s.exec(select(Deployment)).one()
    assert deployment.state == "requested"

    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, mid-transaction
    other.execute("BEGIN IMMEDIATE")
    outcome: list[BaseException] = []

    def forge() -> None:
        try:
            services.deployments.callback(deployment.id or 0, "not-the-token", {"state": "succeeded"})
        except BaseException as exc:  # noqa: BLE001 - what the caller would see
            outcome.append(exc)

    caller = threading.Thread(target=forge)
    started = time.monotonic()
    caller.start()
    caller.join(2.0)
    answered_in = time.monotonic() - started
    other.execute("ROLLBACK")
    other.close()
    caller.join(35)
    assert answered_in < 2.0, "the forged callback waited for the write lock"
    assert len(outcome) == 1 and isinstance(outcome[0], Unauthorized)
    with services.db.read() as s:
        assert s.exec(select(Deployment)).one().state == "requested"

