"""GET /api/openapi.json: OpenAPI 3.1 for every /api and /hooks endpoint, its schemas generated
from the pydantic models the endpoints validate with."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from bot.hooks.checks import CheckReport
from bot.metrics.imports import DeploymentIn, IncidentIn
from bot.monitoring.alerts import AlertNotification
from handlers.write_api import ApiCheckReport, StartReleaseBody

REF = "#/components/schemas/{model}"


class ErrorBody(BaseModel):
    """Every 4xx answer: what was wrong."""

    error: str


class Accepted(BaseModel):
    """A hook's 202: the delivery is stored (or was already) and will be processed."""

    stored: bool
    duplicate: bool
    delivery: str


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
    """An executor's report on a coordination task it was asked for (its callback token)."""

    state: Literal["done", "blocked"]
    note: str | None = None


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in (StartReleaseBody, ApiCheckReport, CheckReport, AlertNotification, ErrorBody, Accepted,
                  GitHubDelivery, DeploymentReport, TaskReport, RollbackBody, DeploymentIn, IncidentIn, Imported):
        schema = model.model_json_schema(ref_template=REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def _answers(ok: int, *errors: int, ok_schema: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {str(ok): {"description": "OK" if ok < 300 else "Accepted",
                                     "content": {"application/json": {"schema": _ref(ok_schema) if ok_schema
                                                                      else {"type": "object"}}}}}
    for code in errors:
        out[str(code)] = {"description": {400: "Bad request", 401: "Not authenticated", 403: "Missing scope",
                                          404: "Not found", 409: "Conflict"}[code],
                          "content": {"application/json": {"schema": _ref("ErrorBody")}}}
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
    return {**op, "security": [{"bearer": []}], "x-scope": scope}


def document() -> dict[str, Any]:
    """The OpenAPI document."""
    limit = _query("limit", {"type": "integer", "minimum": 1, "maximum": 500})
    version = _path("version")
    paths: dict[str, Any] = {
        "/api/releases": {
            "get": _api({"summary": "Recent releases", "parameters": [limit], "responses": _answers(200, 400, 401)}),
            "post": _api({"summary": "Start a release (the requester is the token's name)",
                          "parameters": [_header("Idempotency-Key", required=False)],
                          "requestBody": _body("StartReleaseBody"), "responses": _answers(201, 400, 401, 403, 404)},
                         "releases:write"),
        },
        "/api/releases/{version}": {"get": _api({"summary": "One release", "parameters": [version],
                                                 "responses": _answers(200, 400, 401, 404)})},
        "/api/releases/{version}/audit": {"get": _api({"summary": "A release's audit trail", "parameters": [version],
                                                       "responses": _answers(200, 400, 401, 404)})},
        "/api/releases/{version}/checks": {"get": _api({"summary": "A release's checks", "parameters": [version],
                                                        "responses": _answers(200, 400, 401, 404)}),
                                           "post": _api({
            "summary": "Report a check on a release", "parameters": [version, _header("Idempotency-Key", False)],
            "requestBody": _body("ApiCheckReport"), "responses": _answers(200, 400, 401, 403, 404)}, "checks:write")},
        "/api/releases/{version}/promote": {"post": _api({
            "summary": "Promote a release to its next stage (a stage with an executor is requested from it)",
            "parameters": [version, _header("Idempotency-Key", False)],
            "responses": _answers(200, 400, 401, 403, 404, 409)}, "releases:write")},
        "/api/releases/{version}/rollback": {"post": _api({
            "summary": "Roll a release back, with a reason, as the Rollback button does (a stage with an executor is "
                       "requested from it; the release is rolled back when it reports success). The requester "
                       "is the token's name; 409 says why it cannot be rolled back",
            "parameters": [version, _header("Idempotency-Key", False)], "requestBody": _body("RollbackBody"),
            "responses": _answers(200, 400, 401, 403, 404, 409)}, "releases:write")},
        "/api/deployments": {"get": _api({"summary": "Deployments and rollbacks, newest first", "parameters": [
            _query("since", {"type": "string", "format": "date-time"}), _query("stage", {"type": "string"})],
            "responses": _answers(200, 400, 401)}),
                             "post": _api({"summary": "Import one past deployment (idempotent: the same service, "
                                                      "version, environment and finished_at is the same one)",
                                           "requestBody": _body("DeploymentIn"),
                                           "responses": _answers(200, 400, 401, 403, ok_schema="Imported")},
                                          "releases:write")},
        "/api/metrics": {"get": _api({
            "summary": "Delivery metrics for [from, to) against the policy's targets and the DORA levels",
            "parameters": [_query("from", {"type": "string", "description": "ISO date or date-time"}),
                           _query("to", {"type": "string", "description": "ISO date or date-time"}),
                           _query("service", {"type": "string"})],
            "responses": _answers(200, 400, 401)})},
        "/api/incidents/import": {"post": _api({
            "summary": "Import one past incident", "requestBody": _body("IncidentIn"),
            "responses": _answers(200, 400, 401, 403, ok_schema="Imported")}, "releases:write")},
        "/api/events": {"get": _api({"summary": "Inbound deliveries, newest first", "parameters": [
            _query("matched", {"type": "string", "enum": ["true", "false"]}), limit],
            "responses": _answers(200, 400, 401)})},
        "/api/outbox": {"get": _api({"summary": "Outgoing calls given up on, newest first (not their payloads)",
                                     "parameters": [_query("state", {"type": "string", "enum": ["failed"]}),
                                                    _query("limit", {"type": "integer", "minimum": 1,
                                                                     "maximum": 1000})],
                                     "responses": _answers(200, 400, 401)})},
        "/api/incidents": {"get": _api({"summary": "Incidents, newest first", "parameters": [
            limit, _query("open", {"type": "string"})], "responses": _answers(200, 400, 401)})},
        "/api/incidents/{id}": {"get": _api({"summary": "One incident with its timeline",
                                             "parameters": [_path("id")], "responses": _answers(200, 400, 401, 404)})},
        "/api/incidents/{id}/timeline.md": {"get": _api({
            "summary": "The timeline as Markdown", "parameters": [_path("id")],
            "responses": {"200": {"description": "OK", "content": {"text/markdown": {"schema": {"type": "string"}}}},
                          **{k: v for k, v in _answers(200, 400, 401, 404).items() if k != "200"}}})},
        "/api/openapi.json": {"get": {"summary": "This document", "responses": _answers(200)}},
        "/hooks/github": {"post": {
            "summary": "GitHub webhook (X-Hub-Signature-256 with GITHUB_WEBHOOK_SECRET)",
            "parameters": [_header("X-Hub-Signature-256"), _header("X-GitHub-Event"), _header("X-GitHub-Delivery")],
            "requestBody": _body("GitHubDelivery"), "responses": {**_answers(202, 400, 401, 404, ok_schema="Accepted"),
                                                                  "200": {"description": "ping answered"}}}},
        "/hooks/alertmanager": {"post": {
            "summary": "Alertmanager webhook_config (version 4), Authorization: Bearer ALERTMANAGER_TOKEN",
            "security": [{"bearer": []}], "requestBody": _body("AlertNotification"),
            "responses": _answers(202, 400, 401, ok_schema="Accepted")}},
        "/hooks/grafana": {"post": {
            "summary": "Grafana webhook contact point (X-Grafana-Alerting-Signature when GRAFANA_WEBHOOK_SECRET "
                       "is set)", "parameters": [_header("X-Grafana-Alerting-Signature", required=False)],
            "requestBody": _body("AlertNotification"), "responses": _answers(202, 400, 401, ok_schema="Accepted")}},
        "/hooks/checks": {"post": {
            "summary": "Generic CI reporter, Standard Webhooks signed with CHECKS_WEBHOOK_SECRET",
            "parameters": [_header("webhook-id"), _header("webhook-timestamp"), _header("webhook-signature")],
            "requestBody": _body("CheckReport"), "responses": _answers(202, 400, 401, 404, ok_schema="Accepted")}},
        "/hooks/deployments/{deployment_id}": {"post": {
            "summary": "An executor reports on a deployment (Authorization: Bearer its callback token)",
            "security": [{"bearer": []}], "parameters": [_path("deployment_id")],
            "requestBody": _body("DeploymentReport"), "responses": _answers(200, 400, 401, 404, 409)}},
        "/hooks/tasks/{task_id}": {"post": {
            "summary": "An executor reports on a task (Authorization: Bearer its callback token)",
            "security": [{"bearer": []}], "parameters": [_path("task_id")],
            "requestBody": _body("TaskReport"), "responses": _answers(200, 400, 401, 404, 409)}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "warroom", "version": "1", "description": "Releases and incident war rooms: the JSON "
                 "API (bearer tokens with scopes) and the inbound hooks."},
        "paths": paths,
        "components": {"schemas": _schemas(),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
