"""The built-in deployer of `make run`: a promotion to staging shows up in the Deploys panel with its
signed body; reporting "Succeeded" there moves the release, "Failed" offers the rollback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.settings import load_settings
from slackbox.launch import Sandbox, start_sandbox
from tests.browser.conftest import shoot
from tests.browser.steps import bot_message, field, send

pytestmark = pytest.mark.browser


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """The sandbox as `make run` starts it: no team policy, so the built-in deployer is used."""
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/warroom.db", WARROOM_FREEZE_DAYS="",
                             WARROOM_SCHEDULER_TICK="0.2")
    box = start_sandbox(settings, store_path=str(tmp_path / "ws.db"), local_deployer=True)
    try:
        yield box
    finally:
        box.stop()


def test_deploys_panel_reports_back(page: Page, sandbox: Sandbox) -> None:
    send(page, "/release start v1.0.0 risk=low")
    bot_message(page, "Release v1.0.0").get_by_role("button", name="Promote to Staging").click()
    announcement = bot_message(page, "Release v1.0.0")
    expect(field(announcement, "Stage")).to_contain_text("deploying to Staging (local-deployer)")
    expect(page.locator("#deploys-count")).to_have_text("1")
    page.locator("#deploys-toggle").click()
    card = page.locator("#deploys-list .deploy").first
    expect(card).to_contain_text("Deploy v1.0.0 to staging")
    expect(card.locator("pre")).to_contain_text("webhook-signature: v1,")
    expect(card.locator("pre")).to_contain_text('"type":"deploy.requested"')
    # The checks & alerts section of the same panel is offered the requested release and its service.
    expect(page.locator("#deploys-pane #ci-release")).to_have_value("v1.0.0")
    expect(page.locator("#deploys-pane #ci-service")).to_have_value("default")
    shoot(page, "07-deploys-panel")
    card.get_by_role("button", name="In progress").click()
    expect(card).to_contain_text("reported in_progress (HTTP 200)")
    card.get_by_role("button", name="Succeeded").click()
    expect(field(bot_message(page, "Release v1.0.0"), "Stage")).to_contain_text("Staging")
    expect(field(bot_message(page, "Release v1.0.0"), "Stage")).not_to_contain_text("deploying")
    # A report on a finished deployment is refused by the bot, and the panel says so.
    card.get_by_role("button", name="Failed").click()
    expect(page.locator("#toasts")).to_contain_text("409")
    assert sandbox.runtime.services.releases.get("v1.0.0").release.stage == "staging"
