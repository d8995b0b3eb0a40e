"""The upgrade of a deployed stack: records written in the executions table's layout of before
issue 15 are moved to today's table (``snsflow.store.migration``, run by the reconciler) and
the read API then answers exactly as it does for records written in today's layout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from snsflow import aws
from snsflow.errors import DependencyUnavailableError
from snsflow.store.executions import ExecutionStatus
from snsflow.store.migration import MigrationReport, move_legacy_records
from snsflow.store.tables import LEGACY_EXECUTIONS
from tests.integration.query.conftest import QueryStack
from tests.support.legacy_executions import legacy_items, move_to_legacy_table

LEGACY_TABLE = "snsflow-test-legacy-executions"


def answers(query_stack: QueryStack) -> dict[str, Any]:
    """What the read API says of the workflow: every listing page (with and without filters),
    each execution's detail, and the workflow with its counts."""
    pages = {
        "all": query_stack.walk("order-events", limit="7"),
        "failed": query_stack.walk("order-events", status="FAILED", limit="3"),
        "open": query_stack.walk("order-events", status="RUNNING,RECEIVED", limit="4"),
    }
    execution_ids = [execution_id for page in pages["all"] for execution_id in page]
    details = {
        execution_id: query_stack.get(
            "/executions/{executionId}", {"executionId": execution_id}
        ).body
        for execution_id in execution_ids
    }
    workflow = query_stack.get("/workflows/{workflowId}", {"workflowId": "order-events"}).body
    workflow.pop("countsSince")  # the clock's
    return {"pages": pages, "details": details, "workflow": workflow}


@pytest.fixture
def legacy_table(dynamodb_tables: dict[str, str]) -> Any:
    """The executions table as deployed before issue 15, beside today's (``dynamodb_tables``)."""
    client = aws.dynamodb_client()
    client.create_table(**LEGACY_EXECUTIONS.create_table_kwargs(LEGACY_TABLE))
    return aws.dynamodb_resource().Table(LEGACY_TABLE)


def test_records_in_the_old_layout_read_the_same_once_moved(
    query_stack: QueryStack, recent: datetime
) -> None:
    seeded = query_stack.seed_many("order-events", 30, recent)
    expected = answers(query_stack)
    assert len(expected["details"]) == len(seeded) == 30
    # The deployed stack's table holds them in the old layout; today's table is new and empty.
    legacy_table = move_to_legacy_table(query_stack.table, LEGACY_TABLE)
    assert query_stack.walk("order-events") == [[]]

    runs: list[MigrationReport] = []
    while not runs or runs[-1].more:
        runs.append(move_legacy_records(legacy_table, query_stack.table, limit=12))

    assert [run.moved for run in runs] == [12, 12, 6]
    assert sum(run.superseded for run in runs) == 0
    assert legacy_table.scan(ConsistentRead=True)["Items"] == []
    assert answers(query_stack) == expected


def test_a_record_written_again_since_the_update_is_kept_over_its_old_copy(
    query_stack: QueryStack, recent: datetime, legacy_table: Any
) -> None:
    execution_id = query_stack.seed("order-events", 1, ExecutionStatus.SUCCEEDED, recent)
    items = query_stack.table.scan(ConsistentRead=True)["Items"]
    (old,) = legacy_items(items)
    old["status"], old["workflowStatus"] = "RUNNING", "order-events#RUNNING"
    legacy_table.put_item(Item=old)

    report = move_legacy_records(legacy_table, query_stack.table, limit=10)

    assert (report.moved, report.superseded, report.more) == (0, 1, False)
    assert legacy_table.scan(ConsistentRead=True)["Items"] == []
    detail = query_stack.get("/executions/{executionId}", {"executionId": execution_id}).body
    assert detail["status"] == "SUCCEEDED"


def test_a_run_interrupted_after_writing_a_record_is_finished_by_the_next_exactly_once(
    query_stack: QueryStack, recent: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    query_stack.seed_many("order-events", 30, recent)
    expected = answers(query_stack)
    legacy_table = move_to_legacy_table(query_stack.table, LEGACY_TABLE)
    real_delete, deletes = legacy_table.delete_item, []

    def delete_failing_on_the_fourth(**kwargs: Any) -> Any:
        deletes.append(kwargs)
        if len(deletes) == 4:  # the fourth record is written, its old copy still there
            raise DependencyUnavailableError("DynamoDB is unavailable: injected")
        return real_delete(**kwargs)

    monkeypatch.setattr(legacy_table, "delete_item", delete_failing_on_the_fourth)
    with pytest.raises(DependencyUnavailableError):
        move_legacy_records(legacy_table, query_stack.table, limit=100)

    second = move_legacy_records(legacy_table, query_stack.table, limit=100)
    third = move_legacy_records(legacy_table, query_stack.table, limit=100)

    assert (second.moved, second.superseded, second.more) == (26, 1, False)
    assert third == MigrationReport()
    assert legacy_table.scan(ConsistentRead=True)["Items"] == []
    assert len(query_stack.table.scan(ConsistentRead=True)["Items"]) == 2 * 30
    assert answers(query_stack) == expected
