"""The services every handler reaches, wired once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.checks.service import ChecksService
from bot.clock import Clock
from bot.database import Database
from bot.deployments.service import DeploymentService
from bot.directory import Directory
from bot.executors.deliver import ExecutorClient
from bot.gateway import SlackGateway
from bot.home import HomeService
from bot.hooks.inbox import Inbox
from bot.incidents.service import IncidentService
from bot.metrics.service import MetricsService
from bot.monitoring.service import MonitoringService
from bot.outbox import OutboxSender
from bot.policy import Policy
from bot.releases.service import ReleaseService
from bot.releases.tasks import TaskService
from bot.settings import Settings
from bot.tokens import Tokens


@dataclass
class Services:
    """Everything a request needs, built by ``bot.app.build_services``."""

    settings: Settings
    policy: Policy
    clock: Clock
    db: Database
    gateway: SlackGateway
    outbox: OutboxSender
    directory: Directory
    tokens: Tokens
    releases: ReleaseService
    incidents: IncidentService
    deployments: DeploymentService
    executors: ExecutorClient
    tasks: TaskService
    inbox: Inbox
    checks: ChecksService
    monitoring: MonitoringService
    metrics: MetricsService
    home: HomeService

    def notify_user(self, channel: str, user: str, text: str) -> None:
        """Tell one user something only they see (chat.postEphemeral, after this returns)."""
        with self.db.transaction() as tx:
            tx.slack.ephemeral(channel, user, text)

    def open_modal(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (views.open) without holding up the ack."""
        with self.db.transaction() as tx:
            tx.slack.open_view(trigger_id, view)
