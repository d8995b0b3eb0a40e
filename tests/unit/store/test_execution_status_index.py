"""Every record has exactly one entry in ``byStatusShard``, in the group of its status (``OPEN``
for ``RECEIVED`` and ``RUNNING``), through every move: the end, a redrive through the API or
outside it (its status events only), the end of the redriven attempt, a re-run."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from snsflow import aws
from snsflow.store.execution_queries import ExecutionQueries
from snsflow.store.executions import (
    BY_STATUS_INDEX,
    INDEX_SHARDS,
    ActionNote,
    ExecutionStatus,
    ExecutionStore,
    StatusChange,
    shard_of,
    status_group,
    status_shard,
)
from tests.unit.store.support import T0, write

WORKFLOW = "orders"
ARN = "arn:aws:states:us-east-1:123456789012:execution:snsflow-orders:m-001"


@pytest.fixture
def table(dynamodb_tables: dict[str, str]) -> Any:
    return aws.dynamodb_resource().Table(dynamodb_tables["Executions"])


def status_entries(table: Any) -> Counter[tuple[str, str]]:
    """(record key, status partition) of every entry of the status index."""
    items = table.scan(IndexName=BY_STATUS_INDEX)["Items"]
    return Counter((str(item["recordKey"]), str(item["statusShard"])) for item in items)


def assert_one_entry_in_its_group(table: Any, store: ExecutionStore, message_id: str) -> None:
    record = store.get(WORKFLOW, message_id)
    assert record is not None
    expected = status_shard(WORKFLOW, status_group(record.status), shard_of(message_id))
    entries = [part for (key, part) in status_entries(table) if key == f"{WORKFLOW}#{message_id}"]
    assert entries == [expected], record.status


def listed(table: Any, status: ExecutionStatus) -> list[str]:
    records, _ = ExecutionQueries(table).newest_first(
        WORKFLOW, status=status, since=None, until=None, after=None, limit=10
    )
    return [item.record.message_id for item in records]


def test_a_redrive_outside_the_api_moves_the_record_back_to_the_open_group(table: Any) -> None:
    store = ExecutionStore(table)
    write(store, WORKFLOW, "m-001", 0, ExecutionStatus.FAILED)
    assert_one_entry_in_its_group(table, store, "m-001")

    # Redriven from the console: only the new attempt's status events come.
    running = StatusChange(status=ExecutionStatus.RUNNING, execution_arn=ARN, redrive_count=1)
    assert store.change_status(WORKFLOW, "m-001", running)

    assert_one_entry_in_its_group(table, store, "m-001")
    assert listed(table, ExecutionStatus.RUNNING) == ["m-001"]
    assert listed(table, ExecutionStatus.FAILED) == []
    # The reconciler's pass over RUNNING records finds it, to check on it.
    checked = store.oldest_with_status(
        WORKFLOW, ExecutionStatus.RUNNING, received_before=T0 + timedelta(hours=1), limit=10
    )
    assert [r.message_id for r in checked] == ["m-001"]

    ended = StatusChange(status=ExecutionStatus.SUCCEEDED, execution_arn=ARN, redrive_count=1)
    assert store.change_status(WORKFLOW, "m-001", ended)
    assert_one_entry_in_its_group(table, store, "m-001")


def test_every_move_keeps_one_status_entry(table: Any) -> None:
    store = ExecutionStore(table)
    write(store, WORKFLOW, "m-001", 0, ExecutionStatus.RECEIVED)
    assert_one_entry_in_its_group(table, store, "m-001")
    for change in (
        StatusChange(status=ExecutionStatus.RUNNING, execution_arn=ARN),
        StatusChange(status=ExecutionStatus.RUNNING, execution_arn=ARN, redrive_count=0),
        StatusChange(status=ExecutionStatus.TIMED_OUT, execution_arn=ARN, redrive_count=0),
    ):
        store.change_status(WORKFLOW, "m-001", change)
        assert_one_entry_in_its_group(table, store, "m-001")
    record = store.get(WORKFLOW, "m-001")
    assert record is not None
    note = ActionNote(action="redrive", by="ops", at=T0, redrive_count=1)
    assert store.record_redrive(record, note, redrive_count=1)
    assert_one_entry_in_its_group(table, store, "m-001")
    # The redriven attempt's own RUNNING event, late, and its end.
    for change in (
        StatusChange(status=ExecutionStatus.RUNNING, execution_arn=ARN, redrive_count=1),
        StatusChange(status=ExecutionStatus.ABORTED, execution_arn=ARN, redrive_count=1),
        # A late event of the first attempt changes nothing.
        StatusChange(status=ExecutionStatus.FAILED, execution_arn=ARN, redrive_count=0),
    ):
        store.change_status(WORKFLOW, "m-001", change)
        assert_one_entry_in_its_group(table, store, "m-001")
    assert listed(table, ExecutionStatus.ABORTED) == ["m-001"]
    assert sum(status_entries(table).values()) == 1


def test_a_redrive_outside_the_api_of_a_record_that_never_counted_attempts_is_recorded(
    table: Any,
) -> None:
    # Ended before records counted attempts (before redrives; or moved from the old table).
    store = ExecutionStore(table)
    write(store, WORKFLOW, "m-001", 0, ExecutionStatus.FAILED)
    table.update_item(
        Key={"recordKey": f"{WORKFLOW}#m-001", "workflowId": WORKFLOW},
        UpdateExpression="REMOVE redriveCount",
    )

    for status in (ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED):
        change = StatusChange(status=status, execution_arn=ARN, redrive_count=1)
        assert store.change_status(WORKFLOW, "m-001", change), status
        assert_one_entry_in_its_group(table, store, "m-001")
    # A late event of the first attempt, not counted either, changes nothing.
    late = StatusChange(status=ExecutionStatus.FAILED, execution_arn=ARN, redrive_count=0)
    assert not store.change_status(WORKFLOW, "m-001", late)
    record = store.get(WORKFLOW, "m-001")
    assert record is not None
    assert (record.status, record.redrive_count) == (ExecutionStatus.SUCCEEDED, 1)


def queries_made(table: Any) -> list[str]:
    calls: list[str] = []
    table.meta.client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    return calls


def test_the_open_records_of_both_passes_are_read_in_one_round_when_idle(table: Any) -> None:
    store = ExecutionStore(table)
    write(store, WORKFLOW, "m-001", 0, ExecutionStatus.SUCCEEDED)
    calls = queries_made(table)

    found = store.oldest_open(
        WORKFLOW,
        received_before={
            ExecutionStatus.RECEIVED: T0 + timedelta(hours=1),
            ExecutionStatus.RUNNING: T0 + timedelta(hours=1),
        },
        limits={ExecutionStatus.RECEIVED: 100, ExecutionStatus.RUNNING: 200},
    )

    assert found == {ExecutionStatus.RECEIVED: [], ExecutionStatus.RUNNING: []}
    assert calls == ["Query"] * INDEX_SHARDS


@pytest.mark.parametrize("limits", [(1, 1), (2, 3), (50, 50)])
@pytest.mark.parametrize("bounds", [(10, 30), (30, 10), (40, 40)])
def test_the_open_records_of_both_passes_are_those_each_pass_would_read(
    table: Any, limits: tuple[int, int], bounds: tuple[int, int]
) -> None:
    store = ExecutionStore(table)
    statuses = [ExecutionStatus.RECEIVED, ExecutionStatus.RUNNING, ExecutionStatus.FAILED]
    for number in range(36):
        write(store, WORKFLOW, f"m-{number:03d}", number, statuses[number % 3])
    received_before = {
        ExecutionStatus.RECEIVED: T0 + timedelta(seconds=bounds[0]),
        ExecutionStatus.RUNNING: T0 + timedelta(seconds=bounds[1]),
    }
    wanted = {ExecutionStatus.RECEIVED: limits[0], ExecutionStatus.RUNNING: limits[1]}

    found = store.oldest_open(WORKFLOW, received_before=received_before, limits=wanted)

    assert found == {
        status: store.oldest_with_status(
            WORKFLOW, status, received_before=received_before[status], limit=wanted[status]
        )
        for status in wanted
    }
    assert all(r.input == "{}" for records in found.values() for r in records)
