"""The Deploys panel's CI checks & alerts section: a reported check opens a gate; a fired alert shows on
the release and resolving it clears it, all through the bot's real, signed hooks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.settings import load_settings
from slackbox.launch import Sandbox, start_sandbox
from tests.browser.steps import bot_message, ephemeral, send

pytestmark = pytest.mark.browser
POLICY = """
checks:
  - {name: security, match: "codeql*", required_for: staging}
stages:
  - {name: dev, label: Development}
  - {name: staging, label: Staging, production: true}
  - {name: canary, label: Production canary 5%, production: true, requires_approval: true}
  - {name: production, label: Production 100%, production: true}
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """The sandbox with a policy whose staging needs the security check and counts as production."""
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path}/warroom.db", WARROOM_FREEZE_DAYS="",
                             WARROOM_BAKE_MINUTES="0", WARROOM_SCHEDULER_TICK="0.2", WARROOM_CONFIG=str(policy))
    box = start_sandbox(settings, store_path=str(tmp_path / "warroom-sandbox.db"))
    try:
        yield box
    finally:
        box.stop()


def test_report_a_check_then_fire_and_resolve_an_alert(page: Page, sandbox: Sandbox) -> None:
    send(page, "/release start v4.0.0 risk=low service=checkout")
    announcement = bot_message(page, "Release v4.0.0")
    expect(announcement).to_contain_text("security pending")
    announcement.get_by_role("button", name="Promote to Staging").click()
    expect(ephemeral(page, "needs these checks passed")).to_contain_text("security")

    # One panel plays the outside world: its checks & alerts section sits below the deploy requests,
    # which say the built-in deployer is off here (this policy names no executor).
    page.locator("#deploys-toggle").click()
    pane = page.get_by_role("complementary", name="Deploys")
    expect(pane.get_by_role("heading", name="CI checks & alerts")).to_be_visible()
    expect(pane.locator("#deploy-requests")).to_contain_text("built-in deployer is off")
    expect(pane.get_by_role("group", name="Report a check")).to_be_visible()
    page.locator("#ci-release").fill("v4.0.0")
    page.locator("#ci-check").fill("security")
    page.locator("#ci-state").select_option("passed")
    page.locator("#ci-report").click()
    expect(bot_message(page, "Release v4.0.0")).to_contain_text("security passed", timeout=15_000)
    bot_message(page, "Release v4.0.0").get_by_role("button", name="Promote to Staging").click()
    expect(bot_message(page, "Release v4.0.0").get_by_role("button", name="Promote to Production canary 5%")) \
        .to_be_visible(timeout=15_000)

    page.locator("#ci-service").fill("checkout")
    page.locator("#ci-alert-firing").click()
    expect(bot_message(page, "Release v4.0.0")).to_contain_text("HighErrorRate firing", timeout=15_000)
    page.locator("#ci-alert-resolved").click()
    expect(bot_message(page, "Release v4.0.0")).not_to_contain_text("HighErrorRate firing", timeout=15_000)
