"""A person tries the incident flow in the browser: declare, war room, cadence, decision, resolve, reminder."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import shoot
from tests.browser.steps import ephemeral, open_channel, send

pytestmark = pytest.mark.browser


def _bot_text(page: Page, text: str):  # noqa: ANN202 - a playwright Locator
    return page.locator("#messages .msg:not(.msg-ephemeral)").filter(has_text=text)


def test_incident_from_declare_to_postmortem_reminder(page: Page) -> None:
    """`/incident declare` → war room in the sidebar → +15 min status → decision → resolve → +1 day reminder."""
    open_channel(page, "incidents")
    send(page, "/incident declare P1 Checkout is down")
    expect(ephemeral(page, "declared")).to_contain_text("you are its commander")
    expect(_bot_text(page, "Checkout is down").first).to_contain_text("incident #1 declared by @Riley Requester")

    room = page.locator("#channel-list .side-item[data-name^='inc-']")
    expect(room).to_have_count(1)
    name = room.get_attribute("data-name")
    assert name and name.endswith("checkout-is-down")
    open_channel(page, name)
    expect(page.locator("#channel-topic")).to_contain_text("Commander: @Riley Requester")
    expect(page.locator("#messages .msg-pinned")).to_have_count(1)
    shoot(page, "10-war-room")

    page.locator("[data-advance='900']").click()
    expect(page.locator("#clock-offset")).to_have_text("+15m ahead")
    expect(_bot_text(page, "Status update: incident #1")).to_have_count(1)
    expect(_bot_text(page, "Status update: incident #1").locator("b").first).to_contain_text("Status update")
    shoot(page, "11-status-update")

    send(page, "/incident decision Roll back the checkout deploy")
    expect(ephemeral(page, "Decision logged.")).to_be_visible()
    expect(_bot_text(page, "Decision by")).to_contain_text("Roll back the checkout deploy")

    send(page, "/incident resolve Rolled back; error rate back to normal")
    expect(ephemeral(page, "resolved")).to_contain_text("post-mortem draft is in the channel")
    draft = _bot_text(page, "Post-mortem draft: incident #1")
    expect(draft).to_have_count(1)
    expect(draft.locator("b", has_text="Root cause")).to_be_visible()
    expect(draft).to_contain_text("(decision): Roll back the checkout deploy")
    timeline = page.locator("#messages .file").first
    expect(timeline.locator(".file-title")).to_be_visible()
    expect(timeline.locator(".file-preview")).to_contain_text("Checkout is down")
    href = timeline.get_by_role("link", name="Download").get_attribute("href")
    assert href and href.startswith("/sandbox/files/F")
    shoot(page, "12-postmortem-draft")

    page.locator("[data-advance='86400']").click()
    expect(page.locator("#clock-offset")).to_have_text("+1d 0h 15m ahead".replace(" 0h", ""))
    reminder = _bot_text(page, "the post-mortem of incident #1 is due")
    expect(reminder).to_have_count(1)
    expect(reminder).to_contain_text("@Riley Requester")
    expect(reminder.get_by_role("button", name="Post-mortem done")).to_have_class("btn btn-primary")
    shoot(page, "13-postmortem-reminder")
