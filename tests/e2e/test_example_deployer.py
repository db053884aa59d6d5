"""The README's example deployer works against the real bot: it verifies, deploys, calls back."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from http.server import HTTPServer
from pathlib import Path

from tests.e2e.conftest import Stack
from tests.e2e.executors import SECRET, write_policy
from tests.e2e.test_releases import REL, REQ, release, start

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "deployer.py"


def test_example_deployer_round_trip(make_stack: Callable[..., Stack], tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET)
    spec = importlib.util.spec_from_file_location("example_deployer", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = HTTPServer(("127.0.0.1", 0), module.Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/deploy"
        policy = write_policy(tmp_path / "policy.yml", {"deployer": {
            "kind": "webhook", "url": url, "secret_env": "DEPLOYER_WEBHOOK_SECRET"}}, {"staging": "deployer"})
        stack = make_stack(WARROOM_CONFIG=policy, WARROOM_PUBLIC_URL="http://bot.invalid")
        start(stack, "v13.0.0 risk=low")
        stack.ws.command(REQ, REL, "/release", "promote v13.0.0")
        stack.ws.wait_for(lambda: release(stack, "v13.0.0")["stage"] == "staging", timeout=10,
                          what="the example deployer to report success")
        deployment = release(stack, "v13.0.0")["deployments"][0]
        assert deployment["state"] == "succeeded"
        assert module.seen == {f"msg_warroom_deployment_{deployment['id']}"}
    finally:
        server.shutdown()
