"""In-memory stand-ins for the ports of the execution domain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from snsflow.errors import DependencyUnavailableError
from snsflow.executions import ExecutionStartFailedError, StartedExecution
from snsflow.store.executions import (
    ExecutionClaim,
    ExecutionRecord,
    ExecutionStatus,
    StatusChange,
)
from snsflow.store.workflows import WorkflowRecord

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def workflow(workflow_id: str = "order-events", **fields: object) -> WorkflowRecord:
    defaults: dict[str, object] = {
        "workflow_id": workflow_id,
        "name": workflow_id,
        "api_key_name": "prod-sns",
        "state_machine_arn": f"arn:aws:states:us-east-1:123456789012:stateMachine:{workflow_id}",
    }
    return WorkflowRecord.model_validate(defaults | fields)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class InMemoryExecutionRecords:
    """Keeps records like the store does: claims upsert, status changes only move forward."""

    records: dict[tuple[str, str], ExecutionRecord] = field(default_factory=dict)
    start_failures: list[str] = field(default_factory=list)
    #: When set, change_status raises it (a DynamoDB outage).
    change_failure: Exception | None = None

    def claim(self, claim: ExecutionClaim) -> ExecutionRecord:
        key = (claim.workflow_id, claim.message_id)
        existing = self.records.get(key)
        if existing is None:
            existing = ExecutionRecord(
                **claim.model_dump(), status=ExecutionStatus.RECEIVED, deliveries=0
            )
        self.records[key] = existing.model_copy(update={"deliveries": existing.deliveries + 1})
        return self.records[key]

    def change_status(self, workflow_id: str, message_id: str, change: StatusChange) -> bool:
        if self.change_failure is not None:
            raise self.change_failure
        record = self.records.get((workflow_id, message_id))
        if record is None or record.status not in change.status.predecessors:
            return False
        self.records[(workflow_id, message_id)] = record.model_copy(
            update=change.model_dump(exclude_none=True)
        )
        return True

    def record_start_failure(self, workflow_id: str, message_id: str, reason: str) -> None:
        self.start_failures.append(reason)

    def oldest_with_status(
        self,
        workflow_id: str,
        status: ExecutionStatus,
        *,
        received_before: datetime,
        limit: int,
    ) -> list[ExecutionRecord]:
        matching = sorted(
            (
                r
                for r in self.records.values()
                if r.workflow_id == workflow_id
                and r.status is status
                and r.received_at <= received_before
            ),
            key=lambda r: r.received_at,
        )
        return matching[:limit]

    def oldest_open(
        self,
        workflow_id: str,
        *,
        received_before: Mapping[ExecutionStatus, datetime],
        limits: Mapping[ExecutionStatus, int],
    ) -> dict[ExecutionStatus, list[ExecutionRecord]]:
        return {
            status: self.oldest_with_status(
                workflow_id, status, received_before=received_before[status], limit=limit
            )
            for status, limit in limits.items()
        }


@dataclass
class FakeStarter:
    """Starts executions by name, like Step Functions: the same name twice is one run."""

    started: dict[str, StartedExecution] = field(default_factory=dict)
    calls: int = 0
    failure: str | None = None

    def start(self, *, state_machine_arn: str, name: str, execution_input: str) -> StartedExecution:
        self.calls += 1
        if self.failure is not None:
            raise ExecutionStartFailedError(self.failure)
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return self.started.setdefault(name, StartedExecution(execution_arn=arn, started_at=T0))


OUTAGE = DependencyUnavailableError("DynamoDB is unavailable")
