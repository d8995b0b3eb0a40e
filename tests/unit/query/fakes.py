"""In-memory stand-ins for what :class:`snsflow.query.QueryService` reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from snsflow.executions import execution_id, execution_name
from snsflow.pagination import PageTokens
from snsflow.query import QueryService
from snsflow.store.execution_queries import ListedExecution, ListPosition
from snsflow.store.executions import ExecutionRecord, ExecutionStatus, format_time
from snsflow.store.subscriptions import SubscriptionRecord
from snsflow.store.workflows import WorkflowRecord

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SECRET = b"unit-test-page-token-secret-0123456789"


def record(
    index: int, status: ExecutionStatus, received_at: datetime, workflow_id: str = "orders"
) -> ExecutionRecord:
    message_id = f"m-{index:05d}"
    return ExecutionRecord(
        workflow_id=workflow_id,
        message_id=message_id,
        execution_id=execution_id(workflow_id, message_id),
        execution_name=execution_name(message_id),
        status=status,
        topic_arn="arn:aws:sns:us-east-1:123456789012:orders",
        message_timestamp=format_time(received_at),
        input="{}",
        received_at=received_at,
        expires_at=received_at + timedelta(days=30),
        deliveries=1,
    )


@dataclass
class InMemoryExecutions:
    """Orders like the indexes do: received time, then (for ties) the table key."""

    records: list[ExecutionRecord] = field(default_factory=list)
    #: Every ``newest_first`` call, as (status, limit).
    calls: list[tuple[ExecutionStatus | None, int]] = field(default_factory=list)

    def newest_first(
        self,
        workflow_id: str,
        *,
        status: ExecutionStatus | None,
        since: datetime | None,
        until: datetime | None,
        after: ListPosition | None,
        limit: int,
    ) -> tuple[list[ListedExecution], bool]:
        self.calls.append((status, limit))
        listed = sorted(
            (
                ListedExecution(r, ListPosition(format_time(r.received_at), r.message_id))
                for r in self.records
                if r.workflow_id == workflow_id
                and (status is None or r.status is status)
                and (since is None or r.received_at >= since)
                and (until is None or r.received_at <= until)
            ),
            key=lambda x: (x.position.received_at, x.position.message_id),
            reverse=True,
        )
        if after is not None:
            listed = [
                x
                for x in listed
                if (x.position.received_at, x.position.message_id)
                < (after.received_at, after.message_id)
            ]
        return listed[:limit], len(listed) > limit

    def count(self, workflow_id: str, status: ExecutionStatus, *, since: datetime) -> int:
        return sum(
            1
            for r in self.records
            if r.workflow_id == workflow_id and r.status is status and r.received_at >= since
        )

    def find_by_execution_id(self, identifier: str) -> ExecutionRecord | None:
        return next((r for r in self.records if r.execution_id == identifier), None)

    def get(self, workflow_id: str, message_id: str) -> ExecutionRecord | None:
        return next(
            (r for r in self.records if (r.workflow_id, r.message_id) == (workflow_id, message_id)),
            None,
        )


@dataclass
class InMemoryWorkflows:
    workflows: list[WorkflowRecord]

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        return next((w for w in self.workflows if w.workflow_id == workflow_id), None)

    def all(self) -> list[WorkflowRecord]:
        return list(self.workflows)


@dataclass
class InMemorySubscriptions:
    records: list[SubscriptionRecord] = field(default_factory=list)

    def list_for_workflow(self, workflow_id: str) -> list[SubscriptionRecord]:
        return [r for r in self.records if r.workflow_id == workflow_id]


def workflow(workflow_id: str = "orders") -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=workflow_id,
        name=workflow_id.title(),
        api_key_name="prod-sns",
        state_machine_arn=f"arn:aws:states:us-east-1:123456789012:stateMachine:{workflow_id}",
    )


def service(
    executions: InMemoryExecutions,
    *,
    subscriptions: InMemorySubscriptions | None = None,
    secret: bytes = SECRET,
) -> QueryService:
    return QueryService(
        workflows=InMemoryWorkflows([workflow("orders"), workflow("audit")]),
        executions=executions,
        lookup=executions,
        subscriptions=subscriptions or InMemorySubscriptions(),
        tokens=PageTokens(secret),
        clock=lambda: T0 + timedelta(days=1),
        retention=timedelta(days=30),
    )
