"""The detail panel's step history and actions in Chromium against the local stack (issue 13):
the rejected order's timeline with its failing state, Redrive and Re-run offered to an operate
key only, and what clicking them shows. A module of its own: redriving changes the demo's runs."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Request, Route, expect

from snsflow.cli.stack import ReadApi
from snsflow.local.demo import FAILING_STATE, MESSAGES, WORKFLOW_ID
from snsflow.local.stack import LocalStack, wait_until
from snsflow.query import ExecutionDetail
from snsflow.store.executions import ExecutionStatus
from tests.browser.chromium import connect
from tests.browser.conftest import Tab
from tests.e2e.conftest import DEADLINE_SECONDS

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def _rejected_order(stack: LocalStack) -> str:
    listed = ReadApi(stack.api_url, stack.read_key).executions(WORKFLOW_ID).items
    return next(x.execution_id for x in listed if x.status is ExecutionStatus.FAILED)


def _failed_run(api: ReadApi) -> ExecutionDetail | None:
    """The rejected order's run in full while it is FAILED, else None."""
    listed = api.executions(WORKFLOW_ID).items
    failed = [x.execution_id for x in listed if x.status is ExecutionStatus.FAILED]
    return api.execution(failed[0]) if failed else None


def _open_failed_run(page: Page, stack: LocalStack, key: str, *, auto_refresh: bool = True) -> None:
    connect(page, stack.api_url, key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
    if not auto_refresh:  # then what the panel shows is only what the page was answered
        page.get_by_test_id("auto-refresh").uncheck()
    row = page.locator(
        f'[data-testid="execution-row"][data-execution-id="{_rejected_order(stack)}"]'
    )
    row.get_by_test_id("open-execution").click()
    expect(page.get_by_test_id("detail-error")).to_contain_text("OrderRejected")


def test_the_history_timeline_highlights_the_state_that_failed(
    demo_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    _open_failed_run(page, demo_stack, demo_stack.read_key)
    history = ReadApi(demo_stack.api_url, demo_stack.read_key).history(_rejected_order(demo_stack))

    steps = page.get_by_test_id("history-state")
    expect(steps).to_have_count(len(history.states))
    shown = [step.get_attribute("data-state") for step in steps.all()]
    assert shown == [state.name for state in history.states]  # oldest first, as the API has it
    failed = page.locator('[data-testid="history-state"][data-failed="true"]')
    expect(failed).to_have_count(1)
    expect(failed).to_have_attribute("data-state", FAILING_STATE)
    expect(failed).to_have_class("failed")
    expect(failed).to_contain_text("Failed here")
    expect(failed).to_contain_text("Error: OrderRejected")
    expect(page.get_by_test_id("history-note")).to_have_text(f"Failed in state {FAILING_STATE}.")
    # The states before it did not fail, and say so.
    expect(page.locator('[data-testid="history-state"][data-failed="false"]')).to_have_count(
        len(history.states) - 1
    )
    assert tab.console_errors == []
    assert tab.page_errors == []


def test_a_read_key_is_offered_no_action(demo_stack: LocalStack, tab: Tab) -> None:
    page = tab.page
    _open_failed_run(page, demo_stack, demo_stack.read_key)

    expect(page.get_by_test_id("key-scope")).to_have_text("local-read (read)")
    expect(page.get_by_test_id("history-state").first).to_be_visible()  # the panel is complete
    expect(page.get_by_test_id("actions")).to_be_hidden()
    expect(page.get_by_test_id("redrive")).to_have_count(0)
    expect(page.get_by_test_id("rerun")).to_have_count(0)


def test_an_operate_key_redrives_a_failed_run_and_its_status_changes(
    demo_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    execution_id = _rejected_order(demo_stack)
    _open_failed_run(page, demo_stack, demo_stack.operate_key, auto_refresh=False)
    expect(page.get_by_test_id("key-scope")).to_have_text("local-operate (operate)")
    row = page.locator(f'[data-testid="execution-row"][data-execution-id="{execution_id}"]')
    expect(row).to_have_attribute("data-status", "FAILED")
    expect(page.get_by_test_id("redrive")).to_be_visible()
    expect(page.get_by_test_id("rerun")).to_be_visible()

    page.get_by_test_id("redrive").click()

    expect(page.get_by_test_id("action-result")).to_have_text(
        "Redriven: the execution runs again from the state that failed."
    )
    # The answer's status replaces FAILED in the panel and in the row.
    expect(row).to_have_attribute("data-status", "RUNNING")
    fields = page.get_by_test_id("detail-fields")
    expect(fields).to_contain_text("StatusRunning")
    expect(fields).to_contain_text("Redriven1 time")
    expect(fields).not_to_contain_text("Open in Step Functions")  # the answer's: local, no link
    expect(page.get_by_test_id("redrive")).to_have_count(0)  # a running execution: no action
    after = ReadApi(demo_stack.api_url, demo_stack.read_key).execution(execution_id)
    assert after.redrive_count == 1
    assert [(action.action, action.by) for action in after.actions] == [
        ("redrive", "local-operate")
    ]
    assert tab.page_errors == []


def test_a_redrive_answered_503_is_sent_again_with_the_same_key_and_redrives_once(
    demo_stack: LocalStack, tab: Tab
) -> None:
    # After the test above the redriven run fails again (the local stack redrives from the
    # start): wait until it is FAILED, then redrive it through an answer the page must retry.
    api = ReadApi(demo_stack.api_url, demo_stack.read_key)
    before = wait_until(
        lambda: _failed_run(api), timeout=DEADLINE_SECONDS, what="the redriven run to fail again"
    )
    execution_id = before.execution_id
    page = tab.page
    _open_failed_run(page, demo_stack, demo_stack.operate_key, auto_refresh=False)
    expect(page.get_by_test_id("redrive")).to_be_visible()
    keys: list[str | None] = []

    def answer_the_first_with_a_503(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        answer = route.fetch()  # the API redrives...
        if len(keys) == 1:  # ...but the page is told to retry, as when the record write failed
            route.fulfill(
                status=503,
                content_type="application/json",
                body='{"error": {"code": "dependency_unavailable", "message": "retry"}}',
            )
        else:
            route.fulfill(response=answer)

    page.route(f"**/executions/{execution_id}/redrive", answer_the_first_with_a_503)

    page.get_by_test_id("redrive").click()

    expect(page.get_by_test_id("action-result")).to_have_text(
        "Redriven: the execution runs again from the state that failed."
    )
    # Sent again with the same key: the API answers the redrive it did, and neither refuses it
    # as RUNNING nor redrives twice.
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0] == keys[1]
    after = api.execution(execution_id)
    assert after.redrive_count == before.redrive_count + 1
    assert len(after.actions) == len(before.actions) + 1
    assert tab.page_errors == []


def test_an_operate_key_reruns_a_finished_run_once_per_click(
    demo_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.operate_key)
    succeeded = page.locator('[data-testid="execution-row"][data-status="SUCCEEDED"]')
    expect(succeeded).to_have_count(
        sum(1 for m in MESSAGES if m.expected is ExecutionStatus.SUCCEEDED)
    )
    original = succeeded.first.get_attribute("data-execution-id")
    succeeded.first.get_by_test_id("open-execution").click()
    expect(page.get_by_test_id("rerun")).to_be_visible()
    expect(page.get_by_test_id("redrive")).to_have_count(0)  # nothing failed: nothing to redrive
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request) if request.method == "POST" else None)

    page.get_by_test_id("rerun").click()

    started = page.get_by_test_id("rerun-started")
    expect(started).to_have_text(f"{original}.r1")
    assert len(sent) == 1
    assert sent[0].url.endswith(f"/executions/{original}/rerun")
    assert sent[0].headers.get("idempotency-key")
    started.click()
    expect(page.get_by_test_id("detail-fields")).to_contain_text(f"Re-run of{original}")
    assert f"open={original}.r1" in page.url
    assert tab.page_errors == []


def test_a_rerun_whose_answer_is_lost_is_sent_again_with_the_same_key_and_starts_one_run(
    demo_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    connect(page, demo_stack.api_url, demo_stack.operate_key)
    succeeded = page.locator('[data-testid="execution-row"][data-status="SUCCEEDED"]')
    expect(succeeded.first).to_be_visible()
    original = str(succeeded.last.get_attribute("data-execution-id"))
    succeeded.last.get_by_test_id("open-execution").click()
    keys: list[str | None] = []

    def lose_the_first_answer(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        answer = route.fetch()  # the API gets the request and starts the run...
        if len(keys) == 1:
            route.abort("connectionreset")  # ...but its answer never reaches the page
        else:
            route.fulfill(response=answer)

    page.route(f"**/executions/{original}/rerun", lose_the_first_answer)

    page.get_by_test_id("rerun").click()

    expect(page.get_by_test_id("rerun-started")).to_have_text(f"{original}.r1")
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0] == keys[1]
    after = ReadApi(demo_stack.api_url, demo_stack.read_key).execution(original)
    assert after.reruns == [f"{original}.r1"]  # one run, not two
    assert tab.page_errors == []
