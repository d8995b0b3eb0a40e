"""The store's shared foundation: one stored time format, one translation of DynamoDB failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from snsflow.errors import DependencyUnavailableError
from snsflow.store.dynamodb import dynamodb_errors, format_time, parse_time


def client_error(code: str, http_status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": http_status},
    }
    return ClientError(response, "UpdateItem")


def test_times_are_fixed_width_utc_milliseconds() -> None:
    paris = timezone(timedelta(hours=1))

    assert format_time(datetime(2026, 3, 1, 10, 0, 0, 999_999, tzinfo=paris)) == (
        "2026-03-01T09:00:00.999Z"
    )
    assert format_time(datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) == "2026-03-01T09:00:00.000Z"


def test_stored_times_sort_as_the_times_do_and_read_back() -> None:
    moments = [
        datetime(2026, 3, 1, 9, 0, tzinfo=UTC) + timedelta(milliseconds=n)
        for n in (1, 10, 100, 1000)
    ]

    stored = [format_time(moment) for moment in moments]

    assert sorted(stored, reverse=True) == stored[::-1]
    assert [parse_time(text) for text in stored] == moments


def test_times_of_any_year_are_stored_with_four_digit_years_so_they_sort() -> None:
    moments = [datetime(year, 1, 1, tzinfo=UTC) for year in (1, 99, 999, 1000, 2026, 9999)]

    stored = [format_time(moment) for moment in moments]

    assert stored[0] == "0001-01-01T00:00:00.000Z"
    assert sorted(stored) == stored
    assert [parse_time(text) for text in stored] == moments


def test_a_time_utc_cannot_hold_is_a_value_error_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="out of range"):
        format_time(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))


@pytest.mark.parametrize(
    "error",
    [
        client_error("ThrottlingException"),
        client_error("ProvisionedThroughputExceededException"),
        client_error("TransactionConflictException"),
        client_error("SomethingNew", http_status=503),
        EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
    ],
)
def test_a_failure_a_retry_can_fix_is_a_dependency_outage(error: Exception) -> None:
    with pytest.raises(DependencyUnavailableError) as raised, dynamodb_errors("read the record"):
        raise error

    assert raised.value.retryable
    assert "could not read the record" in raised.value.message


@pytest.mark.parametrize(
    "code",
    ["ConditionalCheckFailedException", "ResourceNotFoundException", "AccessDeniedException"],
)
def test_any_other_failure_is_left_to_the_caller(code: str) -> None:
    with pytest.raises(ClientError) as raised, dynamodb_errors("read the record"):
        raise client_error(code)

    assert raised.value.response["Error"]["Code"] == code
