"""Who may do what: approvers are Slack user IDs or user groups.

Group members are read from a cache that a background thread refreshes
(``usergroups.users.list``), so an approval never waits for Slack on the ack path.
"""

from __future__ import annotations

import logging
import threading

from bot.gateway import SlackCallFailed, SlackGateway

log = logging.getLogger(__name__)
REFRESH_EVERY = 60.0  # seconds


class Directory:
    """Answers 'is this user an approver?' from WARROOM_APPROVERS."""

    def __init__(self, approvers: list[str], gateway: SlackGateway | None) -> None:
        self.users = frozenset(a for a in approvers if a[0] in "UW")
        self.groups = tuple(a for a in approvers if a.startswith("S"))
        self.gateway = gateway
        self._members: dict[str, frozenset[str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
        """True when ``user`` is listed, or is in a listed user group (as last refreshed)."""
        if user in self.users:
            return True
        if self.groups and not self._members and self._thread is None:
            self.refresh()  # no background refresh runs (a script, a test): read once now
        return any(user in self._members.get(group, frozenset()) for group in self.groups)

    def refresh(self) -> bool:
        """Read every listed group's members from Slack; a group that cannot be read keeps its
        last members. True when every group was read."""
        done = True
        for group in self.groups:
            if self.gateway is None:
                continue
            try:
                self._members[group] = self.gateway.group_members(group)
            except SlackCallFailed as exc:
                # A group we cannot read grants nothing new; say so in the log.
                log.warning("cannot read user group %s: %s", group, exc.error)
                done = False
            except OSError as exc:
                log.warning("cannot reach Slack to read user group %s: %s", group, type(exc).__name__)
                done = False
        return done

    def start(self) -> None:
        """Refresh now and then every REFRESH_EVERY seconds in a background thread."""
        if not self.groups or self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            retry = 0.5
            while True:
                if self.refresh():
                    wait, retry = REFRESH_EVERY, 0.5
                else:  # Slack not reachable yet (starting up, an outage): try again soon
                    wait, retry = retry, min(retry * 2, REFRESH_EVERY)
                if self._stop.wait(wait):
                    return

        self._thread = threading.Thread(target=loop, name="warroom-directory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the refresh thread."""
        self._stop.set()
        if self._thread:
            self._thread.join(2)
            self._thread = None
