"""Notifications: one durable record and exactly one execution per SNS MessageId."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.integration.webhook.conftest import ORDERS_TOPIC, Stack


def message_id_of(body: str) -> str:
    return str(json.loads(body)["MessageId"])


def test_notification_runs_one_execution_whose_record_matches_its_success(stack: Stack) -> None:
    order = {"status": "paid", "orderId": "A-17"}
    body = stack.signer.notification(
        json.dumps(order),
        subject="order paid",
        message_attributes={"tenant": {"Type": "String", "Value": "acme"}},
    )
    message_id = message_id_of(body)
    before = datetime.now(UTC)

    reply = stack.deliver("order-events", body)

    assert reply.status == 200
    assert reply.body == {
        "status": "accepted",
        "executionId": f"order-events.{message_id}",
        "messageId": message_id,
    }
    running = stack.record("order-events", message_id)
    assert running.status == "RUNNING"
    assert running.execution_arn is not None
    description = stack.settle(running.execution_arn)
    assert description["status"] == "SUCCEEDED"

    record = stack.record("order-events", message_id)
    assert record.status == "SUCCEEDED"
    assert record.execution_id == reply.body["executionId"]
    assert record.topic_arn == ORDERS_TOPIC
    assert record.subject == "order paid"
    assert record.deliveries == 1
    assert record.message_timestamp == json.loads(body)["Timestamp"]
    assert before - timedelta(seconds=1) <= record.received_at <= datetime.now(UTC)
    assert record.started_at == description["startDate"]
    assert record.stopped_at == description["stopDate"]
    assert json.loads(record.output or "") == {
        "outcome": "accepted",
        "messageId": message_id,
        "order": order,
    }
    assert record.error is None
    assert record.cause is None
    retention = record.expires_at - record.received_at
    assert timedelta(days=30) - timedelta(seconds=1) <= retention <= timedelta(days=30)
    assert json.loads(record.input) == {
        "workflowId": "order-events",
        "messageId": message_id,
        "topicArn": ORDERS_TOPIC,
        "subject": "order paid",
        "timestamp": json.loads(body)["Timestamp"],
        "message": order,
        "rawMessage": json.dumps(order),
        "messageAttributes": {"tenant": {"Type": "String", "Value": "acme"}},
    }
    assert stack.executions.find_by_execution_id(record.execution_id) == record


def test_rejected_order_fails_and_the_record_keeps_error_and_cause(stack: Stack) -> None:
    body = stack.signer.notification(json.dumps({"status": "rejected", "orderId": "B-2"}))

    reply = stack.deliver("order-events", body)

    assert reply.status == 200
    assert reply.body["status"] == "accepted"
    record = stack.record("order-events", message_id_of(body))
    assert record.execution_arn is not None
    stack.settle(record.execution_arn)
    failed = stack.record("order-events", message_id_of(body))
    assert failed.status == "FAILED"
    assert failed.error == "OrderRejected"
    assert failed.cause == "The order event has status 'rejected'."
    assert failed.output is None
    assert failed.stopped_at is not None


def test_five_deliveries_of_one_message_start_exactly_one_execution(stack: Stack) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    message_id = message_id_of(body)

    replies = [stack.deliver("order-events", body) for _ in range(5)]

    assert [r.status for r in replies] == [200] * 5
    assert [r.body["status"] for r in replies] == ["accepted"] + ["duplicate"] * 4
    assert [r.body.get("deliveries") for r in replies[1:]] == [2, 3, 4, 5]
    assert {r.body["executionId"] for r in replies} == {f"order-events.{message_id}"}
    assert len(stack.executions_of("order-events")) == 1
    assert stack.record("order-events", message_id).deliveries == 5


def test_failed_start_answers_503_and_the_redelivery_starts_it_once(stack: Stack) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    message_id = message_id_of(body)
    stack.fail("sfn.StartExecution", "ThrottlingException")

    first = stack.deliver("order-events", body)

    assert first.status == 503
    assert first.body["error"]["code"] == "execution_start_failed"
    claim = stack.record("order-events", message_id)
    assert claim.status == "RECEIVED"
    assert claim.deliveries == 1
    assert "ThrottlingException" in (claim.last_start_error or "")
    assert stack.executions_of("order-events") == []

    second = stack.deliver("order-events", body)

    assert second.status == 200
    assert second.body["status"] == "duplicate"
    assert len(stack.executions_of("order-events")) == 1
    record = stack.record("order-events", message_id)
    assert record.status == "RUNNING"
    assert record.deliveries == 2
    assert record.last_start_error is None


def test_unwritable_claim_answers_503_and_starts_nothing(stack: Stack) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    stack.fail("dynamodb.UpdateItem", "ProvisionedThroughputExceededException")

    reply = stack.deliver("order-events", body)

    assert reply.status == 503
    assert reply.body["error"]["code"] == "dependency_unavailable"
    assert stack.executions.get("order-events", message_id_of(body)) is None
    assert stack.executions_of("order-events") == []


def test_run_started_but_not_marked_running_still_answers_200_and_settles_later(
    stack: Stack,
) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    stack.deliver("order-events", stack.signer.notification("warms the registry cache"))
    # The claim is the first UpdateItem; marking the record RUNNING is the second.
    stack.fail("dynamodb.UpdateItem", "ThrottlingException", after=1)

    reply = stack.deliver("order-events", body)

    assert reply.status == 200
    assert reply.body["status"] == "accepted"
    record = stack.record("order-events", message_id_of(body))
    assert record.status == "RECEIVED"
    [execution] = [
        e for e in stack.executions_of("order-events") if e["name"] == message_id_of(body)
    ]
    stack.settle(execution["executionArn"])
    assert stack.record("order-events", message_id_of(body)).status == "SUCCEEDED"


def test_an_accepted_notification_costs_four_aws_calls_and_a_log_entry(stack: Stack) -> None:
    stack.deliver("order-events", stack.signer.notification("first: reads the registry"))
    cold = list(stack.calls.names)
    stack.calls.clear()

    reply = stack.deliver("order-events", stack.signer.notification(json.dumps({"n": 2})))

    assert reply.body["status"] == "accepted"
    # The claim, its input (an item of its own: the record's later writes do not carry it),
    # the start, the mark RUNNING, then the delivery log's entry.
    warm = [
        "dynamodb.UpdateItem",
        "dynamodb.PutItem",
        "sfn.StartExecution",
        "dynamodb.UpdateItem",
        "dynamodb.PutItem",  # the delivery log's entry, after the work
    ]
    assert cold == ["dynamodb.GetItem", *warm]
    assert stack.calls.names == warm


def test_a_duplicate_of_a_running_message_costs_one_aws_call(stack: Stack) -> None:
    body = stack.signer.notification("once")
    stack.deliver("order-events", body)
    stack.calls.clear()

    reply = stack.deliver("order-events", body)

    assert reply.body["status"] == "duplicate"
    assert stack.calls.names == ["dynamodb.UpdateItem", "dynamodb.PutItem"]


def test_base64_encoded_body_is_decoded(stack: Stack) -> None:
    body = stack.signer.notification("encoded on the way")

    reply = stack.deliver("order-events", body, base64_encoded=True)

    assert reply.status == 200
    assert reply.body["status"] == "accepted"


def test_non_json_message_reaches_the_workflow_as_a_string(stack: Stack) -> None:
    reply = stack.deliver("audit-log", stack.audit_signer.notification("plain text, not JSON"))

    assert reply.status == 200
    record = stack.record("audit-log", reply.body["messageId"])
    assert record.execution_arn is not None
    stack.settle(record.execution_arn)
    output = json.loads(stack.record("audit-log", reply.body["messageId"]).output or "")
    assert output == {
        "subject": None,
        "topicArn": stack.audit_signer.topic_arn,
        "event": "plain text, not JSON",
    }
