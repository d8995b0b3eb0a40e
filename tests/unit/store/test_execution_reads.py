"""A listing's page is read from the key-only indexes, then its records from the table: what
the table answers may lag the index (a record expired since, a status moved since). The page
still holds ``limit`` records when more exist, only records in the status filtered on, and
``nextToken`` always moves on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from snsflow import aws
from snsflow.errors import DependencyUnavailableError
from snsflow.pagination import PageTokens
from snsflow.query import ExecutionFilters, QueryService
from snsflow.store.execution_queries import ExecutionQueries
from snsflow.store.executions import ExecutionRecord, ExecutionStatus, ExecutionStore
from tests.unit.query.fakes import InMemorySubscriptions, InMemoryWorkflows, workflow
from tests.unit.store.support import T0, write

WORKFLOW = "orders"


@pytest.fixture
def table(dynamodb_tables: dict[str, str]) -> Any:
    return aws.dynamodb_resource().Table(dynamodb_tables["Executions"])


def service(table: Any) -> QueryService:
    return QueryService(
        workflows=InMemoryWorkflows([workflow(WORKFLOW)]),
        executions=ExecutionQueries(table),
        lookup=ExecutionStore(table),
        subscriptions=InMemorySubscriptions(),
        tokens=PageTokens(b"unit-test-page-token-secret-0123456789"),
        clock=lambda: T0 + timedelta(days=1),
        retention=timedelta(days=30),
    )


def walk(table: Any, filters: ExecutionFilters, limit: int) -> list[list[str]]:
    queries, pages, token = service(table), [], None
    while True:
        page = queries.list_executions(WORKFLOW, filters, limit=limit, next_token=token)
        pages.append([item.execution_id for item in page.items])
        if page.next_token is None:
            return pages
        assert len(pages) < 20, f"the token does not move on: {pages}"
        token = page.next_token


def edit_batch_reads(table: Any, edit: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    """Every item BatchGetItem answers goes through ``edit`` (None: the item is not found), as
    if the table had changed since the index entries were read."""

    def edited(parsed: dict[str, Any], **_: Any) -> None:
        for items in parsed.get("Responses", {}).values():
            kept = [new for item in items if (new := edit(item)) is not None]
            items[:] = kept

    table.meta.client.meta.events.register("after-call.dynamodb.BatchGetItem", edited)


def text(value: Any) -> str:
    """An attribute value, typed (``{"S": ...}``) or not."""
    return str(value["S"]) if isinstance(value, dict) else str(value)


def seed(table: Any, statuses: list[ExecutionStatus]) -> list[ExecutionRecord]:
    """One record per status, a second apart, the last the newest; returned newest first."""
    store = ExecutionStore(table)
    written = [write(store, WORKFLOW, f"m-{n:03d}", n, s) for n, s in enumerate(statuses)]
    return written[::-1]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_records_gone_from_the_table_are_skipped_and_pages_stay_full(
    table: Any, limit: int
) -> None:
    records = seed(table, [ExecutionStatus.SUCCEEDED] * 7)
    gone = {records[0].message_id, records[1].message_id, records[4].message_id}
    edit_batch_reads(
        table, lambda item: None if text(item["recordKey"]).split("#")[1] in gone else item
    )

    pages = walk(table, ExecutionFilters(), limit)

    remaining = [r.execution_id for r in records if r.message_id not in gone]
    assert [identifier for page in pages for identifier in page] == remaining
    assert [len(page) for page in pages] == [
        len(remaining[i : i + limit]) for i in range(0, 4, limit)
    ]


def test_a_record_whose_status_moved_since_its_index_entry_is_not_listed_under_the_old_one(
    table: Any,
) -> None:
    records = seed(table, [ExecutionStatus.FAILED] * 4)
    redriven = records[1].message_id

    def moved(item: dict[str, Any]) -> dict[str, Any]:
        if text(item["recordKey"]).split("#")[1] == redriven:
            return {**item, "status": {"S": "RUNNING"}}
        return item

    edit_batch_reads(table, moved)

    pages = walk(table, ExecutionFilters(statuses=(ExecutionStatus.FAILED,)), 2)

    expected = [r.execution_id for r in records if r.message_id != redriven]
    assert pages == [expected[:2], expected[2:]]


class ThrottledBatchReads:
    """Stands in for the client's BatchGetItem: answers at most ``answered`` keys of each
    request (none once ``stuck``) and hands the rest back as UnprocessedKeys, as DynamoDB does
    when throttled or past 16 MB."""

    def __init__(self, client: Any, answered: int, *, stuck: bool = False) -> None:
        self._real = client.batch_get_item
        self.answered, self.stuck = answered, stuck
        self.requested: list[int] = []

    def __call__(self, RequestItems: dict[str, Any], **kwargs: Any) -> Any:  # noqa: N803
        ((name, request),) = RequestItems.items()
        keys = request["Keys"]
        self.requested.append(len(keys))
        served = [] if self.stuck else keys[: self.answered]
        response: dict[str, Any] = {"Responses": {name: []}, "UnprocessedKeys": {}}
        if served:
            answer = self._real(RequestItems={name: {**request, "Keys": served}}, **kwargs)
            response["Responses"] = answer["Responses"]
        if keys[len(served) :]:
            response["UnprocessedKeys"] = {name: {**request, "Keys": keys[len(served) :]}}
        return response


def test_unprocessed_keys_are_read_again_after_a_growing_pause_in_chunks_of_100(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ExecutionStore(table)
    records = [
        write(store, WORKFLOW, f"m-{n:03d}", n % 4, ExecutionStatus.SUCCEEDED) for n in range(130)
    ]
    throttled = ThrottledBatchReads(table.meta.client, answered=40)
    monkeypatch.setattr(table.meta.client, "batch_get_item", throttled)
    pauses: list[float] = []

    found = ExecutionStore(table, sleep=pauses.append).get_many(
        [(r.workflow_id, r.message_id) for r in records], with_input=True
    )

    assert [r.message_id for r in found] == [r.message_id for r in records]
    assert all(r.input == "{}" for r in found)
    # 260 keys (record and input items): 100 + 100 + 60, each answered 40 at a time.
    assert throttled.requested == [100, 60, 20, 100, 60, 20, 60, 20]
    assert len(pauses) == 5
    assert all(p > 0 for p in pauses)
    assert pauses[1] > pauses[0]


def test_keys_left_unprocessed_time_after_time_are_a_dependency_error_not_a_hang(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ExecutionStore(table)
    record = write(store, WORKFLOW, "m-001", 0, ExecutionStatus.SUCCEEDED)
    throttled = ThrottledBatchReads(table.meta.client, answered=0, stuck=True)
    monkeypatch.setattr(table.meta.client, "batch_get_item", throttled)
    pauses: list[float] = []

    with pytest.raises(DependencyUnavailableError, match="unprocessed"):
        ExecutionStore(table, sleep=pauses.append).get_many(
            [(record.workflow_id, record.message_id)], with_input=False
        )

    assert 2 <= len(throttled.requested) <= 10
    assert sum(pauses) < 5
