"""Real answers of the running bot match the shapes handlers/openapi.py documents for them: every
status a hook or the checks/events API gives is documented, with exactly the keys it carries."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.testclient import TestClient

from bot.app import Runtime, build_runtime
from bot.settings import load_settings
from handlers.openapi import document
from tests.e2e.conftest import Stack
from tests.e2e.executors import SECRET, Deployer, write_policy
from tests.e2e.test_executors import deployer  # noqa: F401 - fixture
from tests.e2e.test_releases import AP2, REL
from tests.hooks.conftest import (
    ALERTMANAGER_TOKEN,
    CHECKS_SECRET,
    GITHUB_SECRET,
    GRAFANA_SECRET,
    POLICY,
    alertmanager,
    github,
    grafana,
    payload,
    processed,
    report_check,
)

DOC = "urn:warroom:openapi"
# A small hook body limit, so the edge's 413 is cheap to provoke.
HOOKS_MAX_BODY = 4096


class Documented:
    """Checks answers against the served OpenAPI document, remembering which it has seen."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry: Registry[Any] = Registry().with_resource(
            DOC, Resource.from_contents(doc, default_specification=DRAFT202012))
        self.seen: set[tuple[str, str, int]] = set()

    def check(self, method: str, path: str, response: httpx.Response) -> Any:
        """Assert ``response`` is a documented answer of ``method path`` and matches its schema."""
        answers = self.doc["paths"][path][method]["responses"]
        status = str(response.status_code)
        assert status in answers, f"{method.upper()} {path} answered {status}, not documented: {response.text}"
        media = response.headers["content-type"].split(";")[0]
        assert list(answers[status]["content"]) == [media]
        schema = answers[status]["content"][media]["schema"]
        assert "$ref" in schema, f"{method.upper()} {path} {status} is not given an exact shape"
        pointer = "/".join(p.replace("~", "~0").replace("/", "~1")
                           for p in ("paths", path, method, "responses", status, "content", media, "schema"))
        validator = jsonschema.Draft202012Validator({"$ref": f"{DOC}#/{pointer}"}, registry=self.registry)
        body = response.json()
        validator.validate(body)
        self.seen.add((method, path, response.status_code))
        return body


@pytest.fixture
def stack(make_stack: Callable[..., Stack], tmp_path: Path) -> Stack:
    """A stack with every hook on and a small hook body limit."""
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    return make_stack(GITHUB_WEBHOOK_SECRET=GITHUB_SECRET, ALERTMANAGER_TOKEN=ALERTMANAGER_TOKEN,
                      GRAFANA_WEBHOOK_SECRET=GRAFANA_SECRET, CHECKS_WEBHOOK_SECRET=CHECKS_SECRET,
                      WARROOM_CONFIG=str(policy), WARROOM_HOOKS_MAX_BODY_BYTES=str(HOOKS_MAX_BODY))


def call(stack: Stack, method: str, path: str, token: str | None, body: Any = None, **headers: str) -> httpx.Response:
    """Call the bot's API with a bearer token."""
    assert stack.bot
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, stack.bot.url + path, json=body, headers={**auth, **headers}, timeout=10)


def test_the_hooks_and_the_checks_api_answer_as_documented(stack: Stack) -> None:
    assert stack.runtime and stack.bot
    doc = Documented(stack.api("/api/openapi.json").json())
    tokens = stack.runtime.services.tokens
    ci, reader = tokens.create("ci", ["releases:write", "checks:write"]), tokens.create("dash", ["read"])
    start = {"version": "v7.0.0", "channel": REL, "risk": "low", "service": "checkout", "sha": "a" * 40}

    made = doc.check("post", "/api/releases", call(stack, "POST", "/api/releases", ci, start, **{
        "Idempotency-Key": "b-1"}))
    assert (made["version"], made["stage"], made["requested_by"]) == ("v7.0.0", "dev", "ci")
    again = call(stack, "POST", "/api/releases", ci, start, **{"Idempotency-Key": "b-1"})
    assert doc.check("post", "/api/releases", again)["version"] == "v7.0.0" and again.status_code == 200
    assert "risk" in doc.check("post", "/api/releases", call(stack, "POST", "/api/releases", ci,
                                                             {**start, "risk": "extreme"}))["error"]
    for token, status in ((None, 401), (reader, 403)):
        refused = call(stack, "POST", "/api/releases", token, start)
        assert refused.status_code == status and doc.check("post", "/api/releases", refused)["error"]

    checks = "/api/releases/{version}/checks"
    reported = call(stack, "POST", "/api/releases/v7.0.0/checks", ci,
                    {"check": "tests", "state": "passed", "values": {"coverage": 97.5}, "url": "https://ci/7"})
    tests = next(c for c in doc.check("post", checks, reported)["checks"] if c["name"] == "tests")
    assert (tests["state"], tests["values"], tests["source"]) == ("passed", {"coverage": 97.5}, "api:/checks:ci")
    assert "No policy check" in doc.check("post", checks, call(
        stack, "POST", "/api/releases/v7.0.0/checks", ci, {"check": "fuzz", "state": "passed"}))["error"]
    doc.check("post", checks, call(stack, "POST", "/api/releases/v0.0.0/checks", ci,
                                   {"check": "tests", "state": "passed"}))
    # A waived check carries its override: by whom, why, when.
    stack.ws.command(AP2, REL, "/release", "bypass v7.0.0 lint is flaky today")
    listed = doc.check("get", checks, call(stack, "GET", "/api/releases/v7.0.0/checks", reader))["checks"]
    lint = next(c for c in listed if c["name"] == "lint")
    assert (lint["override"]["by"], lint["override"]["reason"]) == (AP2, "lint is flaky today")
    assert doc.check("get", checks, call(stack, "GET", "/api/releases/v9.9.9/checks", reader))["error"]

    accepted = doc.check("post", "/hooks/github", github(stack, "issues", {"action": "opened"}, delivery="d-1"))
    assert accepted == {"stored": True, "duplicate": False, "delivery": "d-1"}
    duplicate = doc.check("post", "/hooks/github", github(stack, "issues", {"action": "opened"}, delivery="d-1"))
    assert duplicate == {"stored": False, "duplicate": True, "delivery": "d-1"}
    assert doc.check("post", "/hooks/github", github(stack, "ping", {"zen": "Keep it logically awesome."}))["ok"]
    doc.check("post", "/hooks/github", github(stack, "issues", {}, secret="wrong"))
    doc.check("post", "/hooks/github", github(stack, "", {"action": "created"}))
    too_big = github(stack, "issues", {"padding": "x" * HOOKS_MAX_BODY})
    assert too_big.status_code == 413 and str(HOOKS_MAX_BODY) in doc.check("post", "/hooks/github", too_big)["error"]

    firing = payload("alertmanager.firing")
    assert doc.check("post", "/hooks/alertmanager", alertmanager(stack, firing))["stored"]
    doc.check("post", "/hooks/alertmanager", alertmanager(stack, firing, token="nope"))
    doc.check("post", "/hooks/alertmanager", alertmanager(stack, {"version": "4", "alerts": "none"}))
    assert doc.check("post", "/hooks/grafana", grafana(stack, payload("grafana.firing")))["stored"]
    doc.check("post", "/hooks/grafana", grafana(stack, payload("grafana.firing"), secret="other"))
    doc.check("post", "/hooks/grafana", grafana(stack, {"alerts": [{"labels": "none"}]}))
    report = {"release": "v7.0.0", "check": "lint", "state": "passed"}
    assert doc.check("post", "/hooks/checks", report_check(stack, report, msg_id="msg_1"))["delivery"] == "msg_1"
    doc.check("post", "/hooks/checks", report_check(stack, report, secret="whsec_" + "A" * 44))
    doc.check("post", "/hooks/checks", report_check(stack, {"release": "v7.0.0"}))

    processed(stack)
    events = doc.check("get", "/api/events", call(stack, "GET", "/api/events", reader))["events"]
    assert {(e["source"], e["delivery_id"][:5]) for e in events} >= {("github", "d-1"), ("checks", "msg_1")}
    assert all(e["processed_at"] and e["matched"] is not None for e in events)
    doc.check("get", "/api/events", call(stack, "GET", "/api/events?matched=maybe", reader))

    assert {status for method, path, status in doc.seen if path.startswith("/hooks")} == {200, 202, 400, 401, 413}
    assert {status for method, path, status in doc.seen if path == checks} == {200, 400, 404}


def test_executor_callbacks_and_a_release_with_deployments_and_tasks_answer_as_documented(
        make_stack: Callable[..., Stack], deployer: Deployer, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", SECRET)
    executor = {"kind": "webhook", "url": deployer.url, "secret_env": "DEPLOYER_WEBHOOK_SECRET"}
    policy = write_policy(tmp_path / "policy.yml", {"deployer": executor}, {"staging": "deployer"}, tasks={
        "pre_release": [{"name": "scan", "title": "Security scan", "owner": "deployer", "requirements": ["clean"]}]})
    stack = make_stack(WARROOM_CONFIG=policy, WARROOM_PUBLIC_URL="http://bot.invalid")
    assert stack.runtime and stack.bot
    doc = Documented(stack.api("/api/openapi.json").json())
    ci = stack.runtime.services.tokens.create("ci", ["releases:write"])
    doc.check("post", "/api/releases", call(stack, "POST", "/api/releases", ci,
                                            {"version": "v8.0.0", "channel": REL, "risk": "low"}))

    def sent(kind: str) -> dict[str, Any]:
        return stack.ws.wait_for(lambda: next((r["body"] for r in deployer.accepted() if r["body"]["type"] == kind),
                                              None), what=kind)

    task = sent("task.requested")
    tasks = "/hooks/tasks/{task_id}"
    ticked = call(stack, "POST", f"/hooks/tasks/{task['task_id']}", task["callback_token"],
                  {"requirements": {"clean": True}})
    assert doc.check("post", tasks, ticked) == {"task_id": task["task_id"], "state": "requested"}
    unknown = call(stack, "POST", f"/hooks/tasks/{task['task_id']}", task["callback_token"],
                   {"requirements": {"dirty": True}})
    assert unknown.status_code == 400 and "'dirty'" in doc.check("post", tasks, unknown)["error"]
    done = call(stack, "POST", f"/hooks/tasks/{task['task_id']}", task["callback_token"], {"state": "done"})
    assert doc.check("post", tasks, done) == {"task_id": task["task_id"], "state": "done"}
    doc.check("post", tasks, call(stack, "POST", f"/hooks/tasks/{task['task_id']}", "wrong", {"state": "done"}))
    doc.check("post", tasks, call(stack, "POST", f"/hooks/tasks/{task['task_id']}", "wrong", {"state": "later"}))

    promoted = doc.check("post", "/api/releases/{version}/promote",
                         call(stack, "POST", "/api/releases/v8.0.0/promote", ci))
    assert [(d["stage"], d["state"]) for d in promoted["deployments"]] == [("staging", "requested")]
    deploy = sent("deploy.requested")
    path, url = "/hooks/deployments/{deployment_id}", f"/hooks/deployments/{deploy['deployment_id']}"
    for state in ("in_progress", "succeeded"):
        answer = doc.check("post", path, call(stack, "POST", url, deploy["callback_token"], {"state": state}))
        assert answer == {"deployment_id": deploy["deployment_id"], "state": state}
    late = call(stack, "POST", url, deploy["callback_token"], {"state": "failed"})
    assert late.status_code == 409 and doc.check("post", path, late)["state"] == "succeeded"
    doc.check("post", path, call(stack, "POST", "/hooks/deployments/99999", "t", {"state": "failed"}))
    doc.check("post", path, call(stack, "POST", url, deploy["callback_token"], ["not", "an", "object"]))

    shown = doc.check("get", "/api/releases/{version}", call(stack, "GET", "/api/releases/v8.0.0", ci))
    assert shown["stage"] == "staging" and shown["deployments"][0]["seconds"] is not None
    assert [(t["name"], t["state"], t["by"], t["ticked"]) for t in shown["tasks"]] == [
        ("scan", "done", "executor:deployer", ["clean"])]
    listed = doc.check("get", "/api/releases", call(stack, "GET", "/api/releases", ci))["releases"]
    assert [r["version"] for r in listed] == ["v8.0.0"]


def test_hooks_whose_secret_is_unset_answer_as_documented(make_stack: Callable[..., Stack]) -> None:
    off = make_stack()  # no hook secret, no Alertmanager token
    doc = Documented(off.api("/api/openapi.json").json())
    for answer, path in ((github(off, "issues", {"action": "opened"}), "/hooks/github"),
                         (report_check(off, {"release": "v1.0.0", "check": "lint", "state": "passed"}),
                          "/hooks/checks")):
        assert answer.status_code == 404 and "is off" in doc.check("post", path, answer)["error"]
    refused = alertmanager(off, payload("alertmanager.firing"))
    assert refused.status_code == 401 and "ALERTMANAGER_TOKEN" in doc.check("post", "/hooks/alertmanager",
                                                                           refused)["error"]
    # Grafana contact points need not sign: with no secret set, an unsigned notification is taken.
    assert doc.check("post", "/hooks/grafana", grafana(off, payload("grafana.firing"), secret=None))["stored"]


def test_an_answer_with_a_key_not_documented_does_not_match(stack: Stack) -> None:
    doc = Documented(stack.api("/api/openapi.json").json())
    answer = github(stack, "issues", {"action": "opened"}, delivery="d-2")
    with pytest.raises(jsonschema.ValidationError, match="other"):
        doc.check("post", "/hooks/github", httpx.Response(
            202, json={**answer.json(), "other": 1}, headers={"content-type": "application/json"}))


@pytest.fixture
def limited(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """The app (not started) whose hooks take one request, then ask the caller to wait."""
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    rt = build_runtime(load_settings(
        DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-t", SLACK_SIGNING_SECRET="s",
        SLACK_API_URL="http://127.0.0.1:9/api/", ALERTMANAGER_TOKEN=ALERTMANAGER_TOKEN, WARROOM_CONFIG=str(policy),
        WARROOM_HOOKS_RATE="0.01", WARROOM_HOOKS_BURST="1"))
    yield rt
    rt.services.db.engine.dispose()


def test_a_client_over_the_hook_rate_gets_a_documented_429(limited: Runtime) -> None:
    client = TestClient(limited.asgi)
    doc = Documented(document())
    raw = json.dumps(payload("alertmanager.firing"))
    headers = {"Authorization": f"Bearer {ALERTMANAGER_TOKEN}", "Content-Type": "application/json"}
    first = client.post("/hooks/alertmanager", content=raw, headers=headers)
    second = client.post("/hooks/alertmanager", content=raw, headers=headers)
    assert (first.status_code, second.status_code) == (202, 429)
    assert second.headers["retry-after"] == "100"
    assert "too many requests" in doc.check("post", "/hooks/alertmanager", second)["error"]
