"""The search box finds a bare SNS MessageId on the server (issue 14): the one execution it
names, or, when the message reached several workflows, each of them to choose from. A module
of its own: it sends the demo's workflows one more message."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from snsflow.cli.stack import ReadApi
from snsflow.executions import execution_name
from snsflow.local.demo import MESSAGES, WORKFLOW_ID
from snsflow.local.stack import LocalStack, wait_until
from snsflow.store.executions import ExecutionStatus
from tests.browser.chromium import connect
from tests.browser.conftest import Tab
from tests.e2e.conftest import DEADLINE_SECONDS, Driver, driver

__all__ = ["driver"]  # the e2e tests' fixture, used here as it is

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: The demo's other workflow: it takes topics named audit-*, and order-events takes any.
AUDIT_WORKFLOW = "audit-log"


def test_a_bare_message_id_not_on_the_page_is_found_on_the_server(
    demo_stack: LocalStack, tab: Tab
) -> None:
    listed = ReadApi(demo_stack.api_url, demo_stack.read_key).executions(WORKFLOW_ID).items
    rejected = next(x for x in listed if x.status is ExecutionStatus.FAILED)
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.read_key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
    page.get_by_test_id("filter-status-SUCCEEDED").check()  # the rejected order is not loaded
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES) - 1)

    page.get_by_test_id("filter-text").fill(rejected.message_id)

    row = page.get_by_test_id("execution-row")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-execution-id", rejected.execution_id)
    expect(page.get_by_test_id("found-note")).to_contain_text("Found on the server")
    assert f"q={rejected.message_id}" in page.url  # a shared link searches the same
    assert tab.page_errors == []


def test_a_message_id_of_several_workflows_offers_each_execution(
    demo_stack: LocalStack, driver: Driver, tab: Tab
) -> None:
    topic = driver.new_topic("audit")
    for workflow in (WORKFLOW_ID, AUDIT_WORKFLOW):
        driver.subscribe_confirmed(workflow, topic)
    message_id = driver.sns.publish(TopicArn=topic, Message=json.dumps({"orderId": "A-2001"}))[
        "MessageId"
    ]
    name = execution_name(message_id)
    both = [f"{workflow}.{name}" for workflow in (AUDIT_WORKFLOW, WORKFLOW_ID)]
    wait_until(
        lambda: all(driver.finished_execution(execution_id) for execution_id in both),
        timeout=DEADLINE_SECONDS,
        what=f"{' and '.join(both)} to finish",
    )
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.read_key)
    page.get_by_test_id("filter-status-TIMED_OUT").check()  # neither run is loaded
    expect(page.get_by_test_id("empty-state")).to_be_visible()

    page.get_by_test_id("filter-text").fill(message_id)

    candidates = page.get_by_test_id("candidate")
    expect(candidates).to_have_count(2)
    assert sorted(candidates.all_inner_texts()) == sorted(both)
    expect(page.get_by_test_id("found-note")).to_contain_text("several workflows")
    expect(page.get_by_test_id("empty-state")).to_be_hidden()
    candidates.filter(has_text=AUDIT_WORKFLOW).click()
    expect(page.get_by_test_id("detail-fields")).to_contain_text(both[0])
    assert tab.page_errors == []
