"""The reconciler: messages are run, and records settle, even without SNS or status events."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from snsflow import aws
from snsflow.errors import SnsflowError
from tests.integration.webhook.conftest import Stack, later
from tests.support.legacy_executions import move_to_legacy_table


def test_reconciler_starts_a_claim_whose_start_failed_after_sns_gave_up(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    message_id = json.loads(body)["MessageId"]
    stack.fail("sfn.StartExecution", "ServiceUnavailable", http_status=503)
    assert stack.deliver("order-events", body).status == 503

    report = stack.reconcile(later(minutes=6), monkeypatch)

    assert report["started"] == 1
    assert report["start_failures"] == 0
    [execution] = stack.executions_of("order-events")
    assert execution["name"] == message_id
    record = stack.record("order-events", message_id)
    assert record.status == "RUNNING"
    assert record.execution_arn == execution["executionArn"]
    stack.settle(execution["executionArn"])
    assert stack.record("order-events", message_id).status == "SUCCEEDED"


def test_reconciler_leaves_a_claim_alone_during_its_grace_period(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.fail("sfn.StartExecution", "ThrottlingException")
    body = stack.signer.notification("soon retried by SNS")
    stack.deliver("order-events", body)

    report = stack.reconcile(later(minutes=1), monkeypatch)

    assert report["started"] == 0
    assert stack.executions_of("order-events") == []
    assert stack.record("order-events", json.loads(body)["MessageId"]).status == "RECEIVED"


def test_reconciler_starts_a_stranded_claim_only_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.fail("sfn.StartExecution", "ThrottlingException")
    stack.deliver("order-events", stack.signer.notification("stranded"))

    first = stack.reconcile(later(minutes=6), monkeypatch)
    second = stack.reconcile(later(minutes=12), monkeypatch)

    assert (first["started"], second["started"]) == (1, 0)
    assert len(stack.executions_of("order-events")) == 1


def test_reconciler_settles_a_run_whose_status_event_never_came(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = stack.deliver(
        "order-events", stack.signer.notification(json.dumps({"status": "rejected"}))
    )
    record = stack.record("order-events", reply.body["messageId"])
    assert record.execution_arn is not None
    stack.finished_execution(record.execution_arn)

    report = stack.reconcile(later(minutes=20), monkeypatch)

    assert report["checked"] == 1
    assert report["finished"] == 1
    settled = stack.record("order-events", reply.body["messageId"])
    assert settled.status == "FAILED"
    assert settled.error == "OrderRejected"
    assert settled.stopped_at is not None


def test_reconciler_records_a_run_started_before_its_claim_was_marked(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.deliver("order-events", stack.signer.notification("warms the registry cache"))
    stack.fail("dynamodb.UpdateItem", "ThrottlingException", after=1)
    reply = stack.deliver("order-events", stack.signer.notification(json.dumps({"n": 1})))
    message_id = reply.body["messageId"]
    [execution] = [e for e in stack.executions_of("order-events") if e["name"] == message_id]
    stack.finished_execution(execution["executionArn"])

    # The start is retried by name: Step Functions says the (closed) execution exists.
    report = stack.reconcile(later(minutes=6), monkeypatch)

    assert report["started"] == 1
    assert len(stack.executions_of("order-events")) == 2
    record = stack.record("order-events", message_id)
    assert record.status == "RUNNING"
    assert record.execution_arn == execution["executionArn"]
    stack.reconcile(later(minutes=20), monkeypatch)
    assert stack.record("order-events", message_id).status == "SUCCEEDED"


def test_a_reconciler_run_that_cannot_list_the_workflows_fails_and_is_counted(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.fail("dynamodb.Scan", "ProvisionedThroughputExceededException", times=3)
    capsys.readouterr()

    with pytest.raises(SnsflowError):
        stack.reconcile(later(minutes=6), monkeypatch)

    assert '"ReconcilerRunsFailed":[1.0]' in capsys.readouterr().out


def test_reconciler_moves_the_old_tables_records_first_then_settles_them(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A claim whose start failed, in a stack just upgraded: its record is in the old table.
    stack.fail("sfn.StartExecution", "ServiceUnavailable", http_status=503)
    body = stack.signer.notification(json.dumps({"status": "paid"}))
    assert stack.deliver("order-events", body).status == 503
    executions = aws.dynamodb_resource().Table(os.environ["SNSFLOW_EXECUTIONS_TABLE_NAME"])
    legacy = move_to_legacy_table(executions, "snsflow-test-legacy-executions")
    monkeypatch.setenv("SNSFLOW_LEGACYEXECUTIONS_TABLE_NAME", legacy.name)

    report = stack.reconcile(later(minutes=6), monkeypatch)

    assert report["started"] == 1  # moved before this run's passes
    assert legacy.scan(ConsistentRead=True)["Items"] == []
    [execution] = stack.executions_of("order-events")
    record = stack.record("order-events", json.loads(body)["MessageId"])
    assert (record.status, record.execution_arn) == ("RUNNING", execution["executionArn"])


def test_reconciler_checks_the_confirmed_subscription_against_sns(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Confirmed by the webhook with the ARN SNS's answer named; moto's SNS has no such
    # subscription (as after an unsubscribe whose UnsubscribeConfirmation never came).
    assert stack.deliver("order-events", stack.signer.subscription_confirmation()).status == 200
    [record] = stack.subscriptions.list_for_workflow("order-events")
    assert record.subscription_arn is not None
    assert record.sns_check is None

    at = later(minutes=5)
    first = stack.reconcile(at, monkeypatch)
    second = stack.reconcile(at + timedelta(minutes=5), monkeypatch)

    [checked] = stack.subscriptions.list_for_workflow("order-events")
    assert checked.sns_check is not None
    assert checked.sns_check.result == "not_found"
    assert checked.sns_check.checked_at == at.replace(microsecond=at.microsecond // 1000 * 1000)
    assert (first["sns_checked"], first["sns_check_changes"]) == (1, 1)
    # Not asked again: SNS does not have that ARN.
    assert (second["sns_checked"], second["sns_check_changes"]) == (0, 0)
