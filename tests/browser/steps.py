"""Steps a person takes in the workspace page, for the browser tests."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect


def switch_member(page: Page, user: str) -> None:
    """Act as another seeded member (the member switcher in the top bar)."""
    page.select_option("#member-switcher", user)
    page.wait_for_selector(f"body[data-user='{user}']")


def open_channel(page: Page, name: str) -> None:
    """Open a channel from the sidebar."""
    # The sidebar is redrawn as the workspace changes: a click can land on an item that was
    # just replaced, so click again (as a person would) until the channel shows.
    for _ in range(3):
        page.locator(f"#channel-list .side-item[data-name='{name}']").click()
        try:
            expect(page.locator("#channel-title")).to_have_text(f"#{name}", timeout=3000)
            return
        except AssertionError:
            continue
    expect(page.locator("#channel-title")).to_have_text(f"#{name}")


def send(page: Page, text: str) -> None:
    """Type a message or slash command into the composer and press Enter."""
    box = page.locator("#composer textarea")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def bot_message(page: Page, header: str) -> Locator:
    """The (non-ephemeral) message of the current channel whose header block says `header`."""
    return page.locator("#messages .msg:not(.msg-ephemeral)").filter(
        has=page.locator(".block-header", has_text=header)
    ).last


def field(message: Locator, name: str) -> Locator:
    """A section field (`*Name*\\nvalue`) of a message."""
    return message.locator(".fields > div").filter(has=message.page.locator("b", has_text=name))


def ephemeral(page: Page, text: str) -> Locator:
    """An 'Only visible to you' message containing `text`."""
    return page.locator("#messages .msg-ephemeral").filter(has_text=text).last
