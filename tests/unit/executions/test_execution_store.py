"""The executions table (moto): one record per message, and statuses that only move forward."""

from __future__ import annotations

from datetime import timedelta

import pytest

from snsflow import aws
from snsflow.store.executions import (
    ExecutionClaim,
    ExecutionStatus,
    ExecutionStore,
    StatusChange,
)
from tests.unit.executions.fakes import T0

ARN = "arn:aws:states:us-east-1:123456789012:execution:m:msg-1"


@pytest.fixture
def store(dynamodb_tables: dict[str, str]) -> ExecutionStore:
    return ExecutionStore(aws.dynamodb_resource().Table(dynamodb_tables["Executions"]))


def claim(message_id: str = "msg-1", minutes: int = 0) -> ExecutionClaim:
    return ExecutionClaim(
        workflow_id="w",
        message_id=message_id,
        execution_id=f"w.{message_id}",
        execution_name=message_id,
        topic_arn="arn:aws:sns:us-east-1:123456789012:t",
        subject=None,
        message_timestamp="2026-03-01T09:00:00.000Z",
        input="{}",
        received_at=T0 + timedelta(minutes=minutes),
        expires_at=T0 + timedelta(days=30),
    )


def test_claims_of_one_message_make_one_record_counting_deliveries(
    store: ExecutionStore,
) -> None:
    first = store.claim(claim())
    later = claim().model_copy(update={"received_at": T0 + timedelta(minutes=5), "input": "{1}"})
    second = store.claim(later)

    assert (first.deliveries, second.deliveries) == (1, 2)
    assert second.received_at == T0  # the first delivery's time and input stay
    assert second.input == "{}"
    assert second.status is ExecutionStatus.RECEIVED
    assert store.find_by_execution_id("w.msg-1") == second


FORWARD = [
    (ExecutionStatus.RECEIVED, ExecutionStatus.RUNNING, True),
    (ExecutionStatus.RECEIVED, ExecutionStatus.SUCCEEDED, True),
    (ExecutionStatus.RUNNING, ExecutionStatus.FAILED, True),
    (ExecutionStatus.RUNNING, ExecutionStatus.RUNNING, False),
    (ExecutionStatus.SUCCEEDED, ExecutionStatus.RUNNING, False),
    (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, False),
    (ExecutionStatus.ABORTED, ExecutionStatus.SUCCEEDED, False),
]


@pytest.mark.parametrize(("current", "target", "moves"), FORWARD)
def test_a_record_only_moves_forward(
    store: ExecutionStore, current: ExecutionStatus, target: ExecutionStatus, moves: bool
) -> None:
    store.claim(claim())
    if current is not ExecutionStatus.RECEIVED:
        store.change_status("w", "msg-1", StatusChange(status=current, execution_arn=ARN))

    moved = store.change_status(
        "w", "msg-1", StatusChange(status=target, execution_arn=ARN, error="E")
    )

    assert moved is moves
    record = store.get("w", "msg-1")
    assert record is not None
    assert record.status is (target if moves else current)


def test_a_status_change_for_a_missing_record_writes_nothing(store: ExecutionStore) -> None:
    change = StatusChange(status=ExecutionStatus.SUCCEEDED, execution_arn=ARN)

    assert store.change_status("w", "never-claimed", change) is False
    assert store.get("w", "never-claimed") is None


def test_records_in_a_status_are_listed_oldest_first_up_to_a_limit(store: ExecutionStore) -> None:
    for minute in (3, 1, 2, 9):
        store.claim(claim(f"m{minute}", minutes=minute))

    found = store.oldest_with_status(
        "w", ExecutionStatus.RECEIVED, received_before=T0 + timedelta(minutes=5), limit=2
    )

    assert [r.message_id for r in found] == ["m1", "m2"]
