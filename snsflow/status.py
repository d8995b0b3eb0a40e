"""Execution outcomes: Step Functions "Execution Status Change" events → execution records.

Only the end of a run is sent here (:data:`EVENT_STATUSES`): its start is written by whoever
starts it (the webhook and the reconciler mark the record ``RUNNING``, a redrive puts it back to
``RUNNING``), so an event for it would cost a Lambda run and a write to change nothing.

Events are best effort and may arrive late, twice or out of order. A record only moves forward
(the store's conditional update), so a terminal status is final for its attempt, and settles a
record still ``RECEIVED`` (its mark ``RUNNING`` failed) as well as a ``RUNNING`` one; a
``RUNNING`` event (sent by the rule of a stack deployed before, during its update) changes
nothing once the record is there. A redrive starts a new attempt: events carry its number
(``redriveCount``), and the status of a newer attempt supersedes an older outcome.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from snsflow.executions import (
    MAX_EXECUTION_INPUT_BYTES,
    execution_id_for_name,
    execution_name,
)
from snsflow.store.executions import (
    ExecutionRecord,
    ExecutionStatus,
    StatusChange,
    detail_budget_bytes,
)
from snsflow.store.workflows import WorkflowRecord

logger = logging.getLogger(__name__)

#: The statuses the EventBridge rule sends the status function (``infra/events.py``; the local
#: stack's stand-in, ``snsflow/local/events.py``, sends the same): the terminal ones.
EVENT_STATUSES = tuple(status.value for status in ExecutionStatus if status.is_terminal)


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of a Step Functions "Execution Status Change" event."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    name: str
    status: str
    #: Epoch milliseconds.
    start_date: int | None = Field(default=None, alias="startDate")
    stop_date: int | None = Field(default=None, alias="stopDate")
    #: Left out (None) when the event would be too large; ``inputDetails.included`` says so.
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    #: The attempt (0 before any redrive).
    redrive_count: int = Field(default=0, alias="redriveCount")


class ExecutionStatusChangeEvent(BaseModel):
    """The EventBridge event around it. Its envelope is modelled here, field for field as
    Powertools' ``EventBridgeModel``: importing that one imports Powertools' parser package
    (~30 ms of every status and reconciler cold start)."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusChange


class StatusEventRecords(Protocol):
    """The part of :class:`~snsflow.store.executions.ExecutionStore` used here."""

    def change_status(self, workflow_id: str, message_id: str, change: StatusChange) -> bool: ...

    def find_by_execution_id(self, execution_id: str) -> ExecutionRecord | None: ...


class StateMachineLookup(Protocol):
    """:class:`~snsflow.executions.CachedWorkflows`."""

    def by_state_machine(self, state_machine_arn: str) -> WorkflowRecord | None: ...


def truncate_text(text: str | None, limit_bytes: int) -> tuple[str | None, bool]:
    if text is None:
        return None, False
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text, False
    return data[: max(limit_bytes, 0)].decode("utf-8", "ignore"), True


def _from_epoch_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def build_status_change(
    *,
    status: ExecutionStatus,
    execution_arn: str,
    started_at: datetime | None,
    stopped_at: datetime | None,
    output: str | None,
    error: str | None,
    cause: str | None,
    input_bytes: int,
    redrive_count: int | None = None,
) -> StatusChange:
    """A :class:`StatusChange` whose output, error and cause fit in the record.

    A record holds the execution input (``input_bytes``) and must stay under DynamoDB's item
    limit: whatever does not fit is cut (at a character boundary) and flagged as truncated.
    """
    budget = detail_budget_bytes(input_bytes)
    error, _ = truncate_text(error, min(budget, 1024))
    budget -= len((error or "").encode("utf-8"))
    cause, cause_truncated = truncate_text(cause, budget)
    budget -= len((cause or "").encode("utf-8"))
    output, output_truncated = truncate_text(output, budget)
    return StatusChange(
        status=status,
        execution_arn=execution_arn,
        started_at=started_at,
        stopped_at=stopped_at if status.is_terminal else None,
        output=output,
        output_truncated=output_truncated,
        error=error,
        cause=cause,
        cause_truncated=cause_truncated,
        redrive_count=redrive_count,
    )


class RecordKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_id: str
    message_id: str


def _message_id_from_input(change: ExecutionStatusChange, workflow_id: str) -> str | None:
    """The MessageId in the execution input snsflow wrote, when the event carries the input."""
    if change.input is None:
        return None
    try:
        document: Any = json.loads(change.input)
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("workflowId") != workflow_id:
        return None
    message_id = document.get("messageId")
    if not isinstance(message_id, str) or execution_name(message_id) != change.name:
        return None  # not an execution snsflow started for that message
    return message_id


class StatusEventOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    #: ``updated``: the record moved; ``ignored``: it was already there or further (or the
    #: status is not one snsflow records); ``unknown``: no record belongs to this execution.
    result: Literal["updated", "ignored", "unknown"]
    execution_id: str | None = None


class StatusEventRecorder:
    """Applies status change events to execution records."""

    def __init__(self, records: StatusEventRecords, workflows: StateMachineLookup) -> None:
        self._records = records
        self._workflows = workflows

    def apply(self, change: ExecutionStatusChange) -> StatusEventOutcome:
        try:
            status = ExecutionStatus(change.status)
        except ValueError:
            return StatusEventOutcome(result="ignored")  # e.g. PENDING_REDRIVE
        if status is ExecutionStatus.RECEIVED:
            return StatusEventOutcome(result="ignored")
        key = self._locate(change)
        if key is None:
            return StatusEventOutcome(result="unknown")
        input_bytes = (
            len(change.input.encode("utf-8"))
            if change.input is not None
            else MAX_EXECUTION_INPUT_BYTES
        )
        status_change = build_status_change(
            status=status,
            execution_arn=change.execution_arn,
            started_at=_from_epoch_ms(change.start_date),
            stopped_at=_from_epoch_ms(change.stop_date),
            output=change.output,
            error=change.error,
            cause=change.cause,
            input_bytes=input_bytes,
            redrive_count=change.redrive_count,
        )
        updated = self._records.change_status(key.workflow_id, key.message_id, status_change)
        return StatusEventOutcome(
            result="updated" if updated else "ignored",
            execution_id=execution_id_for_name(key.workflow_id, change.name),
        )

    def _locate(self, change: ExecutionStatusChange) -> RecordKey | None:
        # The state machine says which workflow; nothing in the input is trusted for that.
        workflow = self._workflows.by_state_machine(change.state_machine_arn)
        if workflow is None:
            return None
        message_id = _message_id_from_input(change, workflow.workflow_id)
        if message_id is not None:
            return RecordKey(workflow_id=workflow.workflow_id, message_id=message_id)
        # The input was too large to ride in the event: find the record by execution id.
        record = self._records.find_by_execution_id(
            execution_id_for_name(workflow.workflow_id, change.name)
        )
        if record is None:
            return None
        return RecordKey(workflow_id=record.workflow_id, message_id=record.message_id)
