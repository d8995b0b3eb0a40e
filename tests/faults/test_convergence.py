"""Nothing lost, nothing twice, under DynamoDB and Step Functions faults at random points.

Each seed: a batch of signed notifications is delivered by the SNS model (up to 4 attempts each,
some 2xx answers missed by SNS, deliveries interleaved) while about a quarter of the webhook's
AWS calls fail (throttling, outages, connection errors — or the work done and the answer
lost); then the runs' status events are sent through the status function, some lost, the rest
under the same faults; then the faults stop and the reconciler runs once. After that every
message SNS got a 2xx for, and every message claimed at all, has exactly one execution and a
record that agrees with Step Functions; a message with no claim had no 2xx (SNS gave up on it
and would hand it to a dead-letter queue).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import pytest

from snsflow.store.executions import ExecutionRecord
from tests.faults.delivery import SnsDeliveries, StatusEvents, events_of_finished_runs
from tests.faults.injection import FaultInjector, injected_faults
from tests.integration.webhook.conftest import Stack, later
from tests.support.apigw import execution_status_event

SEEDS = [11, 23, 37, 41, 59]
MESSAGES_PER_SEED = 10
FAULT_RATE = 0.25
STATUS_EVENT_LOSS_RATE = 0.3
#: 5xx codes that tell SNS "retry": the webhook's dependency failures.
RETRYABLE_CODES = {"dependency_unavailable", "execution_start_failed"}


@dataclass
class Outcome:
    """What a seed did, for the failure message."""

    seed: int
    never_claimed: list[str]
    started_by_reconciler: int
    faults: int
    status_events_lost: int

    def __str__(self) -> str:
        return (
            f"seed={self.seed}: {self.faults} faults injected, "
            f"{len(self.never_claimed)} messages never claimed, "
            f"{self.started_by_reconciler} started by the reconciler, "
            f"{self.status_events_lost} status events lost"
        )


def _orders(rng: random.Random, stack: Stack, seed: int) -> list[str]:
    statuses = ["paid", "paid", "cancelled", "rejected"]  # rejected orders fail on purpose
    return [
        stack.signer.notification(
            json.dumps({"status": rng.choice(statuses), "orderId": f"F-{seed}-{n}"}),
            subject=rng.choice([None, "order"]),
        )
        for n in range(MESSAGES_PER_SEED)
    ]


def assert_record_agrees_with_step_functions(
    record: ExecutionRecord, description: dict[str, Any], body: str
) -> None:
    message = json.loads(body)
    assert record.execution_arn == description["executionArn"]
    assert record.status == description["status"]
    assert record.started_at == description["startDate"]
    assert record.stopped_at == description.get("stopDate")
    assert record.output == description.get("output")
    assert record.error == description.get("error")
    assert record.cause == description.get("cause")
    assert record.input == description["input"]
    assert json.loads(record.input)["messageId"] == message["MessageId"]
    assert record.topic_arn == message["TopicArn"]
    assert record.subject == message.get("Subject")
    assert record.message_timestamp == message["Timestamp"]
    assert record.last_start_error is None


@pytest.mark.parametrize("seed", SEEDS)
def test_after_sns_retries_and_one_reconciler_pass_every_message_has_one_true_execution(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    bodies = _orders(rng, stack, seed)
    injector = FaultInjector(rng, rate=FAULT_RATE)
    sns = SnsDeliveries(stack, rng, injector)
    status_events = StatusEvents(rng, loss_rate=STATUS_EVENT_LOSS_RATE)

    with injected_faults(injector):
        sns.deliver_all(bodies)
        with injector.paused():
            events = events_of_finished_runs(stack, rng)
        status_events.send(events)
    report = stack.reconcile(later(minutes=16), monkeypatch)
    # EventBridge reports the runs the reconciler started (or found) like any other.
    for record in _records(stack, bodies).values():
        if record is not None and not record.status.is_terminal and record.execution_arn:
            stack.send_status_event(
                execution_status_event(stack.finished_execution(record.execution_arn))
            )

    records = _records(stack, bodies)
    outcome = Outcome(
        seed=seed,
        never_claimed=[message_id for message_id, record in records.items() if record is None],
        started_by_reconciler=report["started"],
        faults=len(injector.injected),
        status_events_lost=status_events.lost + status_events.dropped_after_retries,
    )
    executions = {e["name"]: e for e in stack.executions_of("order-events")}
    assert len(executions) == len(stack.executions_of("order-events")), outcome  # names unique
    assert len(executions) == MESSAGES_PER_SEED - len(outcome.never_claimed), outcome
    for body in bodies:
        message_id = json.loads(body)["MessageId"]
        record = records[message_id]
        if record is None:  # SNS gave up before any claim was written
            assert not sns.acknowledged(message_id), outcome
            assert message_id not in executions, outcome
            continue
        assert message_id in executions, outcome
        description = stack.finished_execution(executions[message_id]["executionArn"])
        assert_record_agrees_with_step_functions(record, description, body)
        assert record.status.is_terminal, outcome
        assert 1 <= record.deliveries <= len(sns.attempts[message_id]), outcome
    assert any(attempt.status >= 500 for attempt in sns.all_attempts()), outcome  # faults bit
    for attempt in sns.all_attempts():  # a fault is never a crash, and always "retry"
        assert attempt.status in (200, 503), (attempt, outcome)
        if attempt.status == 503:
            assert attempt.code in RETRYABLE_CODES, (attempt, outcome)


def _records(stack: Stack, bodies: list[str]) -> dict[str, ExecutionRecord | None]:
    ids = [json.loads(body)["MessageId"] for body in bodies]
    return {message_id: stack.executions.get("order-events", message_id) for message_id in ids}
