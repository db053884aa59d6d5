"""The OpenAPI document covers every /api and /hooks route; no generated request gets a 5xx, and
each answer has its documented shape (response_schema_conformance)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from bot.app import Runtime, build_runtime
from bot.settings import load_settings
from tests.hooks.conftest import ALERTMANAGER_TOKEN, CHECKS_SECRET, GITHUB_SECRET, POLICY


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """The app (not started: no background work) with hooks on and a token holding every scope."""
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    settings = load_settings(DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-t", SLACK_SIGNING_SECRET="s",
                             SLACK_API_URL="http://127.0.0.1:9/api/", GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
                             ALERTMANAGER_TOKEN=ALERTMANAGER_TOKEN, CHECKS_WEBHOOK_SECRET=CHECKS_SECRET,
                             GRAFANA_WEBHOOK_SECRET="g", WARROOM_CONFIG=str(policy))
    rt = build_runtime(settings)
    yield rt
    rt.services.db.engine.dispose()


def test_every_api_and_hook_route_is_documented(runtime: Runtime) -> None:
    doc = TestClient(runtime.asgi).get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    served = set()
    for mount in runtime.asgi.routes:
        if isinstance(mount, Mount) and mount.path in ("/api", "/hooks"):
            for route in mount.routes:
                assert isinstance(route, Route)
                for method in route.methods or ():
                    if method != "HEAD":
                        served.add((mount.path + route.path, method.lower()))
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented
    assert doc["components"]["schemas"]["StartReleaseBody"]["properties"]["risk"]["enum"] == [
        "low", "medium", "high", "critical"]
    report = doc["components"]["schemas"]["TaskReport"]["properties"]
    assert report["requirements"]["anyOf"][0] == {"type": "object", "additionalProperties": {"type": "boolean"}}


def test_no_generated_request_gets_a_server_error(runtime: Runtime) -> None:
    token = runtime.services.tokens.create("fuzz", ["read", "releases:write", "checks:write"])
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", runtime.asgi)
    failures: list[str] = []
    for op in schema.get_all_operations():
        operation = op.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        run()
    assert not failures


@pytest.mark.parametrize("raw", ["99999999999999999999", "2147483648", "0", "abc", "٣"])
def test_an_executor_callback_for_an_id_no_row_can_have_is_404(runtime: Runtime, raw: str) -> None:
    client = TestClient(runtime.asgi, raise_server_exceptions=False)
    auth = {"Authorization": "Bearer some-token"}
    for path in (f"/hooks/deployments/{raw}", f"/hooks/tasks/{raw}"):
        response = client.post(path, json={"state": "succeeded"}, headers=auth)
        assert response.status_code == 404, (path, response.text)
