"""The executions page in Chromium against the local stack, with the demo's executions on it:
the key, the summary, the table, the FAILED filter, a failed run's error, empty and refused
states, a phone-wide screen, shared links with back and forward, and the search by id."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from snsflow.cli.stack import ReadApi
from snsflow.local.demo import MESSAGES, WORKFLOW_ID
from snsflow.local.stack import LocalStack
from snsflow.store.executions import ExecutionStatus
from tests.browser.chromium import connect, loopback_only, new_tab
from tests.browser.conftest import ARTIFACTS, Tab

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: The workflow nothing is published to.
IDLE_WORKFLOW = "audit-log"


def _expected_count(status: ExecutionStatus) -> int:
    return sum(1 for message in MESSAGES if message.expected is status)


def _expect_card(page: Page, status: ExecutionStatus, count: int) -> None:
    expect(page.get_by_test_id(f"card-{status.value}").locator("b")).to_have_text(str(count))


def test_read_key_shows_every_demo_execution_and_its_counts(
    demo_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.read_key)

    rows = page.get_by_test_id("execution-row")
    expect(rows).to_have_count(len(MESSAGES))
    expect(page.get_by_test_id("connect")).to_be_hidden()
    expect(page.get_by_test_id("error")).to_be_hidden()
    for status in ExecutionStatus:
        _expect_card(page, status, _expected_count(status))
    # Newest first: the order the API lists them in.
    listed = ReadApi(demo_stack.api_url, demo_stack.read_key).executions(WORKFLOW_ID).items
    shown = [row.get_attribute("data-execution-id") for row in rows.all()]
    assert shown == [execution.execution_id for execution in listed]
    # The key is in this tab's sessionStorage, not in the URL or the field.
    assert demo_stack.read_key not in page.url
    expect(page.get_by_test_id("api-key")).to_have_value("")

    # The inline script and style ran under the page's CSP; nothing left the loopback address.
    assert tab.console_errors == []
    assert tab.page_errors == []
    assert tab.refused == []


def test_failed_filter_leads_to_the_rejected_orders_error_and_cause(
    demo_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.read_key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))

    page.get_by_test_id("filter-status-FAILED").check()

    failed_rows = page.locator('[data-testid="execution-row"][data-status="FAILED"]')
    expect(page.get_by_test_id("execution-row")).to_have_count(
        _expected_count(ExecutionStatus.FAILED)
    )
    expect(failed_rows).to_have_count(_expected_count(ExecutionStatus.FAILED))
    expect(page.get_by_test_id("card-FAILED")).to_have_attribute("aria-pressed", "true")

    failed_rows.first.get_by_test_id("open-execution").click()

    detail = page.get_by_test_id("detail")
    expect(detail).to_be_visible()
    expect(detail).to_be_focused()
    error = page.get_by_test_id("detail-error")
    expect(error).to_contain_text("Error: OrderRejected")
    expect(error).to_contain_text("Cause: The order event has status 'rejected'.")
    expect(page.get_by_test_id("detail-input")).to_contain_text('"orderId": "A-1004"')
    expect(page.get_by_test_id("detail-sns")).to_contain_text('"Subject": "order A-1004"')
    # The local stack's Step Functions is moto: no AWS console has this run, none is offered.
    expect(page.get_by_test_id("detail-fields")).to_contain_text("Execution ARN")
    expect(page.get_by_test_id("detail-fields")).not_to_contain_text("Open in Step Functions")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "executions-page-failed-execution.png")

    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    expect(failed_rows.first.get_by_test_id("open-execution")).to_be_focused()
    assert tab.page_errors == []
    assert tab.refused == []


def test_workflow_without_runs_says_it_has_none_yet(demo_stack: LocalStack, tab: Tab) -> None:
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.read_key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))

    page.get_by_test_id("filter-workflow").select_option(IDLE_WORKFLOW)

    expect(page.get_by_test_id("execution-row")).to_have_count(0)
    expect(page.get_by_test_id("empty-state")).to_have_text(
        "No executions yet: publish a message to a subscribed topic."
    )
    _expect_card(page, ExecutionStatus.SUCCEEDED, 0)


def test_search_that_matches_nothing_says_so(demo_stack: LocalStack, tab: Tab) -> None:
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.read_key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))

    page.get_by_test_id("filter-text").fill("no-such-order")

    expect(page.get_by_test_id("execution-row")).to_have_count(0)
    expect(page.get_by_test_id("empty-state")).to_have_text("No executions match these filters.")

    page.get_by_test_id("filter-text").fill("")
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
    expect(page.get_by_test_id("empty-state")).to_be_hidden()


@pytest.mark.parametrize(
    ("key_of", "refusal"),
    [
        pytest.param(lambda stack: "snsf_" + "0" * 43, r"\(invalid_api_key\)", id="unknown-key"),
        pytest.param(
            lambda stack: stack.keys["prod-sns"], r"\(wrong_key_scope\)", id="webhook-key"
        ),
    ],
)
def test_refused_key_shows_why_and_asks_again(
    demo_stack: LocalStack, tab: Tab, key_of: Callable[[LocalStack], str], refusal: str
) -> None:
    page = tab.page
    connect(page, demo_stack.api_url, key_of(demo_stack))

    alert = page.get_by_test_id("error")
    expect(alert).to_be_visible()
    expect(alert).to_have_text(re.compile(r"^The key was refused " + refusal))
    expect(page.get_by_test_id("connect")).to_be_visible()
    expect(page.get_by_test_id("execution-row")).to_have_count(0)
    # The refused key is forgotten: a reload asks for a key instead of retrying it.
    page.reload()
    expect(page.get_by_test_id("api-key")).to_be_visible()
    expect(page.get_by_test_id("error")).to_be_hidden()
    assert tab.page_errors == []


def _rejected_order(stack: LocalStack) -> str:
    """The execution id of the demo's rejected order (its one FAILED run)."""
    listed = ReadApi(stack.api_url, stack.read_key).executions(WORKFLOW_ID).items
    return next(x.execution_id for x in listed if x.status is ExecutionStatus.FAILED)


def _fits_the_width(page: Page) -> None:
    width = page.evaluate(
        "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    assert width[0] <= width[1], f"scrolls sideways: {width[0]} px of content in {width[1]} px"


def test_a_phone_wide_screen_never_scrolls_sideways(demo_stack: LocalStack, tab: Tab) -> None:
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{demo_stack.api_url}/")
    expect(page.get_by_test_id("api-key")).to_be_visible()
    _fits_the_width(page)

    connect(page, demo_stack.api_url, demo_stack.read_key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
    _fits_the_width(page)
    # Every column is still there, stacked, each cell named by its column (CSS-generated text,
    # which the accessibility tree reads).
    first = page.get_by_test_id("execution-row").first
    expect(first.get_by_role("cell", name=re.compile(r"^Duration: \d"))).to_be_visible()

    page.get_by_test_id("filter-range").select_option("custom")
    _fits_the_width(page)

    page.get_by_test_id("filter-status-FAILED").check()
    rows = page.get_by_test_id("execution-row")
    expect(rows).to_have_count(_expected_count(ExecutionStatus.FAILED))
    rows.first.get_by_test_id("open-execution").click()
    expect(page.get_by_test_id("detail-error")).to_contain_text("OrderRejected")
    _fits_the_width(page)
    expect(page.get_by_test_id("history-state").first).to_be_visible()
    _fits_the_width(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "executions-page-390px.png")
    page.get_by_test_id("detail-close").click()

    page.get_by_test_id("filter-workflow").select_option(WORKFLOW_ID)
    for view, row in (("deliveries", "delivery-row"), ("subscriptions", "subscription-row")):
        page.get_by_test_id(f"tab-{view}").click()
        expect(page.get_by_test_id(row).first).to_be_visible()
        _fits_the_width(page)
    assert tab.page_errors == []


def test_the_local_stacks_api_offers_no_console_link(demo_stack: LocalStack) -> None:
    detail = ReadApi(demo_stack.api_url, demo_stack.read_key).execution(_rejected_order(demo_stack))

    assert detail.execution_arn is not None
    assert detail.console_url is None


def test_a_shared_link_reopens_the_filters_and_the_execution(
    demo_stack: LocalStack, tab: Tab, browser: Browser
) -> None:
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.read_key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
    page.get_by_test_id("filter-workflow").select_option(WORKFLOW_ID)
    page.get_by_test_id("filter-status-FAILED").check()
    rows = page.get_by_test_id("execution-row")
    expect(rows).to_have_count(_expected_count(ExecutionStatus.FAILED))
    rows.first.get_by_test_id("open-execution").click()
    expect(page.get_by_test_id("detail-error")).to_contain_text("OrderRejected")
    link = page.url
    assert demo_stack.read_key not in link

    # Pasted in another browser session (its own storage): the key, then the same view.
    with new_tab(browser) as other:
        loopback_only(other)
        other.goto(link)
        other.get_by_label("API key").fill(demo_stack.read_key)
        other.get_by_test_id("connect-button").click()
        expect(other.get_by_test_id("detail")).to_be_visible()
        expect(other.get_by_test_id("detail-fields")).to_contain_text(_rejected_order(demo_stack))
        expect(other.get_by_test_id("filter-workflow")).to_have_value(WORKFLOW_ID)
        expect(other.get_by_test_id("filter-status-FAILED")).to_be_checked()
        expect(other.get_by_test_id("execution-row")).to_have_count(
            _expected_count(ExecutionStatus.FAILED)
        )

    # Back closes the execution, back again clears the status filter, forward reopens both.
    page.go_back()
    expect(page.get_by_test_id("detail")).to_be_hidden()
    page.go_back()
    expect(page.get_by_test_id("filter-status-FAILED")).not_to_be_checked()
    expect(rows).to_have_count(len(MESSAGES))  # every demo message is an order event
    page.go_forward()
    page.go_forward()
    expect(page.get_by_test_id("detail-error")).to_contain_text("OrderRejected")
    expect(page.get_by_test_id("filter-status-FAILED")).to_be_checked()
    assert tab.page_errors == []


def test_the_search_asks_the_server_for_an_id_not_on_the_page(
    demo_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    wanted = _rejected_order(demo_stack)
    connect(page, demo_stack.api_url, demo_stack.read_key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
    # Only succeeded runs loaded: the failed one is not among the rows.
    page.get_by_test_id("filter-status-SUCCEEDED").check()
    expect(page.get_by_test_id("execution-row")).to_have_count(
        _expected_count(ExecutionStatus.SUCCEEDED)
    )

    page.get_by_test_id("filter-text").fill(wanted)

    row = page.get_by_test_id("execution-row")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-execution-id", wanted)
    expect(row).to_have_attribute("data-status", "FAILED")
    expect(page.get_by_test_id("found-note")).to_contain_text("Found on the server")
    row.get_by_test_id("open-execution").click()
    expect(page.get_by_test_id("detail-error")).to_contain_text("OrderRejected")

    # An id the server does not know either: nothing found, said so.
    page.get_by_test_id("filter-text").fill(f"{WORKFLOW_ID}.no-such-execution")
    expect(page.get_by_test_id("empty-state")).to_have_text("No executions match these filters.")
    expect(page.get_by_test_id("found-note")).to_be_hidden()
    assert tab.page_errors == []
