"""Converging execution records without SNS or status events (runs on a schedule).

Two passes per workflow, each bounded, and one over every workflow's subscriptions
(:mod:`snsflow.sns_check`: the records checked against SNS, when a checker is given):

* claims still ``RECEIVED`` after a grace period had their start fail (and SNS may have given up
  retrying): start them — by the same name and stored input, so never twice;
* records still ``RUNNING`` after a while may have missed their status event (best effort):
  ask Step Functions (DescribeExecution) and record the outcome if the run has ended.

EXPRESS executions cannot be described and send no events: their runs record their own
outcome (:mod:`snsflow.definitions`). A run that is still ``RUNNING`` past the EXPRESS time
limit has ended without doing so — an error no Catch handles (``States.Runtime``,
``States.DataLimitExceeded``), the time limit itself, or a failed outcome write — and is
recorded ``FAILED`` with the error :data:`OUTCOME_NOT_RECORDED`. Starting a stranded EXPRESS
claim again is safe: a second run finds the record taken and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from snsflow.definitions import EXPRESS_MAX_DURATION
from snsflow.errors import DependencyUnavailableError
from snsflow.executions import Clock, ExecutionLauncher
from snsflow.sns_check import SnsCheckReport, SubscriptionChecker
from snsflow.status import build_status_change
from snsflow.stepfunctions import ExecutionDescription
from snsflow.store.executions import ExecutionRecord, ExecutionStatus, StatusChange
from snsflow.store.workflows import WorkflowRecord

logger = logging.getLogger(__name__)

#: The error of an EXPRESS run that ended without recording its outcome.
OUTCOME_NOT_RECORDED = "snsflow.OutcomeNotRecorded"
_OUTCOME_NOT_RECORDED_CAUSE = (
    "The EXPRESS execution ended without recording its outcome: an error no Catch can handle "
    "(States.Runtime, States.DataLimitExceeded - for example an output too large to record), "
    "its time limit, or a failed write to the executions table. See the state machine's logs."
)
#: How long after its start an EXPRESS run must have recorded its outcome (the EXPRESS time
#: limit, and a margin for the outcome write's retries).
EXPRESS_OUTCOME_DEADLINE = EXPRESS_MAX_DURATION + timedelta(minutes=1)


class WorkflowList(Protocol):
    def all(self) -> list[WorkflowRecord]: ...


class ReconcilerRecords(Protocol):
    """The part of :class:`~snsflow.store.executions.ExecutionStore` used here."""

    def oldest_open(
        self,
        workflow_id: str,
        *,
        received_before: Mapping[ExecutionStatus, datetime],
        limits: Mapping[ExecutionStatus, int],
    ) -> dict[ExecutionStatus, list[ExecutionRecord]]: ...

    def change_status(self, workflow_id: str, message_id: str, change: StatusChange) -> bool: ...


class ExecutionDescriber(Protocol):
    """:class:`~snsflow.stepfunctions.StepFunctionsExecutions`."""

    def describe(self, arn: str) -> ExecutionDescription: ...


class ReconcilerLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    start_grace: timedelta
    running_check_after: timedelta
    max_starts: int
    max_checks: int


class ReconcileReport(SnsCheckReport):
    started: int = 0
    start_failures: int = 0
    checked: int = 0
    finished: int = 0
    check_failures: int = 0
    #: EXPRESS runs found ended without an outcome (now recorded ``FAILED``).
    unrecorded: int = 0


def _share(total: int, parts: int) -> int:
    """Each workflow's part of a run's budget, so one stuck workflow cannot starve the rest."""
    return max(1, -(-total // max(parts, 1)))


class Reconciler:
    def __init__(
        self,
        *,
        workflows: WorkflowList,
        records: ReconcilerRecords,
        launcher: ExecutionLauncher,
        describer: ExecutionDescriber,
        clock: Clock,
        limits: ReconcilerLimits,
        subscription_checker: SubscriptionChecker | None = None,
    ) -> None:
        self._workflows = workflows
        self._records = records
        self._launcher = launcher
        self._describer = describer
        self._clock = clock
        self._limits = limits
        self._subscription_checker = subscription_checker

    def run(self) -> ReconcileReport:
        now = self._clock()
        workflows = self._workflows.all()
        start_limit = _share(self._limits.max_starts, len(workflows))
        check_limit = _share(self._limits.max_checks, len(workflows))
        report = ReconcileReport()
        for workflow in workflows:
            standard = workflow.state_machine_type == "STANDARD"
            running_before = now - self._limits.running_check_after
            if not standard:
                running_before = min(now - EXPRESS_OUTCOME_DEADLINE, running_before)
            # Both passes' records share their index partitions: read together.
            found = self._records.oldest_open(
                workflow.workflow_id,
                received_before={
                    ExecutionStatus.RECEIVED: now - self._limits.start_grace,
                    ExecutionStatus.RUNNING: running_before,
                },
                limits={
                    ExecutionStatus.RECEIVED: start_limit,
                    ExecutionStatus.RUNNING: check_limit,
                },
            )
            self._start_stranded(workflow, found[ExecutionStatus.RECEIVED], report)
            if standard:
                self._check_running(found[ExecutionStatus.RUNNING], report)
            else:
                self._settle_unrecorded(found[ExecutionStatus.RUNNING], now, report)
        if self._subscription_checker is not None:
            checks = self._subscription_checker.run(workflows)
            report = report.model_copy(update=checks.model_dump())
        return report

    def _start_stranded(
        self, workflow: WorkflowRecord, stranded: list[ExecutionRecord], report: ReconcileReport
    ) -> None:
        for record in stranded:
            try:
                self._launcher.start(workflow, record)
            except DependencyUnavailableError as error:
                report.start_failures += 1
                logger.warning(
                    "could not start a stranded claim",
                    extra={"executionId": record.execution_id, "reason": error.message},
                )
            else:
                report.started += 1

    def _check_running(self, running: list[ExecutionRecord], report: ReconcileReport) -> None:
        for record in running:
            if record.execution_arn is None:
                continue
            report.checked += 1
            try:
                if self._record_if_ended(record, record.execution_arn):
                    report.finished += 1
            except DependencyUnavailableError as error:
                report.check_failures += 1
                logger.warning(
                    "could not check a running execution",
                    extra={"executionId": record.execution_id, "reason": error.message},
                )

    def _record_if_ended(self, record: ExecutionRecord, execution_arn: str) -> bool:
        description = self._describer.describe(execution_arn)
        if description.status not in ExecutionStatus.__members__:
            return False  # e.g. PENDING_REDRIVE
        status = ExecutionStatus(description.status)
        if not status.is_terminal:
            return False
        change = build_status_change(
            status=status,
            execution_arn=description.execution_arn,
            started_at=description.started_at,
            stopped_at=description.stopped_at,
            output=description.output,
            error=description.error,
            cause=description.cause,
            input_bytes=len(record.input.encode("utf-8")),
            redrive_count=description.redrive_count,
        )
        return self._records.change_status(record.workflow_id, record.message_id, change)

    def _settle_unrecorded(
        self, running: list[ExecutionRecord], now: datetime, report: ReconcileReport
    ) -> None:
        deadline = now - EXPRESS_OUTCOME_DEADLINE
        for record in running:
            # A claim started late (by this reconciler) runs later than it was received.
            if record.execution_arn is None or (record.started_at or now) > deadline:
                continue
            change = StatusChange(
                status=ExecutionStatus.FAILED,
                execution_arn=record.execution_arn,
                error=OUTCOME_NOT_RECORDED,
                cause=_OUTCOME_NOT_RECORDED_CAUSE,
            )
            try:
                if self._records.change_status(record.workflow_id, record.message_id, change):
                    report.unrecorded += 1
            except DependencyUnavailableError as error:
                report.check_failures += 1
                logger.warning(
                    "could not settle an EXPRESS run without an outcome",
                    extra={"executionId": record.execution_id, "reason": error.message},
                )
