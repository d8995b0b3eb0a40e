"""Moving execution records from the executions table of before issue 15 into today's.

CloudFormation cannot change a table's key schema, nor an index's projection, in place. So this
version's stack has a new executions table (``EXECUTIONS``, construct ``ExecutionRecords``) and
keeps the one deployed before (``LEGACY_EXECUTIONS``, construct ``Executions``: same logical id,
so ``cdk deploy`` leaves it and its records alone). The reconciler, on every run, moves up to a
bounded number of records across: each is written in today's layout (its record item and its
input item) unless the new table already has that message's record — written there by a
redelivery since the update, so newer — and then deleted from the old table, which therefore
only ever holds the records still to move. A record is never absent from both tables.

A delivery of a message whose record is not yet moved (an SNS redelivery, a recovered
dead-letter copy) would otherwise find no record and start a second execution: so while the old
table exists the webhook records deliveries through :class:`UpgradingExecutionStore`, which
moves that message's record first (one consistent read of the old table per delivery). A read
that finds nothing there is conclusive: a move writes the new table before it deletes the old
copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from snsflow.store.dynamodb import dynamodb_errors, error_code, is_conditional_check_failure
from snsflow.store.executions import (
    ExecutionClaim,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionStore,
    express_outcome_keys,
    input_key,
    record_key,
    shard_of,
    status_group,
    status_shard,
    workflow_shard,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

#: Attributes of the old layout that today's record item does not keep.
_DROPPED = ("input", "workflowStatus", "executionId", "messageId")


@dataclass
class MigrationReport:
    #: Records written to the new table.
    moved: int = 0
    #: Records the new table already had (the old copy was dropped).
    superseded: int = 0
    #: Whether the old table may still hold records.
    more: bool = False


def record_items(item: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An old-layout item as today's record item and input item."""
    workflow_id, message_id = str(item["workflowId"]), str(item["messageId"])
    shard = shard_of(message_id)
    status = ExecutionStatus(item["status"])
    record = {name: value for name, value in item.items() if name not in _DROPPED}
    record["recordKey"] = record_key(workflow_id, message_id)
    record["workflowShard"] = workflow_shard(workflow_id, shard)
    record["statusShard"] = status_shard(workflow_id, status_group(status), shard)
    if item["executionName"] != message_id:
        record["aliasExecutionId"] = item["executionId"]
    if not status.is_terminal:
        # Should the workflow be EXPRESS, its run (started by today's definition) records its
        # outcome under these keys; a STANDARD record keeps them unused.
        record["outcomeKeys"] = express_outcome_keys(workflow_id, message_id)
    stored_input = {
        **input_key(workflow_id, message_id),
        "input": item["input"],
        "expiresAt": item["expiresAt"],
    }
    return record, stored_input


def move_legacy_records(legacy: Table, executions: Table, *, limit: int) -> MigrationReport:
    """Move up to ``limit`` records from ``legacy`` (the old layout) to ``executions``."""
    report = MigrationReport()
    kwargs: dict[str, Any] = {"Limit": min(limit, 100)}
    while report.moved + report.superseded < limit:
        page = _scan_if_there(legacy, **kwargs)
        for item in page.get("Items", []):
            if _move(legacy, executions, item):
                report.moved += 1
            else:
                report.superseded += 1
        if "LastEvaluatedKey" not in page:
            return report
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    report.more = True
    return report


def move_legacy_record(legacy: Table, executions: Table, workflow_id: str, message_id: str) -> None:
    """Move one message's record from ``legacy``, if it is still there."""
    key = {"workflowId": workflow_id, "messageId": message_id}
    item = _read_if_there(lambda: legacy.get_item(Key=key, ConsistentRead=True), {}).get("Item")
    if item is not None:
        _move(legacy, executions, item)


class UpgradingExecutionStore(ExecutionStore):
    """The executions table of a stack that has the old table too: a delivery moves its
    message's record first, so that it counts as a delivery of that record (see the module's
    docstring). Once the old table is found empty it never holds a record again (nothing writes
    it any more), and deliveries stop reading it: a stack deployed since issue 15 (whose old
    table is empty from the start) pays one read per function instance, not per delivery."""

    def __init__(
        self,
        table: Table,
        legacy: Table,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(table, sleep=sleep)
        self._legacy = legacy
        self._monotonic = monotonic
        self._legacy_empty = False
        self._emptiness_checked_at: float | None = None

    def claim(self, claim: ExecutionClaim) -> ExecutionRecord:
        if self._legacy_may_hold_records():
            move_legacy_record(self._legacy, self._table, claim.workflow_id, claim.message_id)
        return super().claim(claim)

    def _legacy_may_hold_records(self) -> bool:
        now = self._monotonic()
        checked = self._emptiness_checked_at
        if not self._legacy_empty and (
            checked is None or now - checked >= _EMPTINESS_CHECK_SECONDS
        ):
            self._emptiness_checked_at = now
            page = _scan_if_there(self._legacy, Limit=1, ConsistentRead=True)
            self._legacy_empty = not page.get("Items") and "LastEvaluatedKey" not in page
        return not self._legacy_empty


#: How often a function instance asks whether the old table is empty yet (while it is not,
#: each delivery reads it).
_EMPTINESS_CHECK_SECONDS = 300.0


#: What DynamoDB answers for a table that does not exist.
_NO_TABLE = "ResourceNotFoundException"


def _scan_if_there(legacy: Table, **kwargs: Any) -> Any:
    """A page of the old table (an empty one if the table is gone)."""
    return _read_if_there(lambda: legacy.scan(**kwargs), {"Items": []})


def _read_if_there(read: Callable[[], Any], if_gone: Any) -> Any:
    """``read()`` of the old table, or ``if_gone`` if the table is gone (deleted by hand once
    empty, before a version of the stack drops it), which must stop no delivery and no
    reconciler run."""
    try:
        with dynamodb_errors("read the old executions table"):
            return read()
    except ClientError as error:
        if error_code(error) != _NO_TABLE:
            raise
        return if_gone


def _move(legacy: Table, executions: Table, item: Mapping[str, Any]) -> bool:
    """Write an old-layout item into ``executions`` unless it has that record already (False),
    then delete it from ``legacy``."""
    record, stored_input = record_items(item)
    _put_if_absent(executions, stored_input)
    moved = _put_if_absent(executions, record)
    with dynamodb_errors("delete a moved record"):
        legacy.delete_item(Key={"workflowId": item["workflowId"], "messageId": item["messageId"]})
    return moved


def _put_if_absent(table: Table, item: dict[str, Any]) -> bool:
    try:
        with dynamodb_errors("write a moved record"):
            table.put_item(Item=item, ConditionExpression="attribute_not_exists(recordKey)")
    except ClientError as error:
        if is_conditional_check_failure(error):
            return False
        raise
    return True
