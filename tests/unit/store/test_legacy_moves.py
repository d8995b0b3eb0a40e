"""While the executions table of before issue 15 still holds records, each delivery reads it for
its message; once found empty (asked at most every 5 minutes per instance) it is not read again."""

from __future__ import annotations

from typing import Any

import pytest

from snsflow import aws
from snsflow.store.executions import ExecutionClaim, ExecutionStore
from snsflow.store.migration import UpgradingExecutionStore, move_legacy_records
from tests.support.legacy_executions import move_to_legacy_table
from tests.unit.store.support import claim_for

WORKFLOW = "orders"
LEGACY_TABLE = "snsflow-test-legacy-executions"


def claim(message_id: str) -> ExecutionClaim:
    return claim_for(WORKFLOW, message_id)


@pytest.fixture
def table(dynamodb_tables: dict[str, str]) -> Any:
    return aws.dynamodb_resource().Table(dynamodb_tables["Executions"])


def test_the_old_table_is_read_per_delivery_until_found_empty(table: Any) -> None:
    ExecutionStore(table).claim(claim("m-old"))
    legacy = move_to_legacy_table(table, LEGACY_TABLE)
    on_legacy: list[str] = []

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == LEGACY_TABLE:
            on_legacy.append(model.name)

    table.meta.client.meta.events.register("before-parameter-build.dynamodb", count)
    now = [0.0]
    store = UpgradingExecutionStore(table, legacy, monotonic=lambda: now[0])

    store.claim(claim("m-1"))
    assert on_legacy == ["Scan", "GetItem"]
    assert move_legacy_records(legacy, table, limit=10).moved == 1
    on_legacy.clear()
    now[0] = 120.0
    store.claim(claim("m-2"))  # not asked again yet
    assert on_legacy == ["GetItem"]
    on_legacy.clear()
    now[0] = 301.0
    store.claim(claim("m-3"))
    assert on_legacy == ["Scan"]  # empty: no record to look for
    on_legacy.clear()
    now[0] = 5000.0
    store.claim(claim("m-4"))
    assert on_legacy == []
