"""The status handler: records move forward only, whatever order the events come in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from snsflow.errors import SnsflowError
from tests.integration.webhook.conftest import Stack
from tests.support.apigw import execution_status_event


def run_to_end(stack: Stack, message: str, workflow_id: str = "order-events") -> dict[str, Any]:
    """Deliver a message and wait for its run to end (no status event sent yet)."""
    reply = stack.deliver(workflow_id, stack.signer.notification(message))
    assert reply.body["status"] == "accepted"
    record = stack.record(workflow_id, reply.body["messageId"])
    assert record.execution_arn is not None
    return stack.finished_execution(record.execution_arn)


def test_a_late_running_event_after_success_is_ignored(stack: Stack) -> None:
    description = run_to_end(stack, json.dumps({"status": "paid"}))
    stack.send_status_event(execution_status_event(description))

    late = stack.send_status_event(execution_status_event(description, status="RUNNING"))

    assert late["result"] == "ignored"
    record = stack.record("order-events", json.loads(description["input"])["messageId"])
    assert record.status == "SUCCEEDED"
    assert record.stopped_at == description["stopDate"]


def test_a_terminal_status_is_final(stack: Stack) -> None:
    description = run_to_end(stack, json.dumps({"status": "paid"}))
    stack.send_status_event(execution_status_event(description))

    contradicting = execution_status_event(description, status="ABORTED")
    result = stack.send_status_event(contradicting)

    assert result["result"] == "ignored"
    record = stack.record("order-events", json.loads(description["input"])["messageId"])
    assert record.status == "SUCCEEDED"


def test_a_success_event_arriving_before_running_settles_the_record(stack: Stack) -> None:
    description = run_to_end(stack, json.dumps({"status": "cancelled"}))
    message_id = json.loads(description["input"])["messageId"]

    first = stack.send_status_event(execution_status_event(description))
    second = stack.send_status_event(execution_status_event(description, status="RUNNING"))

    assert (first["result"], second["result"]) == ("updated", "ignored")
    record = stack.record("order-events", message_id)
    assert record.status == "SUCCEEDED"
    assert json.loads(record.output or "")["outcome"] == "cancelled"


def test_an_event_without_its_input_finds_the_record_by_execution_id(stack: Stack) -> None:
    description = run_to_end(stack, json.dumps({"status": "paid"}))

    result = stack.send_status_event(execution_status_event(description, include_input=False))

    message_id = json.loads(description["input"])["messageId"]
    assert result == {"result": "updated", "execution_id": f"order-events.{message_id}"}
    assert stack.record("order-events", message_id).status == "SUCCEEDED"


def test_an_output_too_large_for_the_record_is_truncated_and_flagged(stack: Stack) -> None:
    description = run_to_end(stack, json.dumps({"status": "paid"}))
    huge = json.dumps({"blob": "y" * 300_000})
    event = execution_status_event(description, include_input=False)
    event["detail"]["output"] = huge

    result = stack.send_status_event(event)

    assert result["result"] == "updated"
    record = stack.record("order-events", json.loads(description["input"])["messageId"])
    assert record.status == "SUCCEEDED"
    assert record.output_truncated is True
    assert record.output is not None
    assert 0 < len(record.output) < len(huge)
    assert huge.startswith(record.output)


def test_an_event_for_an_execution_snsflow_did_not_start_changes_nothing(stack: Stack) -> None:
    description = run_to_end(stack, json.dumps({"status": "paid"}))
    foreign = execution_status_event(description, include_input=False)
    foreign["detail"]["name"] = "started-by-hand"
    foreign["detail"]["executionArn"] += "-by-hand"

    result = stack.send_status_event(foreign)

    assert result["result"] == "unknown"
    record = stack.record("order-events", json.loads(description["input"])["messageId"])
    assert record.status == "RUNNING"


def test_a_malformed_event_is_dropped(stack: Stack) -> None:
    result = stack.send_status_event({"detail-type": "Something else", "detail": {}})

    assert result == {"result": "malformed"}


def test_an_event_of_another_kind_is_dropped(stack: Stack) -> None:
    description = run_to_end(stack, json.dumps({"status": "paid"}))
    event = execution_status_event(description)
    event["detail-type"] = "Step Functions State Machine Deleted"

    result = stack.send_status_event(event)

    assert result == {"result": "malformed"}
    record = stack.record("order-events", json.loads(description["input"])["messageId"])
    assert record.status == "RUNNING"


def test_a_status_event_that_cannot_be_recorded_is_raised_for_a_retry_and_counted(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    description = run_to_end(stack, json.dumps({"status": "paid"}))
    stack.fail("dynamodb.UpdateItem", "ProvisionedThroughputExceededException", times=3)
    capsys.readouterr()

    with pytest.raises(SnsflowError):
        stack.send_status_event(execution_status_event(description))

    flushed = capsys.readouterr().out
    assert '"StatusEventsFailed":[1.0]' in flushed
    record = stack.record("order-events", json.loads(description["input"])["messageId"])
    assert record.status == "RUNNING"  # untouched: the retry will bring it up to date
