"""The rest of the page: checkbox modals, threads, the rate-limit switch and the member's own view."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from slackbox import RELEASES_CHANNEL, REQUESTER
from slackbox.launch import Sandbox
from tests.browser.conftest import shoot
from tests.browser.steps import bot_message, send

pytestmark = pytest.mark.browser


def test_checklist_modal_thread_and_rate_limit(page: Page, sandbox: Sandbox) -> None:
    """Tick checklist boxes in a modal, read and answer the thread, and survive 429s from the Web API."""
    send(page, "/release start v3.0.0 risk=low")
    announcement = bot_message(page, "Release v3.0.0")
    announcement.get_by_role("button", name="Update checklist").click()
    modal = page.locator(".modal")
    expect(modal.locator(".dialog-title")).to_have_text("Release checklist")
    modal.get_by_label("Tests pass", exact=True).check()
    modal.get_by_label("Security scan clean").check()
    shoot(page, "20-checklist-modal")
    modal.locator("[data-role='submit']").click()
    expect(page.locator(".modal")).to_have_count(0)
    expect(bot_message(page, "Release v3.0.0")).to_contain_text("Pre-release validation: 2/4 done")

    bot_message(page, "Release v3.0.0").locator(".thread-link").click()
    pane = page.locator("#thread-pane")
    expect(pane).to_be_visible()
    expect(pane.locator(".msg").first).to_contain_text("Release v3.0.0")
    pane.locator("textarea").fill("Looks good to me")
    pane.locator("textarea").press("Enter")
    expect(pane.locator(".msg").last).to_contain_text("Looks good to me")
    shoot(page, "21-thread")
    page.locator("#thread-close").click()
    expect(pane).to_be_hidden()

    page.locator("#ratelimit-n").fill("2")
    page.locator("#ratelimit-apply").click()
    expect(page.locator("#ratelimit-status")).to_have_text("next 2 Web API calls answer 429")
    bot_message(page, "Release v3.0.0").get_by_role("button", name="Promote to Staging").click()
    expect(page.locator(".toast").filter(has_text="429")).not_to_have_count(0)
    expect(page.locator("#ratelimit-status")).to_have_text("off", timeout=15_000)
    expect(bot_message(page, "Release v3.0.0").get_by_role("button", name="Promote to Production canary 5%")) \
        .to_be_visible(timeout=15_000)
    assert [c for c in sandbox.store.calls() if c["error"] == "ratelimited"]


def test_unknown_command_and_channel_join(page: Page, sandbox: Sandbox) -> None:
    """An unknown slash command is refused like Slack does; a member joins a channel they are not in."""
    send_box = page.locator("#composer textarea")
    send_box.fill("/deploy now")
    send_box.press("Enter")
    expect(page.locator(".toast-error")).to_contain_text("/deploy is not a valid command")
    expect(send_box).to_have_value("/deploy now")
    channel = sandbox.store.create_channel("random", creator="U0APPROVE1", members=["U0APPROVE1"])
    page.locator("#channel-list .side-item[data-name='random']").click()
    expect(page.locator("#join-bar")).to_be_visible()
    page.locator("#join-button").click()
    expect(page.locator("#composer")).to_be_visible()
    assert REQUESTER in sandbox.store.channel(channel["id"])["members"]
    assert sandbox.store.channel(RELEASES_CHANNEL)


def test_modal_shows_the_bots_field_errors_and_cancels(page: Page) -> None:
    """`/release` alone opens the start form; a bad version comes back as an error beside the field."""
    send(page, "/release")
    modal = page.locator(".modal")
    expect(modal.locator(".dialog-title")).to_have_text("Start a release")
    expect(modal.locator(".input-block[data-block-id='risk'] select")).to_have_value("medium")
    modal.locator(".input-block[data-block-id='version'] input").fill("not a version!")
    modal.locator(".input-block[data-block-id='risk'] select").select_option("high")
    modal.locator("[data-role='submit']").click()
    error = modal.locator(".input-block[data-block-id='version'] .field-error")
    expect(error).not_to_be_empty()
    expect(modal.locator(".input-block[data-block-id='version'] input")).to_have_value("not a version!")
    expect(modal.locator(".input-block[data-block-id='risk'] select")).to_have_value("high")
    shoot(page, "22-modal-field-error")
    modal.locator("[data-role='cancel']").click()
    expect(page.locator(".modal")).to_have_count(0)
