"""A person opens the app's Home tab in the local workspace and watches it follow a release."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import open_channel, send

pytestmark = pytest.mark.browser


def test_home_tab_shows_the_dashboard_and_follows_changes(page: Page) -> None:
    page.locator("#home-item").click()
    expect(page.locator("#channel-title")).to_have_text("warroom \u2014 Home")
    home = page.locator("#messages [data-home='1']")
    expect(home).to_contain_text("Open releases")
    expect(home).to_contain_text("No release in progress.")
    expect(home).to_contain_text("Delivery this month")
    expect(page.locator("#composer")).to_be_hidden()

    open_channel(page, "releases")
    send(page, "/release start v9.0.0 risk=low")
    page.locator("#home-item").click()
    expect(page.locator("#messages [data-home='1']")).to_contain_text("v9.0.0")
    expect(page.locator("#messages [data-home='1']")).to_contain_text("Development")


def test_home_tab_shows_this_months_chart(page: Page) -> None:
    page.locator("#home-item").click()
    home = page.locator("#messages [data-home='1']")
    expect(home).to_contain_text("Delivery this month")
    # The chart arrives after the figures: an uploaded file, shown by the image block naming it.
    chart = home.locator("img.block-image")
    expect(chart).to_have_count(1)
    expect(chart).to_have_attribute("alt", re.compile(r"^Delivery metrics, all services.*Deployments per week"))
    expect(chart).to_have_attribute("src", re.compile(r"^/ui/images/F"))
    page.wait_for_function("document.querySelector('#messages img.block-image').naturalWidth > 100")
