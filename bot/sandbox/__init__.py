"""A local Slack workspace: a loopback Web API for the bot's WebClient and an actor that plays Slack."""

from bot.sandbox.actor import Workspace, sign
from bot.sandbox.payloads import SandboxError
from bot.sandbox.seed import (
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
from bot.sandbox.serve import ServerHandle, serve_in_thread
from bot.sandbox.server import RunningWorkspace, create_workspace_app, start_workspace
from bot.sandbox.store import SandboxStore

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
