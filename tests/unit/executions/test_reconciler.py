"""The reconciler's bounds: a run does limited work, shared fairly between workflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from snsflow.executions import ExecutionLauncher, ExecutionStartFailedError
from snsflow.reconciler import Reconciler, ReconcilerLimits
from snsflow.sns import Notification
from snsflow.stepfunctions import ExecutionDescription
from snsflow.store.executions import ExecutionStatus
from snsflow.store.workflows import WorkflowRecord
from tests.unit.executions.fakes import (
    T0,
    Clock,
    FakeStarter,
    InMemoryExecutionRecords,
    workflow,
)

LIMITS = ReconcilerLimits(
    start_grace=timedelta(minutes=5),
    running_check_after=timedelta(minutes=15),
    max_starts=4,
    max_checks=4,
)


@dataclass
class Workflows:
    listed: list[WorkflowRecord]

    def all(self) -> list[WorkflowRecord]:
        return self.listed


@dataclass
class Describer:
    described: list[str] = field(default_factory=list)

    def describe(self, arn: str) -> ExecutionDescription:
        self.described.append(arn)
        return ExecutionDescription(execution_arn=arn, status="SUCCEEDED", started_at=T0)


def stranded_claims(records: InMemoryExecutionRecords, target: WorkflowRecord, count: int) -> None:
    starter = FakeStarter(failure="outage")
    launcher = ExecutionLauncher(records, starter, clock=Clock(), retention=timedelta(days=1))
    for n in range(count):
        message = Notification(
            message_id=f"{target.workflow_id}-{n}",
            topic_arn="arn:aws:sns:us-east-1:123456789012:t",
            message="m",
            timestamp=T0,
            timestamp_raw="2026-03-01T09:00:00.000Z",
            signature_version="1",
            signing_cert_url="https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
            unsubscribe_url="https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        )
        with pytest.raises(ExecutionStartFailedError):
            launcher.accept(target, message)


def reconciler(
    records: InMemoryExecutionRecords,
    workflows: list[WorkflowRecord],
    starter: FakeStarter,
    describer: Describer,
) -> Reconciler:
    clock = Clock(T0 + timedelta(hours=1))
    return Reconciler(
        workflows=Workflows(workflows),
        records=records,
        launcher=ExecutionLauncher(records, starter, clock=clock, retention=timedelta(days=1)),
        describer=describer,
        clock=clock,
        limits=LIMITS,
    )


def test_one_run_starts_at_most_its_share_per_workflow() -> None:
    busy, quiet = workflow("busy"), workflow("quiet")
    records = InMemoryExecutionRecords()
    stranded_claims(records, busy, 10)
    stranded_claims(records, quiet, 1)
    starter = FakeStarter()

    report = reconciler(records, [busy, quiet], starter, Describer()).run()

    assert report.started == 3  # two of busy's ten (its half of four), quiet's one
    assert {name.split("-")[0] for name in starter.started} == {"busy", "quiet"}


def test_express_runs_are_not_described() -> None:
    express = workflow("fast", state_machine_type="EXPRESS")
    records = InMemoryExecutionRecords()
    stranded_claims(records, express, 1)
    describer = Describer()
    run = reconciler(records, [express], FakeStarter(), describer)

    first = run.run()
    second = run.run()

    assert first.started == 1
    assert second.checked == 0
    assert describer.described == []
    # An EXPRESS run marks its record RUNNING itself (the fakes run nothing).
    assert {r.status for r in records.records.values()} == {ExecutionStatus.RECEIVED}
