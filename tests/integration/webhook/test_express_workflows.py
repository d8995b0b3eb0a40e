"""EXPRESS workflows: no status events, so each run records its own outcome, exactly once.

The state machines run the deployed (wrapped) definitions in moto's interpreter, whose DynamoDB
service integration writes to the same moto tables the handlers use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from snsflow import aws
from snsflow.reconciler import OUTCOME_NOT_RECORDED
from snsflow.store.executions import ExecutionRecord, ExecutionStatus, StatusChange
from tests.integration.webhook.conftest import Stack, later

EXPRESS_WORKFLOWS = Path(__file__).resolve().parents[2] / "fixtures" / "workflows-express"


@pytest.fixture
def workflows_dir() -> Path:
    return EXPRESS_WORKFLOWS


def deliver(stack: Stack, workflow_id: str, message: dict[str, Any]) -> str:
    """Deliver a new message; its MessageId."""
    reply = stack.deliver(workflow_id, stack.signer.notification(json.dumps(message)))
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "accepted"
    return str(reply.body["messageId"])


def start_directly(stack: Stack, workflow_id: str, record: ExecutionRecord, name: str) -> str:
    """Start an execution of the message as Step Functions would for a repeated EXPRESS start
    (which is not idempotent by name; moto's is, so each gets a name of its own)."""
    response = aws.stepfunctions_client().start_execution(
        stateMachineArn=stack.workflows[workflow_id].state_machine_arn,
        name=name,
        input=record.input,
    )
    return response["executionArn"]


def test_express_run_records_its_success_and_output_without_any_status_event(
    stack: Stack,
) -> None:
    message_id = deliver(stack, "express-orders", {"status": "paid", "orderId": "E-1"})

    record = stack.outcome("express-orders", message_id)

    [execution] = stack.executions_of("express-orders")
    run = stack.finished_execution(execution["executionArn"])
    assert run["status"] == "SUCCEEDED"
    assert record.status is ExecutionStatus.SUCCEEDED
    assert record.execution_arn == execution["executionArn"]
    expected = {
        "outcome": "accepted",
        "messageId": message_id,
        "order": {"status": "paid", "orderId": "E-1"},
    }
    assert json.loads(run["output"]) == expected
    assert json.loads(record.output or "") == expected
    assert not record.output_truncated
    assert record.error is None
    assert record.started_at is not None
    assert record.stopped_at is not None
    assert record.received_at <= record.started_at <= record.stopped_at


def test_express_run_records_its_failure_and_still_fails_with_the_same_error(
    stack: Stack,
) -> None:
    message_id = deliver(stack, "express-orders", {"status": "rejected"})

    record = stack.outcome("express-orders", message_id)

    assert record.status is ExecutionStatus.FAILED
    assert record.error == "OrderRejected"
    assert record.cause == "The order event has status 'rejected'."
    assert record.output is None
    assert record.stopped_at is not None
    assert record.execution_arn is not None
    run = stack.finished_execution(record.execution_arn)
    assert (run["status"], run["error"], run["cause"]) == (
        "FAILED",
        "OrderRejected",
        "The order event has status 'rejected'.",
    )


def test_express_failure_without_a_cause_is_recorded_with_its_error(stack: Stack) -> None:
    message_id = deliver(stack, "express-orders", {"status": "lost"})

    record = stack.outcome("express-orders", message_id)

    assert record.status is ExecutionStatus.FAILED
    assert record.error == "OrderLost"
    assert not record.cause
    assert record.execution_arn is not None
    assert stack.finished_execution(record.execution_arn)["error"] == "OrderLost"


def test_express_accepted_notification_costs_three_aws_calls_and_a_log_entry(stack: Stack) -> None:
    deliver(stack, "express-orders", {"status": "paid"})  # warms the registry cache
    stack.calls.clear()

    message_id = deliver(stack, "express-orders", {"status": "paid"})

    # The claim, its input and the start, then the delivery log's entry; the run marks itself
    # RUNNING and records its outcome.
    assert stack.calls.names == [
        "dynamodb.UpdateItem",
        "dynamodb.PutItem",
        "sfn.StartExecution",
        "dynamodb.PutItem",
    ]
    assert stack.outcome("express-orders", message_id).status is ExecutionStatus.SUCCEEDED


def test_express_redelivery_starts_no_second_run(stack: Stack) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    first = stack.deliver("express-orders", body)
    settled = stack.outcome("express-orders", first.body["messageId"])
    stack.calls.clear()

    again = stack.deliver("express-orders", body)

    assert again.status == 200
    assert again.body["status"] == "duplicate"
    assert again.body["deliveries"] == 2
    assert "sfn.StartExecution" not in stack.calls.names
    assert len(stack.executions_of("express-orders")) == 1
    record = stack.record("express-orders", first.body["messageId"])
    assert record.model_copy(update={"deliveries": 1}) == settled


def test_a_second_express_execution_for_a_settled_message_does_nothing(stack: Stack) -> None:
    message_id = deliver(stack, "express-orders", {"status": "paid"})
    settled = stack.outcome("express-orders", message_id)

    second = start_directly(stack, "express-orders", settled, "again")

    run = stack.finished_execution(second)
    assert run["status"] == "SUCCEEDED"
    assert "skipped" in json.loads(run["output"])
    assert stack.record("express-orders", message_id) == settled


def claimed_but_not_started(stack: Stack, message: dict[str, Any]) -> ExecutionRecord:
    """A message whose claim was written but whose start failed: its record waits, RECEIVED."""
    stack.fail("sfn.StartExecution", "ServiceUnavailable", http_status=503)
    body = stack.signer.notification(json.dumps(message))
    assert stack.deliver("express-orders", body).status == 503
    record = stack.record("express-orders", json.loads(body)["MessageId"])
    assert record.status is ExecutionStatus.RECEIVED
    return record


def test_an_express_execution_finding_its_message_taken_by_another_run_does_nothing(
    stack: Stack,
) -> None:
    # moto's DynamoDB does not serialise concurrent conditional writes as DynamoDB does, so
    # the race is set up in order: another run has taken the record and is working.
    claimed = claimed_but_not_started(stack, {"status": "paid"})
    other_run = "arn:aws:states:us-east-1:123456789012:express:snsflow-express-orders:x:1"
    taken = StatusChange(status=ExecutionStatus.RUNNING, execution_arn=other_run)
    assert stack.executions.change_status("express-orders", claimed.message_id, taken)

    run = stack.finished_execution(start_directly(stack, "express-orders", claimed, "second"))

    assert run["status"] == "SUCCEEDED"
    assert "skipped" in json.loads(run["output"])
    record = stack.record("express-orders", claimed.message_id)
    assert (record.status, record.execution_arn, record.output) == ("RUNNING", other_run, None)


def test_express_run_never_moves_a_settled_record_back(stack: Stack) -> None:
    claimed = claimed_but_not_started(stack, {"status": "paid"})
    arn = "arn:aws:states:us-east-1:123456789012:execution:elsewhere:settled"
    aborted = StatusChange(status=ExecutionStatus.ABORTED, execution_arn=arn)
    assert stack.executions.change_status("express-orders", claimed.message_id, aborted)

    run = stack.finished_execution(start_directly(stack, "express-orders", claimed, "late"))

    assert "skipped" in json.loads(run["output"])
    record = stack.record("express-orders", claimed.message_id)
    assert (record.status, record.execution_arn, record.output) == ("ABORTED", arn, None)


@pytest.mark.parametrize(
    ("message", "run_status"),
    [({"status": "paid"}, "SUCCEEDED"), ({"status": "rejected"}, "FAILED")],
)
def test_express_outcome_is_not_written_over_a_record_that_moved_on(
    stack: Stack, message: dict[str, Any], run_status: str
) -> None:
    # This workflow's first state marks its own record ABORTED while the run goes on.
    message_id = deliver(stack, "express-overtaken", message)

    record = stack.outcome("express-overtaken", message_id)

    assert record.execution_arn is not None
    # A refused outcome write fails nothing: the run ends as its own states say.
    assert stack.finished_execution(record.execution_arn)["status"] == run_status
    assert record.status is ExecutionStatus.ABORTED
    assert (record.output, record.error, record.cause) == (None, None, None)


def test_express_output_as_large_as_the_input_is_stored_whole(stack: Stack) -> None:
    # Input (message and rawMessage) and output (the same twice) each about 240 KB: together
    # more than DynamoDB's 400 KB item limit, but the input has an item of its own.
    message = {"status": "echo", "padding": "x" * 120_000}

    record = stack.outcome("express-orders", deliver(stack, "express-orders", message))

    assert record.status is ExecutionStatus.SUCCEEDED
    assert record.output is not None
    assert json.loads(record.output)["message"] == message
    assert not record.output_truncated
    assert json.loads(record.input)["message"] == message
    assert record.execution_arn is not None
    run = stack.finished_execution(record.execution_arn)
    assert json.loads(run["output"])["message"] == message


def test_reconciler_starts_a_stranded_express_claim_which_then_records_its_outcome(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    claimed = claimed_but_not_started(stack, {"status": "paid"})

    report = stack.reconcile(later(minutes=6), monkeypatch)

    assert report["started"] == 1
    record = stack.outcome("express-orders", claimed.message_id)
    assert record.status is ExecutionStatus.SUCCEEDED
    assert record.last_start_error is None
    assert len(stack.executions_of("express-orders")) == 1


def test_reconciler_records_an_express_run_that_ended_without_its_outcome(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A path to a missing field raises States.Runtime, which no Catch handles.
    message_id = deliver(stack, "express-orders", {"status": "broken"})
    [execution] = stack.executions_of("express-orders")
    assert stack.finished_execution(execution["executionArn"])["status"] == "FAILED"
    assert stack.record("express-orders", message_id).status is ExecutionStatus.RUNNING

    early = stack.reconcile(later(minutes=3), monkeypatch)
    assert early["unrecorded"] == 0
    assert stack.record("express-orders", message_id).status is ExecutionStatus.RUNNING

    report = stack.reconcile(later(minutes=20), monkeypatch)

    assert report["unrecorded"] == 1
    record = stack.record("express-orders", message_id)
    assert record.status is ExecutionStatus.FAILED
    assert record.error == OUTCOME_NOT_RECORDED
    assert record.cause
    assert record.execution_arn == execution["executionArn"]


def test_express_redelivery_of_a_message_not_yet_moved_by_the_upgrade_starts_no_second_run(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    first = stack.deliver("express-orders", body)
    settled = stack.outcome("express-orders", first.body["messageId"])
    stack.upgrade(monkeypatch)  # the record is in the old table, not yet moved
    stack.calls.clear()

    again = stack.deliver("express-orders", body)

    assert (again.body["status"], again.body["deliveries"]) == ("duplicate", 2)
    assert "sfn.StartExecution" not in stack.calls.names
    assert len(stack.executions_of("express-orders")) == 1
    record = stack.record("express-orders", first.body["messageId"])
    assert record.model_copy(update={"deliveries": 1}) == settled


def test_an_express_claim_moved_by_the_upgrade_records_its_outcome_once_started(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.fail("sfn.StartExecution", "ServiceUnavailable", http_status=503)
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    assert stack.deliver("express-orders", body).status == 503
    stack.upgrade(monkeypatch)

    # The reconciler moves the stranded claim, then starts it with today's definition.
    assert stack.reconcile(later(minutes=6), monkeypatch)["started"] == 1

    record = stack.outcome("express-orders", json.loads(body)["MessageId"])
    assert record.status is ExecutionStatus.SUCCEEDED
    assert record.error is None
