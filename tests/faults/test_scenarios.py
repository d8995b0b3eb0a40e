"""The failures the design names, one by one, with SNS's default retry policy and the
reconciler's clock moved by hand."""

from __future__ import annotations

import contextlib
import json
import random

import pytest

from snsflow.store.executions import ExecutionStatus
from tests.faults.delivery import SnsDeliveries
from tests.faults.injection import SNS_DEFAULT_ATTEMPTS, FaultInjector, injected_faults
from tests.integration.webhook.conftest import Stack, later
from tests.support.apigw import execution_status_event


def message_id_of(body: str) -> str:
    return str(json.loads(body)["MessageId"])


def test_a_claim_whose_start_failed_until_sns_gave_up_is_started_once_by_the_reconciler(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid", "orderId": "G-1"}))
    stack.fail("sfn.StartExecution", "ThrottlingException", times=SNS_DEFAULT_ATTEMPTS)

    replies = [stack.deliver("order-events", body) for _ in range(SNS_DEFAULT_ATTEMPTS)]

    assert [(r.status, r.body["error"]["code"]) for r in replies] == [
        (503, "execution_start_failed")
    ] * SNS_DEFAULT_ATTEMPTS
    claim = stack.record("order-events", message_id_of(body))
    assert claim.status is ExecutionStatus.RECEIVED
    assert claim.deliveries == SNS_DEFAULT_ATTEMPTS
    assert claim.last_start_error is not None
    assert "ThrottlingException" in claim.last_start_error
    assert stack.executions_of("order-events") == []

    # Within the grace period the reconciler leaves the claim to SNS's retries.
    assert stack.reconcile(later(minutes=4), monkeypatch)["started"] == 0
    assert stack.reconcile(later(minutes=6), monkeypatch)["started"] == 1
    assert stack.reconcile(later(minutes=12), monkeypatch)["started"] == 0

    [execution] = stack.executions_of("order-events")
    assert execution["name"] == message_id_of(body)
    running = stack.record("order-events", message_id_of(body))
    assert running.status is ExecutionStatus.RUNNING
    assert running.execution_arn == execution["executionArn"]
    assert running.last_start_error is None
    stack.settle(execution["executionArn"])
    assert stack.record("order-events", message_id_of(body)).status is ExecutionStatus.SUCCEEDED


def test_a_run_whose_status_events_are_all_lost_is_settled_by_the_reconciler_after_the_wait(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = stack.signer.notification(json.dumps({"status": "rejected", "orderId": "G-2"}))
    assert stack.deliver("order-events", body).status == 200
    record = stack.record("order-events", message_id_of(body))
    assert record.execution_arn is not None
    description = stack.finished_execution(record.execution_arn)
    assert description["status"] == "FAILED"

    # SNSFLOW_RUNNING_CHECK_AFTER_SECONDS (900 s) after the delivery, not before.
    early = stack.reconcile(later(minutes=14), monkeypatch)
    assert early["checked"] == 0
    assert stack.record("order-events", message_id_of(body)).status is ExecutionStatus.RUNNING
    settled = stack.reconcile(later(minutes=16), monkeypatch)

    assert (settled["checked"], settled["finished"]) == (1, 1)
    final = stack.record("order-events", message_id_of(body))
    assert final.status is ExecutionStatus.FAILED
    assert final.stopped_at == description["stopDate"]
    assert final.error == "OrderRejected"
    assert final.cause == description["cause"]
    # A status event that turns up after all changes nothing.
    late = stack.send_status_event(execution_status_event(description, status="RUNNING"))
    assert late["result"] == "ignored"
    assert stack.record("order-events", message_id_of(body)) == final


def test_while_the_certificate_host_is_down_deliveries_get_503_and_succeed_once_it_is_back(
    stack: Stack,
) -> None:
    body = stack.signer.notification(json.dumps({"status": "paid", "orderId": "G-3"}))
    stack.certificates.failure = "connection refused"

    down = [stack.deliver("order-events", body) for _ in range(2)]
    assert [(r.status, r.body["error"]["code"]) for r in down] == [
        (503, "certificate_unavailable")
    ] * 2
    assert stack.executions.get("order-events", message_id_of(body)) is None  # nothing claimed

    stack.certificates.failure = None
    back = stack.deliver("order-events", body)
    again = stack.deliver("order-events", body)

    assert (back.status, back.body["status"]) == (200, "accepted")
    assert (again.status, again.body["status"]) == (200, "duplicate")
    # Failed fetches are not cached; the good one is, so the duplicate fetched nothing.
    assert stack.certificates.calls == [stack.signer.cert_url] * 3
    assert len(stack.executions_of("order-events")) == 1


def test_a_throttled_workflow_registry_read_is_answered_503(stack: Stack) -> None:
    stack.fail("dynamodb.GetItem", "ProvisionedThroughputExceededException")

    reply = stack.deliver("order-events", stack.signer.notification("registry throttled"))

    assert (reply.status, reply.body["error"]["code"]) == (503, "dependency_unavailable")


@pytest.mark.parametrize("seed", [5, 8, 13])
def test_faults_during_a_reconciler_run_never_start_twice_and_the_next_run_settles_all(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    bodies = [
        stack.signer.notification(json.dumps({"status": "paid", "orderId": f"H-{seed}-{n}"}))
        for n in range(6)
    ]
    stack.deliver("order-events", stack.signer.notification("warms the registry cache"))
    stack.fail("sfn.StartExecution", "ServiceUnavailable", http_status=503, times=len(bodies))
    assert {stack.deliver("order-events", body).status for body in bodies} == {503}

    rng = random.Random(seed)
    injector = FaultInjector(rng, rate=0.5)
    # A run that fails outright is a failed scheduled run: the next one picks up the rest.
    with injected_faults(injector), contextlib.suppress(Exception):
        stack.reconcile(later(minutes=6), monkeypatch)
    assert injector.injected, f"seed={seed}: no fault struck the reconciler run"
    stack.reconcile(later(minutes=11), monkeypatch)

    executions = stack.executions_of("order-events")
    names = [execution["name"] for execution in executions]
    assert len(names) == len(set(names)) == len(bodies) + 1, f"seed={seed}"
    for body in bodies:
        record = stack.record("order-events", message_id_of(body))
        assert record.status is not ExecutionStatus.RECEIVED, f"seed={seed}"
        assert record.execution_arn in {e["executionArn"] for e in executions}


def test_the_sns_model_stops_after_four_attempts_and_sees_every_answer(stack: Stack) -> None:
    # Guards the model the convergence test relies on: 4 attempts at most, 5xx retried.
    injector = FaultInjector(random.Random(0), rate=0.0)
    sns = SnsDeliveries(stack, random.Random(0), injector, answer_loss_rate=0.0)
    body = stack.signer.notification("always refused")
    stack.fail("dynamodb.UpdateItem", "ThrottlingException", times=10, after=0)

    sns.deliver_all([body])

    attempts = sns.attempts[message_id_of(body)]
    assert [attempt.number for attempt in attempts] == [1, 2, 3, 4]
    assert {attempt.status for attempt in attempts} == {503}
    assert not sns.acknowledged(message_id_of(body))
