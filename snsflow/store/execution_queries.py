"""Read queries on the executions table: a workflow's records newest first, and counts.

Both read the table's key-only indexes, spread over :data:`INDEX_SHARDS` partition keys per
workflow (``byWorkflowShard`` for every record of a workflow, ``byStatusShard`` for a status
group of it): one round of parallel queries, one per shard, merged newest first; then the
page's records in one batched read. Indexes are eventually consistent: a record shows up, or
changes status there, a moment after it is written.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from snsflow.store.dynamodb import dynamodb_errors, format_time, shard_key_condition
from snsflow.store.executions import (
    ExecutionRecord,
    ExecutionStatus,
    ExecutionStore,
    message_of,
    read_shards,
    status_partitions,
    workflow_partitions,
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
        self._records = ExecutionStore(table)

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
        after ``after``; and whether more follow. The records are read without their input.

        The table may answer differently from the index its entries come from (a record
        expired, or its status moved, since): such entries are passed over, and more are read
        after them until the page is full or the index has no more."""
        partitions = (
            workflow_partitions(workflow_id)
            if status is None
            else status_partitions(workflow_id, status)
        )
        received = (format_time(since) if since else None, format_time(until) if until else None)
        resume = (after.received_at, after.message_id) if after else None
        listed: list[ListedExecution] = []
        while True:
            # One more than asked for tells whether another page exists.
            wanted = limit + 1 - len(listed)
            entries = read_shards(
                self._records,
                partitions,
                received=received,
                after=resume,
                newest_first=True,
                need=wanted,
                status=status,
            )
            loaded = {
                record.message_id: record
                for record in self._records.get_many(
                    (
                        (str(entry["workflowId"]), message_of(entry))
                        for entry, record in entries
                        if record is None
                    ),
                    with_input=False,
                )
            }
            for entry, record in entries:
                found = record or loaded.get(message_of(entry))
                if found is not None and (status is None or found.status is status):
                    position = ListPosition(str(entry["receivedAt"]), message_of(entry))
                    listed.append(ListedExecution(record=found, position=position))
            if len(listed) > limit or len(entries) < wanted:
                return listed[:limit], len(listed) > limit
            last = entries[-1][0]
            resume = (str(last["receivedAt"]), message_of(last))

    def count(self, workflow_id: str, status: ExecutionStatus, *, since: datetime) -> int:
        """How many records of a workflow in ``status`` were received since ``since``.

        DynamoDB reads every counted index entry to count it (a page holds at most 1 MB), so
        this costs in proportion to the records of the window; a ``RECEIVED`` or ``RUNNING``
        count reads the records of both (those not yet ended)."""
        partitions = status_partitions(workflow_id, status)
        if not status.is_terminal:
            open_records = read_shards(
                self._records,
                partitions,
                received=(format_time(since), None),
                after=None,
                newest_first=True,
                need=_UNBOUNDED,
                status=status,
            )
            return len(open_records)

        def count_shard(partition: str) -> int:
            kwargs: dict[str, Any] = {
                "IndexName": partitions.index,
                "Select": "COUNT",
                **shard_key_condition(
                    partitions.key_attribute, partition, since=format_time(since)
                ),
            }
            total = 0
            while True:
                with dynamodb_errors("count executions"):
                    page = self._table.query(**kwargs)
                total += int(page.get("Count", 0))
                if "LastEvaluatedKey" not in page:
                    return total
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        with ThreadPoolExecutor(max_workers=len(partitions.values)) as pool:
            return sum(pool.map(count_shard, partitions.values))


#: "Every one": the records not yet ended are as many as the runs in flight.
_UNBOUNDED = 1_000_000
