"""Scatter-gather over the sharded indexes: one query per shard, merged newest first, paged by
``limit`` and a position that resumes exactly after the last record taken."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from snsflow import aws
from snsflow.store.execution_queries import ExecutionQueries, ListPosition
from snsflow.store.executions import (
    INDEX_SHARDS,
    ExecutionStatus,
    ExecutionStore,
    shard_of,
)
from tests.unit.store.support import T0, write

WORKFLOW = "order-events"


@pytest.fixture
def table(dynamodb_tables: dict[str, str]) -> Any:
    return aws.dynamodb_resource().Table(dynamodb_tables["Executions"])


def seed(
    table: Any,
    number: int,
    received_at: datetime,
    status: ExecutionStatus,
    workflow: str = WORKFLOW,
) -> str:
    message_id = f"m-{number:04d}"
    second = int((received_at - T0).total_seconds())
    write(ExecutionStore(table), workflow, message_id, second, status)
    return message_id


STATUSES = (
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.RUNNING,
    ExecutionStatus.FAILED,
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.RECEIVED,
)


#: The items the store wrote for :func:`records`, once per session (moto is slow per call).
_SEEDED: list[tuple[list[dict[str, Any]], dict[str, tuple[datetime, ExecutionStatus]]]] = []


@pytest.fixture
def records(table: Any) -> dict[str, tuple[datetime, ExecutionStatus]]:
    """40 records a second apart, except that 5 share one millisecond (ties across shards),
    and one of another workflow; by MessageId."""
    if _SEEDED:
        items, seeded = _SEEDED[0]
        with table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)
        return seeded
    seeded = {}
    for number in range(40):
        received = T0 + timedelta(seconds=20 if 20 <= number < 25 else number)
        status = STATUSES[number % len(STATUSES)]
        seeded[seed(table, number, received, status)] = (received, status)
    seed(table, 99, T0 + timedelta(seconds=30), ExecutionStatus.SUCCEEDED, workflow="audit-log")
    _SEEDED.append((table.scan(ConsistentRead=True)["Items"], seeded))
    return seeded


def walk(queries: ExecutionQueries, limit: int, **filters: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    after: ListPosition | None = None
    while True:
        listed, more = queries.newest_first(
            WORKFLOW,
            status=filters.get("status"),
            since=filters.get("since"),
            until=filters.get("until"),
            after=after,
            limit=limit,
        )
        pages.append([item.record.message_id for item in listed])
        if not more:
            return pages
        after = listed[-1].position
        assert len(pages) < 100


def test_the_records_are_spread_over_the_shards(
    records: dict[str, tuple[datetime, ExecutionStatus]],
) -> None:
    shards = Counter(shard_of(message_id) for message_id in records)
    assert len(shards) == INDEX_SHARDS
    assert max(shards.values()) < len(records) / 2


@pytest.mark.parametrize("limit", [1, 3, 7, 40, 100])
def test_pages_walk_every_record_once_newest_first(
    table: Any, records: dict[str, tuple[datetime, ExecutionStatus]], limit: int
) -> None:
    pages = walk(ExecutionQueries(table), limit)

    listed = [message_id for page in pages for message_id in page]
    assert sorted(listed) == sorted(records)
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit
    times = [records[message_id][0] for message_id in listed]
    assert times == sorted(times, reverse=True)


def test_each_page_is_one_query_per_shard_and_one_batched_read(
    table: Any, records: dict[str, tuple[datetime, ExecutionStatus]]
) -> None:
    calls: list[str] = []
    events = table.meta.client.meta.events
    events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))

    listed, more = ExecutionQueries(table).newest_first(
        WORKFLOW, status=None, since=None, until=None, after=None, limit=10
    )

    assert (len(listed), more) == (10, True)
    assert Counter(calls) == {"Query": INDEX_SHARDS, "BatchGetItem": 1}


@pytest.mark.parametrize(
    "status", [ExecutionStatus.FAILED, ExecutionStatus.SUCCEEDED, ExecutionStatus.RUNNING]
)
def test_a_status_filter_pages_its_records_only(
    table: Any, records: dict[str, tuple[datetime, ExecutionStatus]], status: ExecutionStatus
) -> None:
    pages = walk(ExecutionQueries(table), 3, status=status)

    listed = [message_id for page in pages for message_id in page]
    assert sorted(listed) == sorted(m for m, (_, s) in records.items() if s is status)
    times = [records[message_id][0] for message_id in listed]
    assert times == sorted(times, reverse=True)


def test_a_time_window_is_inclusive_at_both_ends(
    table: Any, records: dict[str, tuple[datetime, ExecutionStatus]]
) -> None:
    since, until = T0 + timedelta(seconds=18), T0 + timedelta(seconds=26)

    pages = walk(ExecutionQueries(table), 2, since=since, until=until)

    listed = [message_id for page in pages for message_id in page]
    assert sorted(listed) == sorted(m for m, (t, _) in records.items() if since <= t <= until)
    assert len(listed) == 2 + 5 + 2  # seconds 18, 19, the five at 20, 25, 26


def test_counts_per_status_split_the_open_group(
    table: Any, records: dict[str, tuple[datetime, ExecutionStatus]]
) -> None:
    queries = ExecutionQueries(table)
    expected = Counter(status for _, status in records.values())

    counts = {status: queries.count(WORKFLOW, status, since=T0) for status in ExecutionStatus}

    assert counts == {status: expected.get(status, 0) for status in ExecutionStatus}


def test_the_oldest_in_a_status_come_first_with_their_input(
    table: Any, records: dict[str, tuple[datetime, ExecutionStatus]]
) -> None:
    received = ExecutionStore(table).oldest_with_status(
        WORKFLOW, ExecutionStatus.RECEIVED, received_before=T0 + timedelta(seconds=30), limit=3
    )

    expected = sorted(
        (t, m)
        for m, (t, s) in records.items()
        if s is ExecutionStatus.RECEIVED and t <= T0 + timedelta(seconds=30)
    )[:3]
    assert [r.message_id for r in received] == [m for _, m in expected]
    assert all(r.input == "{}" for r in received)
