"""manifest.yml validates against Slack's published schema and declares what the bot uses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Slack's published schema, vendored from slackapi/manifest-schema (MIT; see tests/slack/LICENSE.manifest-schema).
SCHEMA = ROOT / "tests" / "slack" / "manifest.schema.1.0.0.json"


def test_manifest_validates_and_declares_everything() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=str)
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert {"/release", "/incident"} <= commands
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert manifest["settings"]["socket_mode_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "channels:manage", "usergroups:read", "pins:write", "files:write"} <= scopes
