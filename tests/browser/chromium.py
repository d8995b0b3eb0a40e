"""Debian's Chromium driven by Playwright, and the demo's executions to show it.

Shared by the browser tests and ``tests/browser/screenshot.py``. Playwright's own browser
download is never used (``playwright install`` needs a host this machine cannot reach):
``make browser`` installs the distribution's Chromium, launched here by its path.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, Route, ViewportSize, expect, sync_playwright

from snsflow.local.demo import Demo
from snsflow.local.stack import LocalStack

#: The size of the window, and of the screenshots.
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
#: Headless, and quiet: nothing but the page under test may reach the network (no component
#: updates, sync, field trials or QUIC probes to Google's hosts).
CHROMIUM_ARGS = (
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: How long a Playwright assertion waits for the page to get there (a loaded machine is slow).
EXPECT_TIMEOUT_MS = 15_000
_LOOPBACK_ORIGIN = "http://127.0.0.1:"


class ChromiumMissingError(Exception):
    """No ``chromium`` on the PATH."""


def chromium_executable() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise ChromiumMissingError(
            "Chromium is not installed: `make browser` installs it (apt-get install chromium)"
        )
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium. Playwright starts it with a fresh profile of its own (a new
    temporary ``--user-data-dir``, deleted when it closes)."""
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_tab(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own (its own storage and connections, all closed after),
    1280x800, in UTC and US English: the same times and digits on every machine."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    try:
        yield context.new_page()
    finally:
        context.close()


def loopback_only(page: Page) -> list[str]:
    """Refuse every request of ``page`` that leaves the loopback address; returns the list of
    the refused URLs, filled as the page runs."""
    refused: list[str] = []

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(_LOOPBACK_ORIGIN) or url.startswith("data:"):
            route.continue_()
        else:
            refused.append(url)
            route.abort("blockedbyclient")

    page.route("**/*", guard)
    return refused


def publish_demo_messages(stack: LocalStack) -> None:
    """What ``snsflow demo`` does, on ``stack``: subscribe a topic to ``order-events`` through
    the local SNS, publish the demo's orders (accepted, cancelled, rejected, one delivered
    twice) and wait until every execution has finished and checks out."""
    narration = io.StringIO()
    report = Demo(stack, narration).run()
    if not report.passed:
        failed = [description for description, passed in report.checks if not passed]
        raise AssertionError(
            f"the demo's executions are not as expected: {failed}\n{narration.getvalue()}"
        )


def connect(page: Page, api_url: str, key: str) -> None:
    """Open the executions page and enter ``key``."""
    page.goto(f"{api_url}/")
    page.get_by_label("API key").fill(key)
    page.get_by_test_id("connect-button").click()
