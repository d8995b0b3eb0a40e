"""``GET /executions/{executionId}``: the record with its input, outcome and SNS message."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from snsflow.store.executions import ExecutionStatus, StatusChange, format_time
from tests.integration.query.conftest import ORDERS_TOPIC, QueryStack, Reply, message_id


def show(query_stack: QueryStack, execution_id: str) -> Reply:
    return query_stack.get("/executions/{executionId}", {"executionId": execution_id})


def test_a_failed_execution_shows_its_input_error_cause_and_sns_message(
    query_stack: QueryStack, recent: datetime
) -> None:
    cause = json.dumps({"errorMessage": "card declined", "errorType": "PaymentError"})
    execution_id = query_stack.seed(
        "order-events",
        7,
        ExecutionStatus.FAILED,
        recent,
        subject="order paid",
        error="PaymentError",
        cause=cause,
    )

    reply = show(query_stack, execution_id)

    assert reply.status == 200
    detail = reply.body
    name = message_id(7)
    arn = f"arn:aws:states:us-east-1:123456789012:execution:snsflow-order-events:{name}"
    assert detail["executionId"] == execution_id == f"order-events.{name}"
    assert detail["workflowId"] == "order-events"
    assert detail["messageId"] == name
    assert detail["executionName"] == name
    assert detail["status"] == "FAILED"
    assert detail["topicArn"] == ORDERS_TOPIC
    assert detail["subject"] == "order paid"
    assert detail["receivedAt"] == format_time(recent)
    assert detail["startedAt"] == format_time(recent + timedelta(milliseconds=40))
    assert detail["stoppedAt"] == format_time(recent + timedelta(seconds=2, milliseconds=540))
    assert detail["deliveries"] == 1
    assert detail["executionArn"] == arn
    assert detail["consoleUrl"] == (
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
        f"#/v2/executions/details/{arn}"
    )
    assert detail["error"] == "PaymentError"
    assert detail["cause"] == cause
    assert detail["output"] is None
    assert detail["input"] == {
        "workflowId": "order-events",
        "messageId": name,
        "topicArn": ORDERS_TOPIC,
        "subject": "order paid",
        "timestamp": "2026-11-28T12:00:00.000Z",
        "message": {"orderId": 7},
        "rawMessage": '{"orderId": 7}',
        "messageAttributes": {"tenant": {"Type": "String", "Value": "acme"}},
    }
    assert detail["snsMessage"] == {
        "Type": "Notification",
        "MessageId": name,
        "TopicArn": ORDERS_TOPIC,
        "Subject": "order paid",
        "Message": '{"orderId": 7}',
        "Timestamp": "2026-11-28T12:00:00.000Z",
        "MessageAttributes": {"tenant": {"Type": "String", "Value": "acme"}},
    }
    assert not {"Signature", "SigningCertURL", "UnsubscribeURL"} & set(detail["snsMessage"])
    assert datetime.fromisoformat(detail["expiresAt"]) > recent + timedelta(days=29)


def test_a_succeeded_execution_shows_its_output_parsed(
    query_stack: QueryStack, recent: datetime
) -> None:
    execution_id = query_stack.seed(
        "order-events", 8, ExecutionStatus.SUCCEEDED, recent, output='{"outcome": "accepted"}'
    )

    detail = show(query_stack, execution_id).body

    assert detail["output"] == {"outcome": "accepted"}
    assert detail["outputTruncated"] is False
    assert detail["error"] is None
    assert detail["cause"] is None


def test_a_truncated_output_is_shown_as_the_text_it_is(
    query_stack: QueryStack, recent: datetime
) -> None:
    execution_id = query_stack.seed("order-events", 9, ExecutionStatus.RUNNING, recent)
    query_stack.records.change_status(
        "order-events",
        message_id(9),
        StatusChange(
            status=ExecutionStatus.SUCCEEDED,
            execution_arn="arn:aws:states:eu-west-1:123456789012:execution:sm:x",
            output='{"items": [1, 2, 3',
            output_truncated=True,
        ),
    )

    detail = show(query_stack, execution_id).body

    assert detail["output"] == '{"items": [1, 2, 3'
    assert detail["outputTruncated"] is True
    assert detail["consoleUrl"].startswith("https://eu-west-1.console.aws.amazon.com/")


def test_a_claim_whose_start_failed_says_why_and_has_no_console_link(
    query_stack: QueryStack, recent: datetime
) -> None:
    execution_id = query_stack.seed("order-events", 10, ExecutionStatus.RECEIVED, recent)
    query_stack.records.record_start_failure(
        "order-events", message_id(10), "Step Functions is throttling"
    )

    detail = show(query_stack, execution_id).body

    assert detail["status"] == "RECEIVED"
    assert detail["lastStartError"] == "Step Functions is throttling"
    assert detail["executionArn"] is None
    assert detail["consoleUrl"] is None
    assert detail["startedAt"] is None


def test_an_unknown_execution_is_a_404(query_stack: QueryStack) -> None:
    reply = show(query_stack, "order-events.0b5d3c3e-6f4d-4b7c-9d4e-0c1f2a3b4c5d")

    assert reply.status == 404
    assert reply.body["error"]["code"] == "execution_not_found"


@pytest.mark.parametrize(
    "execution_id",
    [".abc", "order-events.", "Order.abc", "order-events.a:b", "w." + "a" * 81, "m:1", "a" * 101],
)
def test_a_malformed_execution_id_is_a_400(query_stack: QueryStack, execution_id: str) -> None:
    reply = show(query_stack, execution_id)

    assert reply.status == 400
    assert reply.body["error"]["code"] == "invalid_parameter"
    assert reply.body["error"]["parameter"] == "executionId"


def test_a_bare_message_id_finds_its_execution_in_whichever_workflow_received_it(
    query_stack: QueryStack, recent: datetime
) -> None:
    execution_id = query_stack.seed("audit-log", 31, ExecutionStatus.SUCCEEDED, recent)

    reply = show(query_stack, message_id(31))

    assert reply.status == 200
    assert reply.body["executionId"] == execution_id
    assert reply.body == show(query_stack, execution_id).body


def test_a_message_id_no_workflow_received_is_a_404(query_stack: QueryStack) -> None:
    reply = show(query_stack, message_id(404))

    assert reply.status == 404
    assert reply.body["error"]["code"] == "execution_not_found"
    assert message_id(404) in reply.body["error"]["message"]


def test_a_message_id_several_workflows_received_is_a_409_listing_them(
    query_stack: QueryStack, recent: datetime
) -> None:
    orders = query_stack.seed("order-events", 32, ExecutionStatus.SUCCEEDED, recent)
    audit = query_stack.seed("audit-log", 32, ExecutionStatus.FAILED, recent)

    reply = show(query_stack, message_id(32))

    assert reply.status == 409
    assert reply.body["error"]["code"] == "ambiguous_message_id"
    assert reply.body["error"]["candidates"] == sorted([orders, audit])
