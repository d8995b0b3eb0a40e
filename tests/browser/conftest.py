"""One Chromium per test process, a tab in a fresh context per test, and the local stack of
the e2e tests (one per test module) with the demo's executions on it."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page

from snsflow.local.stack import PROJECT_ROOT, LocalStack
from tests.browser.chromium import chromium, loopback_only, new_tab, publish_demo_messages
from tests.e2e.conftest import local_stack

__all__ = ["local_stack"]  # the e2e tests' fixture, used here as it is

#: Screenshots the tests take, and one of each failing test's tab (gitignored; CI keeps it).
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
_FAILED = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the executions page in Chromium")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def demo_stack(local_stack: LocalStack) -> LocalStack:
    """The local stack once the demo's messages have run to their end."""
    publish_demo_messages(local_stack)
    return local_stack


@dataclass
class Tab:
    """A page in its own tab (its own sessionStorage), and what went wrong in it."""

    page: Page
    #: Requests refused for leaving the loopback address.
    refused: list[str]
    page_errors: list[Error] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def record_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def record_page_error(self, error: Error) -> None:
        self.page_errors.append(error)


@pytest.fixture
def tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Tab]:
    with new_tab(browser) as page:
        tab = Tab(page, loopback_only(page))
        page.on("pageerror", tab.record_page_error)
        page.on("console", tab.record_console)
        yield tab
        if request.node.stash.get(_FAILED, False):
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"failed-{request.node.name}.png", full_page=True)
