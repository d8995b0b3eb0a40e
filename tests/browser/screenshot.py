"""Screenshots of the page with the demo's executions: ``make screenshot``.

Starts the local stack, runs what ``snsflow demo`` runs, opens the page in Chromium with the
operate key and saves, 1280x800, into the directory given (``docs/``):
``executions-page.png`` (the rejected order open: its step history, the failing state
highlighted, Redrive and Re-run), ``deliveries-page.png`` and ``subscriptions-page.png`` (the
``order-events`` workflow's views).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from snsflow.cli.stack import ReadApi
from snsflow.local.demo import FAILING_STATE, MESSAGES, WORKFLOW_ID
from snsflow.local.stack import LocalStack, LocalStackConfig, wait_until
from tests.browser.chromium import chromium, connect, loopback_only, new_tab, publish_demo_messages

#: The files written, in the order they are taken.
SHOTS = ("executions-page.png", "deliveries-page.png", "subscriptions-page.png")


def _show_executions(page: Page) -> None:
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
    page.get_by_test_id("auto-refresh").uncheck()  # nothing moves while the picture is taken
    failed = page.locator('[data-testid="execution-row"][data-status="FAILED"]')
    failed.get_by_test_id("open-execution").click()
    expect(page.locator('[data-testid="history-state"][data-failed="true"]')).to_have_attribute(
        "data-state", FAILING_STATE
    )
    expect(page.get_by_test_id("redrive")).to_be_visible()
    page.get_by_test_id("history").scroll_into_view_if_needed()


def _show_view(page: Page, view: str, row: str) -> None:
    if page.get_by_test_id("detail").is_visible():
        page.get_by_test_id("detail-close").click()
    page.get_by_test_id("filter-workflow").select_option(WORKFLOW_ID)
    page.get_by_test_id(f"tab-{view}").click()
    expect(page.get_by_test_id(row).first).to_be_visible()


def take_screenshots(directory: Path) -> list[Path]:
    # The reconciler every second: the Subscriptions view shows its check against SNS.
    config = LocalStackConfig(
        sns_delay_scale=0.01, status_poll_seconds=0.1, reconcile_every_seconds=1.0
    )
    with LocalStack(config) as stack, chromium() as browser, new_tab(browser) as page:
        publish_demo_messages(stack)
        api = ReadApi(stack.api_url, stack.read_key)
        wait_until(
            lambda: all(s.checked_against_sns for s in api.workflow(WORKFLOW_ID).subscriptions),
            timeout=30,
            what="the subscription's check against SNS",
        )
        refused = loopback_only(page)
        connect(page, stack.api_url, stack.operate_key)
        directory.mkdir(parents=True, exist_ok=True)
        steps: tuple[Callable[[], None], ...] = (
            lambda: _show_executions(page),
            lambda: _show_view(page, "deliveries", "delivery-row"),
            lambda: _show_view(page, "subscriptions", "subscription-row"),
        )
        saved = []
        for name, step in zip(SHOTS, steps, strict=True):
            step()
            expect(page.get_by_test_id("error")).to_be_hidden()
            page.screenshot(path=directory / name)
            saved.append(directory / name)
        if refused:
            raise RuntimeError(f"the page asked for addresses off the loopback: {refused}")
        return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="where to save the PNGs")
    args = parser.parse_args(argv)
    for path in take_screenshots(args.directory):
        print(f"saved {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
