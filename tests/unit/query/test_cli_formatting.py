"""What ``snsflow executions`` and ``snsflow workflows`` print, from the API's models."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from snsflow.cli.executions import Watcher, format_duration, format_executions, parse_moment
from snsflow.cli.stack import (
    ApiRequestError,
    LocalStackInfo,
    ReadApi,
    UsageError,
    render_table,
    show_time,
)
from snsflow.cli.workflows import sns_endpoint
from snsflow.query import Execution, ExecutionPage
from snsflow.store.executions import ExecutionStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.35, "350ms"), (2.5, "2.5s"), (59.94, "59.9s"), (65, "1m05s"), (3600 + 180, "1h03m")],
)
def test_durations_read_at_a_glance(seconds: float, shown: str) -> None:
    assert format_duration(NOW, NOW + timedelta(seconds=seconds), NOW) == shown


def test_a_running_execution_counts_up_to_now_and_an_unstarted_one_has_none() -> None:
    assert format_duration(NOW - timedelta(seconds=3), None, NOW) == "3.0s"
    assert format_duration(None, None, NOW) == "-"


def test_times_are_iso_8601_or_a_duration_ago() -> None:
    assert parse_moment("2026-03-01T10:00:00+02:00") == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert parse_moment("2026-03-01T10:00:00") == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_moment("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_moment("90m", NOW) == NOW - timedelta(minutes=90)
    assert parse_moment("7d", NOW).tzinfo is not None
    with pytest.raises(argparse.ArgumentTypeError, match="neither an ISO 8601 time"):
        parse_moment("last tuesday")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-00:01"])
def test_a_time_that_utc_cannot_hold_is_refused(text: str) -> None:
    with pytest.raises(
        argparse.ArgumentTypeError, match="in UTC it falls outside the years 0001 to 9999"
    ):
        parse_moment(text, NOW)


@pytest.mark.parametrize("text", ["99999999d", "36501d", "9" * 40 + "s"])
def test_a_duration_longer_than_a_century_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="too long"):
        parse_moment(text, NOW)


def test_the_extremes_that_fit_are_accepted() -> None:
    assert parse_moment("36500d", NOW) == NOW - timedelta(days=36_500)
    assert parse_moment("0001-01-01T00:00:00Z", NOW) == datetime(1, 1, 1, tzinfo=UTC)
    assert parse_moment("9999-12-31T23:59:59+00:00", NOW).year == 9999


def _execution(subject: str | None, status: ExecutionStatus) -> Execution:
    return Execution(
        execution_id="order-events.m-1",
        workflow_id="order-events",
        message_id="m-1",
        status=status,
        topic_arn="arn:aws:sns:us-east-1:123456789012:orders",
        subject=subject,
        received_at=NOW,
        started_at=NOW + timedelta(milliseconds=40),
        stopped_at=None,
        deliveries=2,
        execution_arn=None,
    )


def test_the_executions_table_has_one_aligned_row_per_execution() -> None:
    lines = format_executions(
        [
            _execution("a subject far too long to keep whole in a column", ExecutionStatus.RUNNING),
            _execution(None, ExecutionStatus.RECEIVED),
        ],
        NOW + timedelta(seconds=5),
    )

    assert lines[0].split() == [
        "WORKFLOW",
        "STATUS",
        "TRIGGER",
        "START",
        "END",
        "DURATION",
        "EXECUTION",
        "ID",
    ]
    assert lines[1].index("RUNNING") == lines[2].index("RECEIVED") == lines[0].index("STATUS")
    assert "orders: a subject far too long to keep …" in lines[1]
    assert "2026-03-01 12:00:00Z" in lines[1]
    assert "5.0s" in lines[1]


def test_the_endpoint_carries_the_key_url_encoded() -> None:
    assert sns_endpoint("https://x/webhooks/w", "snsf_a+b/c") == (
        "https://x/webhooks/w?x-api-key=snsf_a%2Bb%2Fc"
    )


def test_render_table_pads_every_column_but_the_last() -> None:
    assert render_table(("A", "BB"), [("long", "x"), ("s", "yy")]) == [
        "A     BB",
        "long  x",
        "s     yy",
    ]


def test_the_info_file_names_its_read_key() -> None:
    info = LocalStackInfo.model_validate(
        {"apiUrl": "http://127.0.0.1:1", "keys": {"r": "snsf_r"}, "readKeyName": "r", "x": 1}
    )

    assert info.read_key == "snsf_r"
    assert LocalStackInfo.model_validate({"apiUrl": "http://127.0.0.1:1"}).read_key is None


@pytest.mark.parametrize("url", ["ftp://example.com", "example.com", "http://"])
def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(UsageError):
        ReadApi(url, "snsf_x")


def test_a_time_with_an_offset_is_the_same_instant_in_utc() -> None:
    moment = parse_moment("2026-03-01T10:00:00-05:00")

    assert moment == datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "url",
    ["http://[::1", "http://127.0.0.1:99999", "http://ex ample.com", "http://127.0.0.1:1/\x1b[2J"],
)
def test_a_url_python_cannot_send_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(UsageError):
        ReadApi(url, "snsf_x")


@pytest.mark.parametrize("key", ["snsf_\u00e9", "snsf_x\nHost: evil", "snsf x", "\udcff"])
def test_a_key_a_header_cannot_carry_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(UsageError) as refused:
        ReadApi("http://127.0.0.1:1", key)

    assert key not in str(refused.value)


def test_a_time_utc_cannot_hold_is_shown_as_the_api_gave_it() -> None:
    edge = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))

    assert show_time(edge) == "0001-01-01T00:00:00+14:00"
    assert show_time(NOW) == "2026-03-01 12:00:00Z"


class _PagedApi(ReadApi):
    """Answers every listing with ``page``, and notes the ``since`` of each."""

    def __init__(self, page: ExecutionPage) -> None:
        super().__init__("http://127.0.0.1:1", "snsf_x")
        self.page = page
        self.since: list[datetime | None] = []

    def executions(self, workflow_id: str, **filters: Any) -> ExecutionPage:
        self.since.append(filters.get("since"))
        return self.page


def test_watch_stops_following_a_next_token_handed_out_again() -> None:
    api = _PagedApi(ExecutionPage(items=[], next_token="again"))
    watcher = Watcher(api, "order-events", [], io.StringIO())
    watcher.poll(backlog=10)

    with pytest.raises(ApiRequestError, match="nextToken it gave before"):
        watcher.poll()
    assert len(api.since) == 3  # the backlog, then one page and its repeat


def test_watch_looks_back_from_the_start_of_time_at_the_edge_of_the_calendar() -> None:
    edge = _execution(None, ExecutionStatus.RUNNING).model_copy(
        update={"received_at": datetime(1, 1, 1, 0, 0, 10, tzinfo=UTC)}
    )
    api = _PagedApi(ExecutionPage(items=[edge], next_token=None))
    watcher = Watcher(api, "order-events", [], io.StringIO())

    watcher.poll(backlog=10)
    watcher.poll()

    assert api.since[-1] == datetime.min.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "https://203.0.113.9/prod/webhooks/order-events?x-api-key=snsf_leaked",
        "https://203.0.113.9/prod#executions",
    ],
)
def test_an_api_url_with_a_query_or_fragment_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(UsageError, match="no query or fragment") as refused:
        ReadApi(url, "snsf_x")

    assert "snsf_leaked" not in str(refused.value)
