"""Execution records written as the webhook and the status function write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from snsflow.executions import execution_id, execution_name
from snsflow.store.executions import (
    ExecutionClaim,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionStore,
    StatusChange,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def claim_for(workflow_id: str, message_id: str, received: datetime = T0) -> ExecutionClaim:
    """The webhook's claim of a small notification received at ``received``."""
    return ExecutionClaim(
        workflow_id=workflow_id,
        message_id=message_id,
        execution_id=execution_id(workflow_id, message_id),
        execution_name=execution_name(message_id),
        topic_arn="arn:aws:sns:us-east-1:123456789012:orders",
        subject=None,
        message_timestamp="2026-11-28T12:00:00.000Z",
        input="{}",
        received_at=received,
        expires_at=received + timedelta(days=30),
    )


def write(
    store: ExecutionStore, workflow_id: str, message_id: str, second: int, status: ExecutionStatus
) -> ExecutionRecord:
    """A record as the webhook and the status function write it."""
    store.claim(claim_for(workflow_id, message_id, T0 + timedelta(seconds=second)))
    arn = f"arn:aws:states:us-east-1:123456789012:execution:x:{message_id}"
    if status is not ExecutionStatus.RECEIVED:
        change = StatusChange(status=ExecutionStatus.RUNNING, execution_arn=arn)
        assert store.change_status(workflow_id, message_id, change)
    if status.is_terminal:
        # As the status function records it: with the attempt of the event.
        ended = StatusChange(status=status, execution_arn=arn, redrive_count=0)
        assert store.change_status(workflow_id, message_id, ended)
    record = store.get(workflow_id, message_id)
    assert record is not None
    return record
