"""An EXPRESS workflow's run on the page: Step Functions keeps no history for EXPRESS runs and
cannot redrive them (nor may snsflow re-run them yet), and the detail panel says so instead
of asking, and offers no action."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from snsflow.executions import execution_name
from snsflow.local.stack import LocalStack, LocalStackConfig, wait_until
from snsflow.store.executions import ExecutionStatus
from tests.browser.chromium import connect
from tests.browser.conftest import Tab
from tests.e2e.conftest import DEADLINE_SECONDS, Driver, driver

__all__ = ["driver"]  # the e2e tests' fixture, used here as it is

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

WORKFLOWS = Path(__file__).resolve().parents[1] / "fixtures" / "workflows-three"
EXPRESS_WORKFLOW = "metrics-fast"


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(LocalStackConfig(workflows_dir=WORKFLOWS, sns_delay_scale=0.01)) as stack:
        yield stack


def test_an_express_run_says_it_has_no_history_and_offers_no_action(
    driver: Driver, tab: Tab
) -> None:
    assert driver.stack.workflow(EXPRESS_WORKFLOW).state_machine_type == "EXPRESS"
    topic = driver.new_topic("metrics")
    driver.subscribe_confirmed(EXPRESS_WORKFLOW, topic)
    message_id = driver.sns.publish(TopicArn=topic, Message=json.dumps({"cpu": 0.5}))["MessageId"]
    execution_id = f"{EXPRESS_WORKFLOW}.{execution_name(message_id)}"
    detail = wait_until(
        lambda: driver.finished_execution(execution_id),
        timeout=DEADLINE_SECONDS,
        what="the EXPRESS run to record its outcome",
    )
    assert detail.status is ExecutionStatus.SUCCEEDED
    page = tab.page
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))

    connect(page, driver.stack.api_url, driver.stack.operate_key)
    page.get_by_test_id("filter-workflow").select_option(EXPRESS_WORKFLOW)
    row = page.locator(f'[data-testid="execution-row"][data-execution-id="{execution_id}"]')
    row.get_by_test_id("open-execution").click()

    expect(page.get_by_test_id("history-note")).to_have_text(
        "EXPRESS workflows have no step history: Step Functions keeps none for them. "
        "The input, output and error here are all there is."
    )
    expect(page.get_by_test_id("history-state")).to_have_count(0)
    # Neither action applies to an EXPRESS run (the API refuses both with a 409).
    expect(page.get_by_test_id("rerun")).to_have_count(0)
    expect(page.get_by_test_id("redrive")).to_have_count(0)
    assert not [url for url in asked if url.endswith("/history")]
    assert tab.page_errors == []
