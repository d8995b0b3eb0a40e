"""Paging the sharded executions listing through the read API's service, against moto: random
records spread over the shards (many sharing one millisecond, in several shards), random
filters and a random ``limit`` per page; the pages together are every matching record exactly
once, newest first, each page but the last full."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snsflow import aws
from snsflow.pagination import PageTokens
from snsflow.query import ExecutionFilters, QueryService
from snsflow.store.execution_queries import ExecutionQueries
from snsflow.store.executions import ExecutionStatus, ExecutionStore
from tests.unit.query.fakes import InMemorySubscriptions, InMemoryWorkflows, workflow
from tests.unit.store.support import T0, write

STATUSES = list(ExecutionStatus)
#: A workflow per example: the table is the test's, and moto is too slow to empty it each time.
_WORKFLOW_NUMBERS = itertools.count()


@pytest.fixture
def table(dynamodb_tables: dict[str, str]) -> Any:
    return aws.dynamodb_resource().Table(dynamodb_tables["Executions"])


def walk(
    queries: QueryService, workflow_id: str, filters: ExecutionFilters, limits: Iterator[int]
) -> list[list[str]]:
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        limit = next(limits)
        page = queries.list_executions(workflow_id, filters, limit=limit, next_token=token)
        assert len(page.items) <= limit
        pages.append([item.execution_id for item in page.items])
        if page.next_token is None:
            return pages
        assert len(page.items) == limit, "a page short of its limit says more follow"
        token = page.next_token
        assert len(pages) <= 200


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.lists(
        st.tuples(st.uuids(), st.integers(min_value=0, max_value=3), st.sampled_from(STATUSES)),
        max_size=24,
        unique_by=lambda record: record[0],
    ),
    wanted=st.sets(st.sampled_from(STATUSES), max_size=3),
    window=st.tuples(
        st.none() | st.integers(min_value=0, max_value=3),
        st.none() | st.integers(min_value=0, max_value=3),
    ),
    limits=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=8),
)
def test_pages_yield_every_matching_record_once_newest_first(
    table: Any,
    records: list[tuple[Any, int, ExecutionStatus]],
    wanted: set[ExecutionStatus],
    window: tuple[int | None, int | None],
    limits: list[int],
) -> None:
    workflow_id = f"wf-{next(_WORKFLOW_NUMBERS)}"
    store = ExecutionStore(table)
    written = [write(store, workflow_id, str(m), second, s) for m, second, s in records]
    since, until = (None if s is None else T0 + timedelta(seconds=s) for s in window)
    if since is not None and until is not None and since > until:
        since, until = until, since
    filters = ExecutionFilters(
        statuses=tuple(s for s in STATUSES if s in wanted) or None, since=since, until=until
    )
    matching = {
        r.execution_id: r
        for r in written
        if (not wanted or r.status in wanted)
        and (since is None or r.received_at >= since)
        and (until is None or r.received_at <= until)
    }
    queries = QueryService(
        workflows=InMemoryWorkflows([workflow(workflow_id)]),
        executions=ExecutionQueries(table),
        lookup=store,
        subscriptions=InMemorySubscriptions(),
        tokens=PageTokens(b"unit-test-page-token-secret-0123456789"),
        clock=lambda: T0 + timedelta(days=1),
        retention=timedelta(days=30),
    )

    pages = walk(queries, workflow_id, filters, itertools.cycle(limits))

    walked = [identifier for page in pages for identifier in page]
    assert sorted(walked) == sorted(matching), "each matching record exactly once"
    times = [matching[identifier].received_at for identifier in walked]
    assert times == sorted(times, reverse=True)
    assert pages[-1] or not matching, "no empty last page unless nothing matches"
