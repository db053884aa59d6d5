"""Seed data for the local Slack workspace: team, members, user group and channels."""

from __future__ import annotations

from dataclasses import dataclass

TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "sandbox"
TEAM_NAME = "Warroom Sandbox"
APP_ID = "A0WARROOM"
BOT_USER_ID = "U0WARROOM"
BOT_ID = "B0WARROOM"
SLACKBOT_USER_ID = "USLACKBOT"

REQUESTER = "U0REQUEST"
APPROVER_1 = "U0APPROVE1"
APPROVER_2 = "U0APPROVE2"
VIEWER = "U0VIEWER"
ONCALL = "U0ONCALL"

APPROVERS_GROUP = "S0APPROVERS"
RELEASES_CHANNEL = "C0RELEASES"
INCIDENTS_CHANNEL = "C0INCIDENTS"


@dataclass(frozen=True)
class SeedMember:
    """A member created on first start."""

    id: str
    name: str
    real_name: str
    is_bot: bool = False
    bot_id: str | None = None
    in_channels: bool = True


@dataclass(frozen=True)
class SeedChannel:
    """A channel created on first start (every in-channel member joins it)."""

    id: str
    name: str
    topic: str = ""
    is_private: bool = False


@dataclass(frozen=True)
class SeedUserGroup:
    """A user group (subteam) created on first start."""

    id: str
    handle: str
    name: str
    users: tuple[str, ...]


SEED_MEMBERS: tuple[SeedMember, ...] = (
    SeedMember(REQUESTER, "riley", "Riley Requester"),
    SeedMember(APPROVER_1, "avery", "Avery Approver"),
    SeedMember(APPROVER_2, "blake", "Blake Approver"),
    SeedMember(VIEWER, "casey", "Casey Viewer"),
    SeedMember(ONCALL, "drew", "Drew Oncall"),
    SeedMember(BOT_USER_ID, "warroom", "Warroom", is_bot=True, bot_id=BOT_ID),
    SeedMember(SLACKBOT_USER_ID, "slackbot", "Slackbot", is_bot=True, in_channels=False),
)
HUMAN_MEMBERS: tuple[str, ...] = (REQUESTER, APPROVER_1, APPROVER_2, VIEWER, ONCALL)

SEED_CHANNELS: tuple[SeedChannel, ...] = (
    SeedChannel(RELEASES_CHANNEL, "releases", "Release coordination"),
    SeedChannel(INCIDENTS_CHANNEL, "incidents", "Incident war rooms"),
)

SEED_USERGROUPS: tuple[SeedUserGroup, ...] = (
    SeedUserGroup(APPROVERS_GROUP, "approvers", "Release approvers", (APPROVER_1, APPROVER_2)),
)
