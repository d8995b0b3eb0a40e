"""The Deliveries and Subscriptions views in Chromium against the local stack (issue 14): the
demo's deliveries with their outcomes and executions, refusals with their code and count, the
outcome filter, and each subscription's health and check against SNS."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from snsflow.cli.stack import ReadApi
from snsflow.local.demo import MESSAGES, TOPIC_NAME, WORKFLOW_ID
from snsflow.local.stack import LocalStack, wait_until
from tests.browser.chromium import connect
from tests.browser.conftest import Tab
from tests.e2e.conftest import http_request
from tests.support.sns import SnsTestSigner, TestCertificate

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: Forged notifications sent to the demo's workflow: refused, and counted in one log row.
FORGED = 3


@pytest.fixture(scope="module")
def forged_stack(demo_stack: LocalStack) -> LocalStack:
    """The demo's stack, and FORGED notifications on its topic whose message was changed after
    signing, sent with the workflow's own key: refused with signature_mismatch."""
    identity = demo_stack.sns.signing_identity
    topic = f"arn:aws:sns:{demo_stack.config.region}:{demo_stack.config.account_id}:{TOPIC_NAME}"
    signer = SnsTestSigner(
        topic_arn=topic,
        certificate=TestCertificate(identity.certificate_pem, identity.private_key),
        cert_url=demo_stack.sns.certificate_url,
    )
    key = demo_stack.keys[demo_stack.workflow(WORKFLOW_ID).api_key_name]
    for _ in range(FORGED):
        document = json.loads(signer.notification("genuine"))
        document["Message"] = "forged"
        answer = http_request(
            demo_stack.api_url,
            "POST",
            f"/webhooks/{WORKFLOW_ID}?x-api-key={urllib.parse.quote(key)}",
            json.dumps(document).encode("utf-8"),
            {
                "Content-Type": "text/plain; charset=UTF-8",
                "x-amz-sns-message-type": "Notification",
                "x-amz-sns-message-id": document["MessageId"],
                "x-amz-sns-topic-arn": topic,
            },
        )
        assert answer.status == 403, answer.body
    return demo_stack


def _open_view(page: Page, stack: LocalStack, view: str) -> None:
    connect(page, stack.api_url, stack.read_key)
    expect(page.get_by_test_id("execution-row")).to_have_count(len(MESSAGES))
    page.get_by_test_id("filter-workflow").select_option(WORKFLOW_ID)
    page.get_by_test_id(f"tab-{view}").click()
    expect(page.get_by_test_id(f"tab-{view}")).to_have_attribute("aria-pressed", "true")


def test_the_deliveries_view_lists_each_outcome_and_links_the_executions(
    forged_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    _open_view(page, forged_stack, "deliveries")
    logged = ReadApi(forged_stack.api_url, forged_stack.read_key).deliveries(WORKFLOW_ID, limit=50)

    rows = page.get_by_test_id("delivery-row")
    expect(rows).to_have_count(len(logged.items))
    assert [row.get_attribute("data-outcome") for row in rows.all()] == [
        item.outcome.value for item in logged.items
    ]
    accepted = page.locator('[data-testid="delivery-row"][data-outcome="accepted"]')
    expect(accepted).to_have_count(len(MESSAGES))
    expect(page.locator('[data-testid="delivery-row"][data-outcome="duplicate"]')).to_have_count(
        sum(1 for message in MESSAGES if message.delivered_twice)
    )
    expect(page.locator('[data-testid="delivery-row"][data-outcome="confirmed"]')).to_have_count(1)

    # An accepted delivery links to its execution, which opens over the view.
    link = accepted.first.get_by_test_id("delivery-execution")
    execution_id = link.inner_text()
    link.click()
    expect(page.get_by_test_id("detail-fields")).to_contain_text(execution_id)
    assert f"open={urllib.parse.quote(execution_id)}" in page.url
    assert "view=deliveries" in page.url
    assert tab.console_errors == []
    assert tab.page_errors == []


def test_the_refused_filter_shows_each_refusal_with_its_code_and_count(
    forged_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    _open_view(page, forged_stack, "deliveries")

    page.get_by_test_id("filter-outcome").select_option("refused")

    # The forgeries, in counters per minute and code, as the API has them (how many a counter
    # holds yet is the delivery log's business: each function instance writes one at most once
    # a second).
    logged = ReadApi(forged_stack.api_url, forged_stack.read_key).deliveries(
        WORKFLOW_ID, outcome="refused", limit=50
    )
    assert logged.items
    refused = page.get_by_test_id("delivery-row")
    expect(refused).to_have_count(len(logged.items))
    expect(refused.first).to_have_attribute("data-outcome", "refused")
    expect(
        page.locator('[data-testid="delivery-row"]:not([data-outcome="refused"])')
    ).to_have_count(0)
    codes = {row.get_attribute("data-code") for row in refused.all()}
    counts = [int(row.locator('td[data-label="Count"]').inner_text()) for row in refused.all()]
    assert codes == {"signature_mismatch"}
    assert counts == [item.count for item in logged.items]
    assert all(1 <= count <= FORGED for count in counts)
    assert "outcome=refused" in page.url
    # A shared link keeps the view and the filter.
    page.reload()
    expect(page.get_by_test_id("filter-outcome")).to_have_value("refused")
    expect(page.get_by_test_id("delivery-row")).to_have_count(len(counts))


def test_the_subscriptions_view_shows_each_topics_health(
    forged_stack: LocalStack, tab: Tab
) -> None:
    page = tab.page
    _open_view(page, forged_stack, "subscriptions")
    api = ReadApi(forged_stack.api_url, forged_stack.read_key)
    [subscription] = api.get(f"/workflows/{WORKFLOW_ID}")["subscriptions"]

    row = page.get_by_test_id("subscription-row")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-topic", subscription["topicArn"])
    # Confirmed, but its latest deliveries were all refused: failing, as the API says.
    assert subscription["status"] == "confirmed"
    assert subscription["health"] == "failing"
    expect(row).to_have_attribute("data-health", "failing")
    expect(row.locator('td[data-label="Health"]')).to_have_text("Failing")
    for column, field in (("Last delivery", "lastDeliveryAt"), ("Last accepted", "lastAcceptedAt")):
        assert subscription[field] is not None
        expect(row.locator(f'td[data-label="{column}"] time')).to_have_attribute(
            "datetime", subscription[field]
        )
    assert 1 <= subscription["refusalsLastHour"] <= subscription["refusalsLastDay"] <= FORGED
    expect(row.locator('td[data-label="Refusals 1 h / 24 h"]')).to_have_text(
        f"{subscription['refusalsLastHour']} / {subscription['refusalsLastDay']}"
    )
    expect(row.locator('td[data-label="Latest refusal"]')).to_have_text("signature_mismatch")
    assert tab.page_errors == []


def test_the_subscriptions_view_shows_what_sns_said_when_checked(
    forged_stack: LocalStack, tab: Tab
) -> None:
    api = ReadApi(forged_stack.api_url, forged_stack.read_key)

    def checked() -> dict[str, Any] | None:
        [subscription] = api.get(f"/workflows/{WORKFLOW_ID}")["subscriptions"]
        return subscription if subscription["checkedAgainstSns"] else None

    # The reconciler asks the local SNS on its schedule.
    subscription = wait_until(checked, timeout=30, interval=0.5, what="the check against SNS")
    page = tab.page
    _open_view(page, forged_stack, "subscriptions")

    check = page.get_by_test_id("sns-check")
    assert subscription["checkedAgainstSns"]["result"] == "subscribed"
    expect(check).to_contain_text("Subscribed since")
    expect(check.locator("time")).to_have_attribute(
        "datetime", subscription["checkedAgainstSns"]["at"]
    )
    # Subscribed here, as SNS says: the health is still what the deliveries tell (failing).
    expect(page.get_by_test_id("subscription-row")).to_have_attribute("data-health", "failing")
    assert tab.page_errors == []
