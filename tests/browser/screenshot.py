"""Screenshot of the executions page with the demo's executions: ``make screenshot``.

Starts the local stack, runs what ``snsflow demo`` runs, opens the page in Chromium with the
read key and saves the page, 1280x800, to the path given (``docs/executions-page.png``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import expect

from snsflow.local.demo import MESSAGES
from snsflow.local.stack import LocalStack, LocalStackConfig
from tests.browser.chromium import chromium, connect, loopback_only, new_tab, publish_demo_messages


def take_screenshot(path: Path) -> None:
    config = LocalStackConfig(sns_delay_scale=0.01, status_poll_seconds=0.1)
    with LocalStack(config) as stack, chromium() as browser, new_tab(browser) as page:
        publish_demo_messages(stack)
        refused = loopback_only(page)
        connect(page, stack.api_url, stack.read_key)
        expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
        expect(page.get_by_test_id("error")).to_be_hidden()
        if refused:
            raise RuntimeError(f"the page asked for addresses off the loopback: {refused}")
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="where to save the PNG")
    args = parser.parse_args(argv)
    take_screenshot(args.path)
    print(f"saved {args.path} ({args.path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
