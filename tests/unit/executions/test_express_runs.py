"""EXPRESS claims: started without marking them (the run does), settled when a run went silent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from snsflow.executions import ExecutionLauncher, ExecutionStartFailedError
from snsflow.reconciler import OUTCOME_NOT_RECORDED, Reconciler, ReconcilerLimits
from snsflow.sns import Notification
from snsflow.stepfunctions import ExecutionDescription
from snsflow.store.executions import ExecutionRecord, ExecutionStatus, StatusChange
from snsflow.store.workflows import WorkflowRecord
from tests.unit.executions.fakes import (
    T0,
    Clock,
    FakeStarter,
    InMemoryExecutionRecords,
    workflow,
)

EXPRESS = workflow("fast", state_machine_type="EXPRESS")
RUN_ARN = "arn:aws:states:us-east-1:123456789012:express:fast:m:1"
LIMITS = ReconcilerLimits(
    start_grace=timedelta(minutes=5),
    running_check_after=timedelta(minutes=2),
    max_starts=10,
    max_checks=10,
)


def notification(message_id: str = "m-1") -> Notification:
    return Notification(
        message_id=message_id,
        topic_arn="arn:aws:sns:us-east-1:123456789012:orders",
        message="{}",
        timestamp=T0,
        timestamp_raw="2026-03-01T09:00:00.000Z",
        signature_version="1",
        signing_cert_url="https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
        unsubscribe_url="https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    )


class NoDescriptions:
    def describe(self, arn: str) -> ExecutionDescription:
        raise AssertionError(f"an EXPRESS execution cannot be described: {arn}")


def launcher(
    records: InMemoryExecutionRecords, starter: FakeStarter, clock: Clock
) -> ExecutionLauncher:
    return ExecutionLauncher(records, starter, clock=clock, retention=timedelta(days=1))


def reconciler(records: InMemoryExecutionRecords, starter: FakeStarter, clock: Clock) -> Reconciler:
    class Workflows:
        def all(self) -> list[WorkflowRecord]:
            return [EXPRESS]

    return Reconciler(
        workflows=Workflows(),
        records=records,
        launcher=launcher(records, starter, clock),
        describer=NoDescriptions(),
        clock=clock,
        limits=LIMITS,
    )


def taken_by_a_run(
    records: InMemoryExecutionRecords, *, started_after: timedelta
) -> ExecutionRecord:
    """A claim whose run took it (as the deployed definition's first state does)."""
    launcher(records, FakeStarter(), Clock()).accept(EXPRESS, notification())
    change = StatusChange(
        status=ExecutionStatus.RUNNING, execution_arn=RUN_ARN, started_at=T0 + started_after
    )
    assert records.change_status("fast", "m-1", change)
    return records.records[("fast", "m-1")]


def test_an_express_start_leaves_the_record_for_its_run_to_take() -> None:
    records, starter = InMemoryExecutionRecords(), FakeStarter()

    acceptance = launcher(records, starter, Clock()).accept(EXPRESS, notification())

    assert starter.calls == 1
    assert acceptance.record.status is ExecutionStatus.RECEIVED
    assert records.records[("fast", "m-1")].status is ExecutionStatus.RECEIVED
    assert records.records[("fast", "m-1")].execution_arn is None


def test_an_express_run_still_running_within_the_express_limit_is_left_alone() -> None:
    records = InMemoryExecutionRecords()
    taken_by_a_run(records, started_after=timedelta(0))

    report = reconciler(records, FakeStarter(), Clock(T0 + timedelta(minutes=5))).run()

    assert report.unrecorded == 0
    assert records.records[("fast", "m-1")].status is ExecutionStatus.RUNNING


def test_an_express_run_silent_past_the_express_limit_is_recorded_failed() -> None:
    records = InMemoryExecutionRecords()
    taken_by_a_run(records, started_after=timedelta(0))

    report = reconciler(records, FakeStarter(), Clock(T0 + timedelta(minutes=7))).run()

    assert report.unrecorded == 1
    record = records.records[("fast", "m-1")]
    assert record.status is ExecutionStatus.FAILED
    assert record.error == OUTCOME_NOT_RECORDED
    assert record.cause
    assert record.execution_arn == RUN_ARN


def test_an_express_run_started_late_is_timed_from_its_start_not_its_delivery() -> None:
    records = InMemoryExecutionRecords()
    taken_by_a_run(records, started_after=timedelta(minutes=30))

    report = reconciler(records, FakeStarter(), Clock(T0 + timedelta(minutes=33))).run()

    assert report.unrecorded == 0
    assert records.records[("fast", "m-1")].status is ExecutionStatus.RUNNING


def test_a_stranded_express_claim_is_started_again_and_left_to_its_run() -> None:
    records, starter = InMemoryExecutionRecords(), FakeStarter(failure="outage")
    with pytest.raises(ExecutionStartFailedError):
        launcher(records, starter, Clock()).accept(EXPRESS, notification())
    starter.failure = None

    report = reconciler(records, starter, Clock(T0 + timedelta(minutes=6))).run()

    assert report.started == 1
    assert starter.calls == 2
    assert records.records[("fast", "m-1")].status is ExecutionStatus.RECEIVED
