"""Claim → start → running, with in-memory ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from snsflow.executions import ExecutionLauncher, ExecutionStartFailedError
from snsflow.sns import Notification
from snsflow.store.executions import ExecutionStatus
from tests.unit.executions.fakes import (
    OUTAGE,
    Clock,
    FakeStarter,
    InMemoryExecutionRecords,
    workflow,
)


def notification(message_id: str = "11111111-2222-3333-4444-555555555555") -> Notification:
    return Notification(
        message_id=message_id,
        topic_arn="arn:aws:sns:us-east-1:123456789012:orders",
        message='{"status": "paid"}',
        timestamp=datetime(2026, 3, 1, 8, 59, tzinfo=UTC),
        timestamp_raw="2026-03-01T08:59:00.000Z",
        signature_version="1",
        signing_cert_url="https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
        unsubscribe_url="https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    )


@pytest.fixture
def records() -> InMemoryExecutionRecords:
    return InMemoryExecutionRecords()


@pytest.fixture
def starter() -> FakeStarter:
    return FakeStarter()


@pytest.fixture
def launcher(records: InMemoryExecutionRecords, starter: FakeStarter) -> ExecutionLauncher:
    return ExecutionLauncher(records, starter, clock=Clock(), retention=timedelta(days=7))


def test_first_delivery_is_claimed_started_and_marked_running(
    launcher: ExecutionLauncher, records: InMemoryExecutionRecords, starter: FakeStarter
) -> None:
    acceptance = launcher.accept(workflow(), notification())

    assert acceptance.outcome == "accepted"
    [record] = records.records.values()
    assert record.status is ExecutionStatus.RUNNING
    assert record.deliveries == 1
    assert record.execution_arn == acceptance.record.execution_arn
    assert record.expires_at - record.received_at == timedelta(days=7)
    assert starter.calls == 1


def test_a_redelivery_of_a_running_message_starts_nothing(
    launcher: ExecutionLauncher, starter: FakeStarter
) -> None:
    launcher.accept(workflow(), notification())

    again = launcher.accept(workflow(), notification())

    assert again.outcome == "duplicate"
    assert again.record.deliveries == 2
    assert starter.calls == 1


def test_a_failed_start_keeps_the_claim_and_notes_why(
    launcher: ExecutionLauncher, records: InMemoryExecutionRecords, starter: FakeStarter
) -> None:
    starter.failure = "Rate exceeded"

    with pytest.raises(ExecutionStartFailedError):
        launcher.accept(workflow(), notification())

    [record] = records.records.values()
    assert record.status is ExecutionStatus.RECEIVED
    assert records.start_failures == ["Rate exceeded"]


def test_the_retry_after_a_failed_start_sends_the_stored_input(
    launcher: ExecutionLauncher, records: InMemoryExecutionRecords, starter: FakeStarter
) -> None:
    starter.failure = "Rate exceeded"
    with pytest.raises(ExecutionStartFailedError):
        launcher.accept(workflow(), notification())
    starter.failure = None

    again = launcher.accept(workflow(), notification())

    assert again.outcome == "duplicate"
    assert again.record.status is ExecutionStatus.RUNNING
    assert len(starter.started) == 1


def test_a_run_that_started_is_accepted_even_if_its_record_cannot_be_marked(
    launcher: ExecutionLauncher, records: InMemoryExecutionRecords, starter: FakeStarter
) -> None:
    records.change_failure = OUTAGE

    acceptance = launcher.accept(workflow(), notification())

    assert acceptance.outcome == "accepted"
    assert starter.calls == 1
    [record] = records.records.values()
    assert record.status is ExecutionStatus.RECEIVED  # the reconciler or status event fixes it
