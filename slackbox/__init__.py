"""A local Slack workspace: a loopback Web API for the bot's WebClient and an actor that plays Slack."""

from slackbox.actor import Workspace, sign
from slackbox.payloads import SandboxError
from slackbox.seed import (
    APP_ID,
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    BOT_ID,
    BOT_USER_ID,
    INCIDENTS_CHANNEL,
    ONCALL,
    RELEASES_CHANNEL,
    REQUESTER,
    SEED_CHANNELS,
    SEED_MEMBERS,
    SEED_USERGROUPS,
    TEAM_ID,
    VIEWER,
)
from slackbox.serve import ServerHandle, serve_in_thread
from slackbox.server import RunningWorkspace, create_workspace_app, start_workspace
from slackbox.store import SandboxStore

__all__ = [
    "APP_ID",
    "APPROVER_1",
    "APPROVER_2",
    "APPROVERS_GROUP",
    "BOT_ID",
    "BOT_USER_ID",
    "INCIDENTS_CHANNEL",
    "ONCALL",
    "RELEASES_CHANNEL",
    "REQUESTER",
    "SEED_CHANNELS",
    "SEED_MEMBERS",
    "SEED_USERGROUPS",
    "TEAM_ID",
    "VIEWER",
    "RunningWorkspace",
    "SandboxError",
    "SandboxStore",
    "ServerHandle",
    "Workspace",
    "create_workspace_app",
    "serve_in_thread",
    "sign",
    "start_workspace",
]
