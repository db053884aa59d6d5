"""Server push: what happens in the workspace shows up in the page without a reload, within 500 ms."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from slackbox import APPROVER_1, RELEASES_CHANNEL, REQUESTER
from slackbox.launch import Sandbox
from tests.browser.steps import bot_message, field, switch_member

pytestmark = pytest.mark.browser
LIMIT_MS = 500

WATCH = """mark => {
  window.__seen = null;
  const list = document.getElementById('messages');
  const found = () => [...list.querySelectorAll('.msg')].some(m => m.textContent.includes(mark));
  const obs = new MutationObserver(() => {
    if (found()) { window.__seen = performance.now(); obs.disconnect(); }
  });
  obs.observe(list, {childList: true, subtree: true, characterData: true});
}"""


def _wait_seen(page: Page, timeout: float = 5.0) -> None:
    # wait_for_function evaluates a string, which the page's CSP (script-src 'self') rightly forbids.
    deadline = time.monotonic() + timeout
    while page.evaluate("() => window.__seen") is None:
        assert time.monotonic() < deadline, "the message never appeared"
        page.wait_for_timeout(10)


def _latency(page: Page, mark: str, click_js: str) -> float:
    page.evaluate(WATCH, mark)
    page.evaluate(f"() => {{ window.__t0 = performance.now(); {click_js} }}")
    _wait_seen(page)
    return float(page.evaluate("() => window.__seen - window.__t0"))


def test_posted_message_arrives_by_server_push(page: Page) -> None:
    """Send in the composer: the page shows the message only when the server pushes it (no local echo)."""
    page.locator("#composer textarea").fill("push test 42")
    ms = _latency(page, "push test 42", "document.querySelector('#composer button[type=submit]').click();")
    print(f"composer message shown {ms:.0f} ms after the click")
    assert ms < LIMIT_MS, f"message appeared {ms:.0f} ms after the click"


def test_bot_update_arrives_by_server_push(page: Page, sandbox: Sandbox) -> None:
    """Click Approve: the bot's chat.update of the announcement shows up within 500 ms of the click."""
    ws = sandbox.workspace_app.state.workspace
    ws.command(REQUESTER, RELEASES_CHANNEL, "/release", "start v2.0.0 risk=high")
    switch_member(page, APPROVER_1)
    announcement = bot_message(page, "Release v2.0.0")
    expect(field(announcement, "Approvals")).to_contain_text("0/2")
    click = ("[...document.querySelectorAll('#messages .msg')].filter(m => m.textContent.includes('Release v2.0.0'))"
             ".pop().querySelector('[data-action-id=release_approve]').click();")
    ms = _latency(page, "Approvals1/2", click)
    print(f"approval shown {ms:.0f} ms after the click")
    assert ms < LIMIT_MS, f"the approval appeared {ms:.0f} ms after the click"


def test_message_from_elsewhere_arrives_without_reload(page: Page, sandbox: Sandbox) -> None:
    """Someone else posts (another browser, the bot): the open page shows it without a reload."""
    page.evaluate(WATCH, "hello from Avery")
    sandbox.store.post_message(RELEASES_CHANNEL, user=APPROVER_1, text="hello from Avery &lt;b&gt;not bold&lt;/b&gt;")
    _wait_seen(page, 2.0)
    msg = page.locator("#messages .msg").filter(has_text="hello from Avery").last
    expect(msg).to_contain_text("<b>not bold</b>")  # entities shown as characters, never parsed as HTML
    expect(msg.locator(".mrkdwn b")).to_have_count(0)


def test_hostile_text_typed_in_the_composer_is_shown_literally(page: Page) -> None:
    """What a person types is escaped like Slack does and rendered with textContent: no markup runs."""
    hostile = '<img src=x onerror="window.__owned=1"> & <script>window.__owned=2</script> <@U0APPROVE1>'
    page.locator("#composer textarea").fill(hostile)
    page.locator("#composer textarea").press("Enter")
    msg = page.locator("#messages .msg").filter(has_text="onerror").last
    expect(msg.locator(".mrkdwn")).to_have_text(hostile)
    expect(msg.locator("img, script, .mention")).to_have_count(0)
    assert page.evaluate("() => window.__owned") is None
