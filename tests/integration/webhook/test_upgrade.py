"""A stack just upgraded from the executions table of before issue 15: a message whose record
is still in the old table (not yet moved by the reconciler) may be delivered again — SNS
redelivers, or ``snsflow recover`` brings a dead-letter copy. The webhook moves that record
first, so the delivery is a duplicate of it: never a second execution, and the record keeps
its history (outcome, receive time, deliveries)."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from functions.webhook import handler as webhook_handler
from snsflow import aws
from tests.integration.webhook.conftest import Stack, later


def test_a_redelivery_of_a_message_not_yet_moved_is_a_duplicate_of_its_old_record(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    first = stack.deliver("order-events", body)
    message_id = first.body["messageId"]
    [execution] = stack.executions_of("order-events")
    stack.settle(execution["executionArn"])
    before = stack.record("order-events", message_id)
    legacy = stack.upgrade(monkeypatch)
    stack.calls.clear()

    again = stack.deliver("order-events", body)

    assert again.status == 200
    assert (again.body["status"], again.body["deliveries"]) == ("duplicate", 2)
    assert "sfn.StartExecution" not in stack.calls.names
    assert len(stack.executions_of("order-events")) == 1
    after = stack.record("order-events", message_id)
    assert after.model_copy(update={"deliveries": 1}) == before
    assert legacy.scan(ConsistentRead=True)["Items"] == []
    # The reconciler finds nothing left to move.
    assert stack.reconcile(later(minutes=1), monkeypatch)["started"] == 0
    assert stack.record("order-events", message_id).deliveries == 2


def test_a_redelivery_of_a_claim_not_yet_moved_starts_it_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.fail("sfn.StartExecution", "ServiceUnavailable", http_status=503)
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    assert stack.deliver("order-events", body).status == 503
    stack.upgrade(monkeypatch)

    again = stack.deliver("order-events", body)

    assert again.status == 200
    assert (again.body["status"], again.body["deliveries"]) == ("duplicate", 2)
    [execution] = stack.executions_of("order-events")
    record = stack.record("order-events", json.loads(body)["MessageId"])
    assert (record.status, record.execution_arn) == ("RUNNING", execution["executionArn"])


def test_while_the_old_table_holds_records_each_delivery_reads_it_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.deliver("order-events", stack.signer.notification("warm"))  # reads the registry
    stack.calls.clear()
    assert stack.deliver("order-events", stack.signer.notification("before")).status == 200
    before = Counter(stack.calls.names)
    stack.upgrade(monkeypatch)  # the old table holds those records
    stack.deliver("order-events", stack.signer.notification("first"))  # asks if it is empty
    stack.calls.clear()

    reply = stack.deliver("order-events", stack.signer.notification("second"))

    assert reply.body["status"] == "accepted"
    assert Counter(stack.calls.names) - before == {"dynamodb.GetItem": 1}
    assert before - Counter(stack.calls.names) == {}


def test_an_empty_old_table_is_read_once_per_instance_not_per_delivery(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stack deployed since issue 15 has the old table too, empty from the start.
    stack.upgrade(monkeypatch)
    stack.calls.clear()
    stack.deliver("order-events", stack.signer.notification("first"))
    assert stack.calls.names.count("dynamodb.Scan") == 1
    stack.calls.clear()

    reply = stack.deliver("order-events", stack.signer.notification("second"))

    assert reply.body["status"] == "accepted"
    assert stack.calls.names == [
        "dynamodb.UpdateItem",
        "dynamodb.PutItem",
        "sfn.StartExecution",
        "dynamodb.UpdateItem",
        "dynamodb.PutItem",
    ]


def test_an_old_table_deleted_by_hand_stops_neither_deliveries_nor_the_reconciler(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.fail("sfn.StartExecution", "ServiceUnavailable", http_status=503)
    stranded = stack.signer.notification("stranded")
    assert stack.deliver("order-events", stranded).status == 503  # a claim for the reconciler
    executions = aws.dynamodb_resource().Table(os.environ["SNSFLOW_EXECUTIONS_TABLE_NAME"])
    # Deleted (once empty) by an operator before a version drops it from the stack.
    monkeypatch.setenv("SNSFLOW_LEGACYEXECUTIONS_TABLE_NAME", "snsflow-test-deleted-table")
    webhook_handler._settings.cache_clear()
    webhook_handler._webhook.cache_clear()

    reply = stack.deliver("order-events", stack.signer.notification("new"))
    report = stack.reconcile(later(minutes=6), monkeypatch)

    assert reply.body["status"] == "accepted"
    assert report["started"] == 1
    assert len(executions.scan()["Items"]) == 4  # two records and their inputs
