"""The webhook's delivery log through the real handler (moto): what each outcome writes, and
that a log that cannot be written changes no answer and loses no delivery."""

from __future__ import annotations

import json
from typing import Any

import pytest

from snsflow import aws
from tests.integration.webhook.conftest import ORDERS_TOPIC, Stack


def _log(stack: Stack) -> list[dict[str, Any]]:
    table = aws.dynamodb_resource().Table("snsflow-test-deliveries")
    return list(table.scan()["Items"])


def test_an_accepted_delivery_writes_one_entry_with_its_execution(stack: Stack) -> None:
    reply = stack.deliver("order-events", stack.signer.notification(json.dumps({"n": 1})))

    [entry] = _log(stack)
    assert entry["outcome"] == "accepted"
    assert entry["partition"].startswith("order-events#")
    assert entry["messageId"] == reply.body["messageId"]
    assert entry["executionId"] == reply.body["executionId"]
    assert entry["topicArn"] == ORDERS_TOPIC
    assert entry["expiresAt"] > 0
    # One write unit: DynamoDB bills an item's names and values, under 1 KB here.
    assert len(json.dumps(entry, default=str)) < 1024


def test_a_refused_delivery_is_counted_with_its_code(stack: Stack) -> None:
    forged = json.loads(stack.signer.notification("genuine"))
    forged["Message"] = "forged"

    reply = stack.deliver("order-events", json.dumps(forged))  # SNS's headers, from the body

    assert reply.status == 403
    [counter] = _log(stack)
    assert counter["outcome"] == "refused"
    assert counter["code"] == "signature_mismatch"
    assert counter["count"] == 1


def test_an_unknown_workflow_writes_nothing(stack: Stack) -> None:
    reply = stack.deliver("no-such-workflow", stack.signer.notification("x"))

    assert reply.status == 404
    assert _log(stack) == []


def test_a_log_that_cannot_be_written_changes_no_answer_and_loses_no_delivery(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.dynamodb_client().delete_table(TableName="snsflow-test-deliveries")

    reply = stack.deliver("order-events", stack.signer.notification(json.dumps({"n": 2})))

    assert (reply.status, reply.body["status"]) == (200, "accepted")
    assert stack.record("order-events", reply.body["messageId"]).execution_arn is not None
    assert "DeliveryLogWriteFailed" in capsys.readouterr().out  # the metric's EMF document
