"""Moving execution records from the executions table of before issue 15 into today's.

CloudFormation cannot change a table's key schema, nor an index's projection, in place. So this
version's stack has a new executions table (``EXECUTIONS``, construct ``ExecutionRecords``) and
keeps the one deployed before (``LEGACY_EXECUTIONS``, construct ``Executions``: same logical id,
so ``cdk deploy`` leaves it and its records alone). The reconciler, on every run, moves up to a
bounded number of records across: each is written in today's layout (its record item and its
input item) unless the new table already has that message's record — written there by a
redelivery since the update, so newer — and then deleted from the old table, which therefore
only ever holds the records still to move. A record is never absent from both tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from snsflow.store.dynamodb import dynamodb_errors, is_conditional_check_failure
from snsflow.store.executions import (
    ExecutionStatus,
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
        with dynamodb_errors("read the old executions table"):
            page = legacy.scan(**kwargs)
        for item in page.get("Items", []):
            record, stored_input = record_items(item)
            _put_if_absent(executions, stored_input)
            if _put_if_absent(executions, record):
                report.moved += 1
            else:
                report.superseded += 1
            with dynamodb_errors("delete a moved record"):
                legacy.delete_item(
                    Key={"workflowId": item["workflowId"], "messageId": item["messageId"]}
                )
        if "LastEvaluatedKey" not in page:
            return report
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    report.more = True
    return report


def _put_if_absent(table: Table, item: dict[str, Any]) -> bool:
    try:
        with dynamodb_errors("write a moved record"):
            table.put_item(Item=item, ConditionExpression="attribute_not_exists(recordKey)")
    except ClientError as error:
        if is_conditional_check_failure(error):
            return False
        raise
    return True
