"""Browser fixtures: the whole sandbox (bot + local workspace) in-process, and headless Debian Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import load_settings
from slackbox.launch import Sandbox, start_sandbox

CHROMIUM = os.environ.get("WARROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"

pytestmark = pytest.mark.browser


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """The bot and the workspace with its UI on free ports; both databases in a temp directory."""
    settings = load_settings(
        DATABASE_URL=f"sqlite:///{tmp_path}/warroom.db",
        WARROOM_FREEZE_DAYS="",  # today may be a Friday
        WARROOM_BAKE_MINUTES="0",  # the flow promotes straight through; bake time has its own tests
        WARROOM_SCHEDULER_TICK="0.2",
    )
    box = start_sandbox(settings, store_path=str(tmp_path / "warroom-sandbox.db"))
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} is missing: run `bash scripts/ensure-chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, sandbox: Sandbox) -> Iterator[object]:  # noqa: ANN001 - playwright's Browser
    """A page on the workspace as the requester in #releases."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{sandbox.url}/?as=U0REQUEST&channel=releases")
    page.wait_for_selector("body[data-ready='1']")
    try:
        yield page
    finally:
        context.close()


def shoot(page, name: str, *, docs: bool = False) -> Path:  # noqa: ANN001
    """Save a screenshot under test-artifacts/screenshots (and the README's, when asked and enabled)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    # A test run leaves the tracked README picture alone unless asked to refresh it.
    if docs and os.environ.get("WARROOM_REFRESH_DOCS_SCREENSHOT"):
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOT)
    return path
