"""SNS → API gateway → authorizer → webhook → Step Functions → status events, all over loopback
HTTP on the local stack, driven with boto3 as against AWS."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser import parse
from botocore.exceptions import ClientError

from snsflow import aws
from snsflow.executions import execution_name
from snsflow.local.events import StatusEventPump
from snsflow.local.sns import Outcome
from snsflow.local.stack import wait_until
from snsflow.status import ExecutionStatusChangeEvent
from snsflow.store.executions import ExecutionStatus
from snsflow.store.subscriptions import SubscriptionStatus
from tests.e2e.conftest import DEADLINE_SECONDS, Driver

pytestmark = pytest.mark.e2e

WORKFLOW = "order-events"


def _just_before() -> datetime:
    # Record times come from the same clock; a margin keeps a listing "since" inclusive.
    return datetime.now(UTC) - timedelta(seconds=1)


def test_subscription_is_confirmed_through_the_signed_handshake(driver: Driver) -> None:
    topic = driver.new_topic()

    arn = driver.subscribe_confirmed(WORKFLOW, topic)

    assert driver.sns_subscription_arns(topic) == [arn]
    confirmation = driver.attempts(subscription_arn=arn)
    assert [(a.message_type, a.status_code) for a in confirmation] == [
        ("SubscriptionConfirmation", 200)
    ]


def test_fifty_messages_from_five_threads_run_fifty_executions_none_twice(
    driver: Driver,
) -> None:
    topic = driver.new_topic()
    driver.subscribe_confirmed(WORKFLOW, topic)
    since = _just_before()
    message_ids: list[str] = []
    lock = threading.Lock()

    def publish_ten(thread: int) -> None:
        client = boto3.client(
            "sns", endpoint_url=driver.stack.sns_endpoint, region_name=driver.stack.config.region
        )
        for n in range(10):
            order = {"orderId": f"T{thread}-{n}", "status": "accepted"}
            message_id = client.publish(TopicArn=topic, Message=json.dumps(order))["MessageId"]
            with lock:
                message_ids.append(message_id)

    threads = [threading.Thread(target=publish_ten, args=(t,)) for t in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def all_succeeded() -> bool:
        found = driver.executions_since(WORKFLOW, since)
        return all(m in found and found[m].status is ExecutionStatus.SUCCEEDED for m in message_ids)

    wait_until(all_succeeded, timeout=DEADLINE_SECONDS, what="50 executions to succeed")
    assert len(set(message_ids)) == 50
    records = driver.executions_since(WORKFLOW, since)
    assert set(records) == set(message_ids)
    runs = Counter(driver.step_functions_runs(WORKFLOW))
    assert all(runs[execution_name(m)] == 1 for m in message_ids)


def test_rejected_order_fails_its_run_and_the_record_keeps_error_and_cause(
    driver: Driver,
) -> None:
    topic = driver.new_topic()
    driver.subscribe_confirmed(WORKFLOW, topic)
    message_id = driver.sns.publish(
        TopicArn=topic, Message=json.dumps({"orderId": "R-1", "status": "rejected"})
    )["MessageId"]
    execution_id = f"{WORKFLOW}.{execution_name(message_id)}"

    detail = wait_until(
        lambda: driver.finished_execution(execution_id),
        timeout=DEADLINE_SECONDS,
        what="the rejected order's run to end",
    )

    assert detail.status is ExecutionStatus.FAILED
    assert detail.error == "OrderRejected"
    assert detail.cause == "The order event has status 'rejected'."
    assert detail.input["message"] == {"orderId": "R-1", "status": "rejected"}
    assert detail.stopped_at is not None


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("snsf_" + "A" * 43, id="unknown-key"),
        pytest.param(None, id="another-workflows-key"),
    ],
)
def test_subscription_with_a_wrong_key_is_never_confirmed_and_sns_sees_403(
    driver: Driver, key: str | None
) -> None:
    topic = driver.new_topic()
    wrong_key = key or driver.stack.keys["audit-sns"]
    endpoint = f"{driver.stack.workflow(WORKFLOW).webhook_url}?x-api-key={wrong_key}"

    arn = driver.subscribe(topic, endpoint)

    wait_until(
        lambda: driver.attempts(subscription_arn=arn),
        timeout=DEADLINE_SECONDS,
        what="the confirmation request to be delivered",
    )
    assert driver.stack.sns.wait_until_idle(DEADLINE_SECONDS)
    attempts = driver.attempts(subscription_arn=arn)
    assert [(a.message_type, a.status_code, a.outcome) for a in attempts] == [
        ("SubscriptionConfirmation", 403, Outcome.REJECTED)
    ]
    assert driver.sns_subscription_arns(topic) == ["PendingConfirmation"]
    listed = [s for s in driver.api.workflow(WORKFLOW).subscriptions if s.topic_arn == topic]
    if key is None:
        # A known key reaches the authorizer, which logs the refused confirmation for the
        # workflow: the topic shows as refused, with why (docs/deliveries.md).
        assert [(s.status, s.health, s.last_refusal_code) for s in listed] == [
            (SubscriptionStatus.PENDING, "refused", "key_not_bound")
        ]
    else:  # an unknown value is refused by the firewall, before anything can log it
        assert listed == []


def test_unsubscribe_is_recorded_and_never_undone(driver: Driver) -> None:
    topic = driver.new_topic()
    arn = driver.subscribe_confirmed(WORKFLOW, topic)

    driver.sns.unsubscribe(SubscriptionArn=arn)

    wait_until(
        lambda: driver.subscription_status(WORKFLOW, topic) is SubscriptionStatus.UNSUBSCRIBED,
        timeout=DEADLINE_SECONDS,
        what="the unsubscribe to be recorded",
    )
    assert driver.stack.sns.wait_until_idle(DEADLINE_SECONDS)
    assert driver.sns_subscription_arns(topic) == []
    assert [(a.message_type, a.status_code) for a in driver.attempts(subscription_arn=arn)] == [
        ("SubscriptionConfirmation", 200),
        ("UnsubscribeConfirmation", 200),
    ]


class _ThrottleOnce:
    """A botocore ``before-call`` hook: the first StartExecution fails as throttled."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, **_kwargs: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "StartExecution",
            )


@pytest.fixture
def throttle_first_start(driver: Driver) -> Iterator[_ThrottleOnce]:
    """Makes the webhook's Step Functions client refuse its next StartExecution once."""
    events = aws.stepfunctions_client().meta.events
    hook = _ThrottleOnce()
    events.register("before-call.states.StartExecution", hook)
    yield hook
    events.unregister("before-call.states.StartExecution", hook)


def test_failed_start_is_answered_503_retried_by_sns_and_run_once(
    driver: Driver, throttle_first_start: _ThrottleOnce
) -> None:
    topic = driver.new_topic()
    driver.subscribe_confirmed(WORKFLOW, topic)
    since = _just_before()

    message_id = driver.sns.publish(
        TopicArn=topic, Message=json.dumps({"orderId": "S-1", "status": "accepted"})
    )["MessageId"]

    record = wait_until(
        lambda: (
            found
            if (found := driver.executions_since(WORKFLOW, since).get(message_id))
            and found.status is ExecutionStatus.SUCCEEDED
            else None
        ),
        timeout=DEADLINE_SECONDS,
        what="the throttled message's run to succeed",
    )
    assert throttle_first_start.calls == 2
    attempts = driver.attempts(message_id=message_id)
    assert [(a.status_code, a.outcome) for a in attempts] == [
        (503, Outcome.RETRYING),
        (200, Outcome.DELIVERED),
    ]
    assert record.deliveries == 2
    assert Counter(driver.step_functions_runs(WORKFLOW))[execution_name(message_id)] == 1


def test_redelivered_message_is_recorded_twice_and_run_once(driver: Driver) -> None:
    topic = driver.new_topic()
    driver.subscribe_confirmed(WORKFLOW, topic)
    since = _just_before()
    message_id = driver.sns.publish(
        TopicArn=topic, Message=json.dumps({"orderId": "D-1", "status": "accepted"})
    )["MessageId"]
    wait_until(
        lambda: [a for a in driver.attempts(message_id=message_id) if a.status_code == 200],
        timeout=DEADLINE_SECONDS,
        what="the first delivery",
    )

    driver.stack.sns.redeliver(message_id)

    record = wait_until(
        lambda: (
            found
            if (found := driver.executions_since(WORKFLOW, since).get(message_id))
            and found.deliveries == 2
            and found.status.is_terminal
            else None
        ),
        timeout=DEADLINE_SECONDS,
        what="the redelivery to be recorded",
    )
    assert record.status is ExecutionStatus.SUCCEEDED
    assert Counter(driver.step_functions_runs(WORKFLOW))[execution_name(message_id)] == 1


@pytest.mark.parametrize(
    ("order_status", "outcome"), [("accepted", "SUCCEEDED"), ("rejected", "FAILED")]
)
def test_status_events_have_the_shape_step_functions_sends(
    driver: Driver, order_status: str, outcome: str
) -> None:
    client = aws.stepfunctions_client()
    machine = driver.stack.workflow(WORKFLOW).state_machine_arn
    execution_input = json.dumps({"messageId": "m-1", "message": {"status": order_status}})
    arn = client.start_execution(
        stateMachineArn=machine, name=f"shape-{uuid.uuid4().hex}", input=execution_input
    )["executionArn"]
    wait_until(
        lambda: client.describe_execution(executionArn=arn)["status"] != "RUNNING",
        timeout=DEADLINE_SECONDS,
        what="the execution to end",
    )
    events: list[dict[str, Any]] = []
    pump = StatusEventPump(
        client,
        [machine],
        events.append,
        region=driver.stack.config.region,
        account_id=driver.stack.config.account_id,
    )

    pump.poll()

    # Its end only, as the deployed rule forwards (no event for the start).
    [event] = [event for event in events if event["detail"]["executionArn"] == arn]
    parse(event=event, model=ExecutionStatusChangeEvent)  # what the status function reads
    assert event["source"] == "aws.states"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["account"] == driver.stack.config.account_id
    assert event["resources"] == [arn]
    ended = event["detail"]
    assert ended["status"] == outcome
    assert ended["stateMachineArn"] == machine
    assert json.loads(ended["input"]) == json.loads(execution_input)
    assert ended["inputDetails"] == {"included": True}
    assert isinstance(ended["startDate"], int)
    assert ended["stopDate"] >= ended["startDate"]
    if outcome == "SUCCEEDED":
        assert json.loads(ended["output"])["outcome"] == "accepted"
        assert ended["outputDetails"] == {"included": True}
        assert ended["error"] is None
    else:
        assert ended["output"] is None
        assert (ended["error"], ended["cause"]) == (
            "OrderRejected",
            "The order event has status 'rejected'.",
        )
    assert pump.poll() == 0  # each event is sent once
