"""Who may do what: approvers are Slack user IDs or user groups (resolved through Slack)."""

from __future__ import annotations

import logging

from bot.gateway import SlackCallFailed, SlackGateway

log = logging.getLogger(__name__)


class Directory:
    """Answers 'is this user an approver?' from WARROOM_APPROVERS."""

    def __init__(self, approvers: list[str], gateway: SlackGateway | None) -> None:
        self.users = frozenset(a for a in approvers if a[0] in "UW")
        self.groups = tuple(a for a in approvers if a.startswith("S"))
        self.gateway = gateway

    def is_member(self, user: str, owner: str) -> bool:
        """True when ``owner`` is ``user``, or a user group ``user`` belongs to."""
        if user == owner:
            return True
        if not owner.startswith("S") or self.gateway is None:
            return False
        try:
            return user in self.gateway.group_members(owner)
        except SlackCallFailed as exc:
            log.warning("cannot read user group %s: %s", owner, exc.error)
            return False

    def is_approver(self, user: str) -> bool:
        """True when ``user`` is listed, or is in a listed user group."""
        if user in self.users:
            return True
        for group in self.groups:
            if self.gateway is None:
                continue
            try:
                if user in self.gateway.group_members(group):
                    return True
            except SlackCallFailed as exc:
                # A group we cannot read grants nothing; say so once in the log.
                log.warning("cannot read user group %s: %s", group, exc.error)
        return False
