"""Execution records as the store of before issue 15 wrote them, for tests of the upgrade."""

from __future__ import annotations

from typing import Any

from snsflow import aws
from snsflow.store.tables import LEGACY_EXECUTIONS

#: Attributes only today's layout has.
_NEW_ONLY = {"recordKey", "workflowShard", "statusShard", "aliasExecutionId", "outcomeKeys"}


def legacy_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Today's items (record and input item per message) as the store of before issue 15 wrote
    them: one item per record, input included, with ``executionId`` and ``workflowStatus``."""
    inputs = {item["recordKey"]: item["input"] for item in items if "input" in item}
    legacy = []
    for item in items:
        if "input" in item:
            continue
        record = {name: value for name, value in item.items() if name not in _NEW_ONLY}
        record["messageId"] = item["recordKey"].split("#", 1)[1]
        record["input"] = inputs[item["recordKey"]]
        record["executionId"] = f"{item['workflowId']}.{item['executionName']}"
        record["workflowStatus"] = f"{item['workflowId']}#{item['status']}"
        legacy.append(record)
    return legacy


def move_to_legacy_table(executions: Any, legacy_name: str) -> Any:
    """A table of the old layout named ``legacy_name`` holding every record of ``executions``
    (a boto3 ``Table``), which is left empty: a stack just upgraded. Returns the old table."""
    aws.dynamodb_client().create_table(**LEGACY_EXECUTIONS.create_table_kwargs(legacy_name))
    legacy = aws.dynamodb_resource().Table(legacy_name)
    items = executions.scan(ConsistentRead=True)["Items"]
    with legacy.batch_writer() as batch:
        for item in legacy_items(items):
            batch.put_item(Item=item)
    with executions.batch_writer() as batch:
        for item in items:
            batch.delete_item(
                Key={"recordKey": item["recordKey"], "workflowId": item["workflowId"]}
            )
    return legacy
