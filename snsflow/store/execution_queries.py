"""Read queries on the executions table: a workflow's records newest first, and counts.

Both use the table's indexes (``byReceivedAt`` for every record of a workflow, ``byStatus`` for
one status of it), which are eventually consistent: a record shows up, or changes status there,
a moment after it is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import ConditionBase, Key

from snsflow.store.dynamodb import dynamodb_errors, format_time
from snsflow.store.executions import (
    BY_RECEIVED_AT_INDEX,
    BY_STATUS_INDEX,
    ExecutionRecord,
    ExecutionStatus,
    _workflow_status,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True)
class ListPosition:
    """A record's place in a listing, as stored: a later query resumes right after it."""

    received_at: str
    message_id: str


@dataclass(frozen=True)
class ListedExecution:
    record: ExecutionRecord
    position: ListPosition


class ExecutionQueries:
    """Reads the executions table (a boto3 DynamoDB ``Table`` is passed in)."""

    def __init__(self, table: Table) -> None:
        self._table = table

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
        """Up to ``limit`` records of a workflow (in ``status``, if given) received between
        ``since`` and ``until`` (both inclusive, to the millisecond), newest first, starting
        after ``after``; and whether more follow."""
        partition, index = (
            (Key("workflowId").eq(workflow_id), BY_RECEIVED_AT_INDEX)
            if status is None
            else (Key("workflowStatus").eq(_workflow_status(workflow_id, status)), BY_STATUS_INDEX)
        )
        received = _received_between(since, until)
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": partition if received is None else partition & received,
            "ScanIndexForward": False,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = _start_key(workflow_id, status, after)
        # One more than asked for tells whether another page exists.
        items: list[dict[str, Any]] = []
        while len(items) <= limit:
            with dynamodb_errors("list executions"):
                page = self._table.query(Limit=limit + 1 - len(items), **kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        listed = [
            ListedExecution(
                record=ExecutionRecord.from_item(item),
                position=ListPosition(str(item["receivedAt"]), str(item["messageId"])),
            )
            for item in items[:limit]
        ]
        return listed, len(items) > limit

    def count(self, workflow_id: str, status: ExecutionStatus, *, since: datetime) -> int:
        """How many records of a workflow in ``status`` were received since ``since``.

        DynamoDB reads every counted item to count it (a page holds at most 1 MB), so this
        costs in proportion to the records of the window."""
        kwargs: dict[str, Any] = {
            "IndexName": BY_STATUS_INDEX,
            "KeyConditionExpression": Key("workflowStatus").eq(
                _workflow_status(workflow_id, status)
            )
            & Key("receivedAt").gte(format_time(since)),
            "Select": "COUNT",
        }
        total = 0
        while True:
            with dynamodb_errors("count executions"):
                page = self._table.query(**kwargs)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _received_between(since: datetime | None, until: datetime | None) -> ConditionBase | None:
    received = Key("receivedAt")
    if since is not None and until is not None:
        return received.between(format_time(since), format_time(until))
    if since is not None:
        return received.gte(format_time(since))
    if until is not None:
        return received.lte(format_time(until))
    return None


def _start_key(
    workflow_id: str, status: ExecutionStatus | None, after: ListPosition
) -> dict[str, str]:
    """The index key of the record at ``after`` (the index's keys plus the table's)."""
    key = {
        "workflowId": workflow_id,
        "messageId": after.message_id,
        "receivedAt": after.received_at,
    }
    if status is not None:
        key["workflowStatus"] = _workflow_status(workflow_id, status)
    return key
