"""GET /api/openapi.json: OpenAPI 3.1 for every /api and /hooks endpoint, its schemas generated
from the pydantic models the endpoints validate with and answer in (handlers.openapi_shapes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.hooks.checks import CheckReport
from bot.metrics.imports import DeploymentIn, IncidentIn
from bot.monitoring.alerts import AlertNotification
from handlers import openapi_shapes as shapes
from handlers.write_api import ApiCheckReport, StartReleaseBody

REF = "#/components/schemas/{model}"


class GitHubDelivery(BaseModel):
    """Any GitHub webhook payload (GitHub documents each event's own shape)."""

    model_config = {"extra": "allow"}

    action: str | None = Field(default=None, description="e.g. completed, created")


class DeploymentReport(BaseModel):
    """An executor's report on one deployment (``Authorization: Bearer`` its callback token)."""

    state: Literal["in_progress", "succeeded", "failed"]
    url: str | None = Field(default=None, max_length=2000, description="http(s) link to the executor's run")
    description: str | None = Field(default=None, max_length=1000)


class RollbackBody(BaseModel):
    """`POST /api/releases/{version}/rollback`: why (told to the channel, recorded on the release)."""

    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=1, max_length=1000, examples=["checkout errors doubled after the canary"])


class Imported(BaseModel):
    """An import's answer: the row, and whether this request created it (false: it was there)."""

    id: int
    created: bool


class TaskReport(BaseModel):
    """An executor's report on a coordination task it was asked for (its callback token): a state,
    requirements ticked or unticked, or both (applied together, or not at all)."""

    state: Literal["done", "blocked"] | None = Field(
        default=None, description="required unless requirements are given; done does not need every tick")
    note: str | None = None
    requirements: dict[str, bool] | None = Field(
        default=None, examples=[{"tag created": True, "packages built": False}],
        description="tick (true) or untick (false) requirements by their text, as task.requested listed "
                    "them; an unknown one is a 400 naming it")


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in (StartReleaseBody, ApiCheckReport, CheckReport, AlertNotification, GitHubDelivery,
                  DeploymentReport, TaskReport, RollbackBody, DeploymentIn, IncidentIn, Imported,
                  *shapes.ANSWERS):
        schema = model.model_json_schema(ref_template=REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


WHY = {200: "OK", 201: "Created", 202: "Accepted: stored, processed later", 400: "Bad request",
       401: "Not authenticated", 403: "Missing scope", 404: "Not found", 409: "Conflict",
       413: "The body is over the route's size limit", 429: "Too many requests from this address (see Retry-After)"}
# The edge limits (bot.edge) stand in front of every /api and /hooks route: a Content-Length that is
# not a number (400), a body over the limit (413), a client over its request rate (429).
EDGE = (400, 413, 429)


def _answers(oks: Mapping[int, str | None], *errors: int, conflict: str = "ErrorBody") -> dict[str, Any]:
    """Each success status with its shape (None: a JSON object not described here), and each error
    (plus the edge's) with ErrorBody (a 409 with ``conflict``)."""
    out = {str(code): {"description": WHY[code], "content": {"application/json": {
        "schema": _ref(name) if name else {"type": "object"}}}} for code, name in oks.items()}
    for code in sorted({*errors, *EDGE}):
        out[str(code)] = {"description": WHY[code], "content": {"application/json": {
            "schema": _ref(conflict if code == 409 else "ErrorBody")}}}
    return out


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _header(name: str, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": {"type": "string"}}


def _api(op: dict[str, Any], scope: str = "read") -> dict[str, Any]:
    if scope == "read":
        # Every token may read (a write scope implies it; a token made without scopes gets it): no 403.
        op = {**op, "responses": {k: v for k, v in op["responses"].items() if k != "403"}}
    return {**op, "security": [{"bearer": []}], "x-scope": scope}


def document() -> dict[str, Any]:
    """The OpenAPI document."""
    limit = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500})
    version = _path("version")
    any_ok = {200: None}
    checks = _answers({200: "CheckList"}, 401, 403, 404)
    paths: dict[str, Any] = {
        "/api/releases": {
            "get": _api({"summary": "Recent releases", "parameters": [limit],
                         "responses": _answers({200: "ReleaseList"}, 401, 403)}),
            "post": _api({"summary": "Start a release (the requester is the token's name; the same "
                                     "Idempotency-Key again answers 200 with the release it made)",
                          "parameters": [_header("Idempotency-Key", required=False)],
                          "requestBody": _body("StartReleaseBody"),
                          "responses": _answers({200: "Release", 201: "Release"}, 401, 403, 404)},
                         "releases:write"),
        },
        "/api/releases/{version}": {"get": _api({"summary": "One release", "parameters": [version],
                                                 "responses": _answers({200: "Release"}, 401, 403, 404)})},
        "/api/releases/{version}/audit": {"get": _api({"summary": "A release's audit trail", "parameters": [version],
                                                       "responses": _answers(any_ok, 401, 403, 404)})},
        "/api/releases/{version}/checks": {
            "get": _api({"summary": "A release's checks", "parameters": [version], "responses": checks}),
            "post": _api({"summary": "Report a check on a release; answers the release's checks after it",
                          "parameters": [version, _header("Idempotency-Key", False)],
                          "requestBody": _body("ApiCheckReport"), "responses": checks}, "checks:write")},
        "/api/releases/{version}/promote": {"post": _api({
            "summary": "Promote a release to its next stage (a stage with an executor is requested from it)",
            "parameters": [version, _header("Idempotency-Key", False)],
            "responses": _answers({200: "Release"}, 401, 403, 404, 409)}, "releases:write")},
        "/api/releases/{version}/rollback": {"post": _api({
            "summary": "Roll a release back, with a reason, as the Rollback button does (a stage with an executor is "
                       "requested from it; the release is rolled back when it reports success). The requester "
                       "is the token's name; 409 says why it cannot be rolled back",
            "parameters": [version, _header("Idempotency-Key", False)], "requestBody": _body("RollbackBody"),
            "responses": _answers({200: "Release"}, 400, 401, 403, 404, 409)}, "releases:write")},
        "/api/deployments": {"get": _api({"summary": "Deployments and rollbacks, newest first", "parameters": [
            _query("since", {"type": "string", "format": "date-time"}), _query("stage", {"type": "string"})],
            "responses": _answers(any_ok, 401, 403)}),
                             "post": _api({"summary": "Import one past deployment (idempotent: the same service, "
                                                      "version, environment and finished_at is the same one)",
                                           "requestBody": _body("DeploymentIn"),
                                           "responses": _answers({200: "Imported"}, 401, 403)},
                                          "releases:write")},
        "/api/metrics": {"get": _api({
            "summary": "Delivery metrics for [from, to) against the policy's targets and the DORA levels",
            "parameters": [_query("from", {"type": "string", "description": "ISO date or date-time"}),
                           _query("to", {"type": "string", "description": "ISO date or date-time"}),
                           _query("service", {"type": "string"})],
            "responses": _answers(any_ok, 401, 403)})},
        "/api/incidents/import": {"post": _api({
            "summary": "Import one past incident", "requestBody": _body("IncidentIn"),
            "responses": _answers({200: "Imported"}, 401, 403)}, "releases:write")},
        "/api/events": {"get": _api({"summary": "Inbound deliveries, newest first", "parameters": [
            _query("matched", {"type": "string", "enum": ["true", "false"]}), limit],
            "responses": _answers({200: "EventList"}, 401, 403)})},
        "/api/outbox": {"get": _api({"summary": "Outgoing calls given up on, newest first (not their payloads)",
                                     "parameters": [_query("state", {"type": "string", "enum": ["failed"]}),
                                                    _query("limit", {"type": "integer", "minimum": 1,
                                                                     "maximum": 1000})],
                                     "responses": _answers(any_ok, 401, 403)})},
        "/api/incidents": {"get": _api({"summary": "Incidents, newest first", "parameters": [
            limit, _query("open", {"type": "string"})], "responses": _answers(any_ok, 401, 403)})},
        "/api/incidents/{id}": {"get": _api({"summary": "One incident with its timeline",
                                             "parameters": [_path("id")],
                                             "responses": _answers(any_ok, 401, 403, 404)})},
        "/api/incidents/{id}/timeline.md": {"get": _api({
            "summary": "The timeline as Markdown", "parameters": [_path("id")],
            "responses": {**_answers(any_ok, 401, 403, 404), "200": {
                "description": "OK", "content": {"text/markdown": {"schema": {"type": "string"}}}}}})},
        "/api/openapi.json": {"get": {"summary": "This document", "responses": _answers(any_ok)}},
        "/hooks/github": {"post": {
            "summary": "GitHub webhook (X-Hub-Signature-256 with GITHUB_WEBHOOK_SECRET); a ping is answered at "
                       "once, any other event stored once per X-GitHub-Delivery",
            "parameters": [_header("X-Hub-Signature-256"), _header("X-GitHub-Event"), _header("X-GitHub-Delivery")],
            "requestBody": _body("GitHubDelivery"),
            "responses": _answers({202: "Accepted", 200: "GitHubPing"}, 401, 404)}},
        "/hooks/alertmanager": {"post": {
            "summary": "Alertmanager webhook_config (version 4), Authorization: Bearer ALERTMANAGER_TOKEN "
                       "(401 also while ALERTMANAGER_TOKEN is unset)",
            "security": [{"bearer": []}], "requestBody": _body("AlertNotification"),
            "responses": _answers({202: "Accepted"}, 401)}},
        "/hooks/grafana": {"post": {
            "summary": "Grafana webhook contact point. With GRAFANA_WEBHOOK_SECRET set, X-Grafana-Alerting-Signature "
                       "is the lowercase hex HMAC-SHA256 of the body, or of `timestamp:body` when the contact point "
                       "sends its timestamp header (Unix seconds, within 5 minutes of now)",
            "parameters": [_header("X-Grafana-Alerting-Signature", required=False),
                           _header("X-Grafana-Alerting-Timestamp", required=False),
                           _header("X-Grafana-Alerting-Signature-Timestamp", required=False)],
            "requestBody": _body("AlertNotification"), "responses": _answers({202: "Accepted"}, 401)}},
        "/hooks/checks": {"post": {
            "summary": "Generic CI reporter, Standard Webhooks signed with CHECKS_WEBHOOK_SECRET",
            "parameters": [_header("webhook-id"), _header("webhook-timestamp"), _header("webhook-signature")],
            "requestBody": _body("CheckReport"), "responses": _answers({202: "Accepted"}, 401, 404)}},
        "/hooks/deployments/{deployment_id}": {"post": {
            "summary": "An executor reports on a deployment (Authorization: Bearer its callback token); 409 once "
                       "it has finished, with the state it finished in",
            "security": [{"bearer": []}], "parameters": [_path("deployment_id")],
            "requestBody": _body("DeploymentReport"),
            "responses": _answers({200: "DeploymentAck"}, 401, 404, 409, conflict="FinishedBody")}},
        "/hooks/tasks/{task_id}": {"post": {
            "summary": "An executor reports on a task (Authorization: Bearer its callback token)",
            "security": [{"bearer": []}], "parameters": [_path("task_id")],
            "requestBody": _body("TaskReport"), "responses": _answers({200: "TaskAck"}, 400, 401, 404, 409)}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "warroom", "version": "1", "description": "Releases and incident war rooms: the JSON "
                 "API (bearer tokens with scopes) and the inbound hooks."},
        "paths": paths,
        "components": {"schemas": _schemas(),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
