"""A person tries the release flow in the browser: start, four-eyes approval, promotion, rollback."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from slackbox import APPROVER_1, APPROVER_2
from tests.browser.conftest import shoot
from tests.browser.steps import bot_message, ephemeral, field, send, switch_member

pytestmark = pytest.mark.browser


def test_release_from_start_to_rollback(page: Page) -> None:
    """`/release start` → requester refused → two approvers → staging → canary → production → rollback."""
    expect(page.locator("#channel-title")).to_have_text("#releases")
    box = page.locator("#composer textarea")
    box.fill("/rel")
    suggestion = page.locator("#composer .suggestion[data-command='/release']")
    expect(suggestion).to_contain_text("start <version>")
    shoot(page, "01-command-suggestions")
    box.press("Tab")
    expect(box).to_have_value("/release ")
    expect(page.locator("#composer .usage-hint")).to_contain_text("/release start <version>")

    send(page, "/release start v1.0.0 risk=high")
    announcement = bot_message(page, "Release v1.0.0")
    expect(field(announcement, "Approvals")).to_contain_text("0/2")
    expect(field(announcement, "Requested by")).to_contain_text("@Riley Requester")
    expect(announcement.get_by_role("button", name="Rollback")).to_have_class("btn btn-danger")
    expect(announcement.get_by_role("button", name="Promote to Staging")).to_have_class("btn btn-primary")
    expect(ephemeral(page, "announcement is in")).to_contain_text("Only visible to you")

    # Four eyes: the requester's own approval is refused, with the reason shown only to them.
    announcement.get_by_role("button", name="Approve").click()
    refusal = ephemeral(page, "cannot approve")
    expect(refusal).to_contain_text("You started v1.0.0")
    expect(refusal).to_contain_text("Only visible to you")
    expect(field(announcement, "Approvals")).to_contain_text("0/2")
    shoot(page, "02-requester-refused", docs=True)

    for n, approver in enumerate((APPROVER_1, APPROVER_2), start=1):
        switch_member(page, approver)
        expect(page.locator("#messages .msg-ephemeral")).to_have_count(0)  # the requester's stay private
        bot_message(page, "Release v1.0.0").get_by_role("button", name="Approve").click()
        expect(field(bot_message(page, "Release v1.0.0"), "Approvals")).to_contain_text(f"{n}/2")

    for target in ("Staging", "Production canary 5%", "Production 100%"):
        bot_message(page, "Release v1.0.0").get_by_role("button", name=f"Promote to {target}").click()
        expect(field(bot_message(page, "Release v1.0.0"), "Stage")).to_contain_text(target)
    announcement = bot_message(page, "Release v1.0.0")
    expect(announcement.get_by_role("button", name="Approve")).to_have_count(0)
    shoot(page, "03-release-in-production")

    # Rollback: Slack's confirm dialog first, then the reason modal (required), then rolled back.
    announcement.get_by_role("button", name="Rollback").click()
    confirm = page.locator(".confirm-dialog")
    expect(confirm).to_contain_text("Roll back release v1.0.0?")
    shoot(page, "04-rollback-confirm")
    confirm.locator("[data-role='confirm']").click()
    modal = page.locator(".modal")
    expect(modal.locator(".dialog-title")).to_have_text("Roll back")
    modal.locator("[data-role='submit']").click()
    expect(modal.locator(".field-error")).to_have_text("Please complete this required field.")
    modal.locator("textarea").fill("Error rate <5%> & climbing")
    shoot(page, "05-rollback-reason-modal")
    modal.locator("[data-role='submit']").click()
    expect(page.locator(".modal")).to_have_count(0)
    announcement = bot_message(page, "Release v1.0.0")
    expect(field(announcement, "Status")).to_contain_text("rolled back")
    expect(announcement.locator(".block-context")).to_contain_text("Error rate <5%> & climbing")
    expect(announcement.locator(".block-context")).to_contain_text("@Blake Approver")
    shoot(page, "06-rolled-back")
