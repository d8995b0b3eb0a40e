"""Listing executions: the merge of per-status streams, its page tokens, its filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snsflow.query import ExecutionFilters, InvalidParameterError, WorkflowNotFoundError
from snsflow.store.executions import ExecutionStatus
from tests.unit.query.fakes import T0, InMemoryExecutions, record, service

STATUSES = list(ExecutionStatus)


def walk(executions: InMemoryExecutions, filters: ExecutionFilters, limit: int) -> list[list[str]]:
    queries = service(executions)
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        page = queries.list_executions("orders", filters, limit=limit, next_token=token)
        pages.append([item.execution_id for item in page.items])
        token = page.next_token
        if token is None:
            return pages
        assert len(pages) <= 1000


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(
        st.tuples(st.integers(min_value=0, max_value=12), st.sampled_from(STATUSES)),
        max_size=40,
    ),
    wanted=st.sets(st.sampled_from(STATUSES)),
    limit=st.integers(min_value=1, max_value=8),
)
def test_every_walk_yields_each_matching_record_once_newest_first(
    records: list[tuple[int, ExecutionStatus]], wanted: set[ExecutionStatus], limit: int
) -> None:
    # Few distinct seconds for many records: ties within and across statuses.
    executions = InMemoryExecutions(
        [
            record(index, status, T0 + timedelta(seconds=second))
            for index, (second, status) in enumerate(records)
        ]
    )
    filters = ExecutionFilters(statuses=tuple(s for s in STATUSES if s in wanted) or None)
    matching = {r.execution_id: r for r in executions.records if not wanted or r.status in wanted}

    pages = walk(executions, filters, limit)

    walked = [identifier for page in pages for identifier in page]
    assert sorted(walked) == sorted(matching)
    times = [matching[identifier].received_at for identifier in walked]
    assert times == sorted(times, reverse=True)
    assert all(len(page) == limit for page in pages[:-1])
    assert pages[-1] or not matching  # no empty last page unless nothing matches


def test_a_status_with_records_not_yet_shown_is_read_again_on_the_next_page() -> None:
    executions = InMemoryExecutions(
        [record(1, ExecutionStatus.FAILED, T0)]
        + [record(10 + i, ExecutionStatus.SUCCEEDED, T0 + timedelta(seconds=i)) for i in range(6)]
    )
    queries = service(executions)
    filters = ExecutionFilters.from_parameters(["FAILED,SUCCEEDED"])
    first = queries.list_executions("orders", filters, limit=2)
    executions.calls.clear()

    queries.list_executions("orders", filters, limit=2, next_token=first.next_token)

    # FAILED still has its one record (older than every SUCCEEDED one): both are read.
    assert [status for status, _ in executions.calls] == [
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
    ]


def test_a_status_whose_records_were_all_shown_is_skipped_on_later_pages() -> None:
    executions = InMemoryExecutions(
        [record(1, ExecutionStatus.FAILED, T0 + timedelta(hours=1))]
        + [record(10 + i, ExecutionStatus.SUCCEEDED, T0 + timedelta(seconds=i)) for i in range(6)]
    )
    queries = service(executions)
    filters = ExecutionFilters.from_parameters(["FAILED", "SUCCEEDED"])
    first = queries.list_executions("orders", filters, limit=2)
    executions.calls.clear()

    second = queries.list_executions("orders", filters, limit=2, next_token=first.next_token)

    assert [status for status, _ in executions.calls] == [ExecutionStatus.SUCCEEDED]
    assert [item.status for item in second.items] == [ExecutionStatus.SUCCEEDED] * 2


def test_the_last_page_has_no_token_even_when_it_is_full() -> None:
    executions = InMemoryExecutions(
        [record(i, ExecutionStatus.RUNNING, T0 + timedelta(seconds=i)) for i in range(4)]
    )

    pages = walk(executions, ExecutionFilters(), limit=2)

    assert [len(page) for page in pages] == [2, 2]


@pytest.mark.parametrize("limit", [0, -1, 101])
def test_a_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        service(InMemoryExecutions()).list_executions("orders", ExecutionFilters(), limit=limit)

    assert refused.value.parameter == "limit"


def test_an_unknown_workflow_is_not_found() -> None:
    with pytest.raises(WorkflowNotFoundError):
        service(InMemoryExecutions()).list_executions("nope", ExecutionFilters())


# -- filters --------------------------------------------------------------------------------------


def test_statuses_are_parsed_from_repeats_and_commas_in_any_case_and_order() -> None:
    filters = ExecutionFilters.from_parameters(["failed, Running", "FAILED", " ", "aborted,"])

    assert filters.statuses == (
        ExecutionStatus.RUNNING,
        ExecutionStatus.FAILED,
        ExecutionStatus.ABORTED,
    )


def test_no_status_or_only_blanks_means_every_status() -> None:
    assert ExecutionFilters.from_parameters(None).statuses is None
    assert ExecutionFilters.from_parameters(["", " , "]).statuses is None


def test_an_unknown_status_names_the_parameter_and_the_allowed_values() -> None:
    with pytest.raises(InvalidParameterError) as refused:
        ExecutionFilters.from_parameters(["FAILED,DONE"])

    assert refused.value.parameter == "status"
    assert "'DONE'" in refused.value.message
    assert "TIMED_OUT" in refused.value.message
    assert refused.value.to_body()["error"]["parameter"] == "status"


def test_times_need_a_zone_and_an_order() -> None:
    with pytest.raises(InvalidParameterError) as naive:
        ExecutionFilters.from_parameters(since=T0.replace(tzinfo=None))
    with pytest.raises(InvalidParameterError) as backwards:
        ExecutionFilters.from_parameters(since=T0, until=T0 - timedelta(seconds=1))

    assert naive.value.parameter == "since"
    assert backwards.value.parameter == "until"
    assert ExecutionFilters.from_parameters(since=T0, until=T0).until == T0


@pytest.mark.parametrize(
    ("name", "moment"),
    [
        ("since", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))),
        ("until", datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))),
        ("since", datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(minutes=1)))),
        ("until", datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=1)))),
    ],
)
def test_a_time_outside_utcs_calendar_names_the_parameter(name: str, moment: datetime) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        ExecutionFilters.from_parameters(None, **{name: moment})

    assert refused.value.parameter == name
    assert "out of range" in refused.value.message


def test_times_are_kept_in_utc_up_to_the_calendars_ends() -> None:
    filters = ExecutionFilters.from_parameters(
        since=datetime(1, 1, 1, tzinfo=timezone(-timedelta(minutes=1))),
        until=datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(minutes=1))),
    )

    assert filters.since == datetime(1, 1, 1, 0, 1, tzinfo=UTC)
    assert filters.until == datetime(9999, 12, 31, 23, 58, tzinfo=UTC)
    assert filters.since.tzinfo is UTC
    assert filters.token_scope("orders")["since"] == "0001-01-01T00:01:00.000Z"


def test_a_token_scope_is_the_same_for_the_same_instant_in_any_zone() -> None:
    here = ExecutionFilters.from_parameters(["FAILED"], since=T0)
    elsewhere = ExecutionFilters.from_parameters(
        ["failed"], since=T0.astimezone(timezone(timedelta(hours=5, minutes=30)))
    )

    assert here.token_scope("orders") == elsewhere.token_scope("orders")
    assert here.token_scope("orders") != here.token_scope("audit")
