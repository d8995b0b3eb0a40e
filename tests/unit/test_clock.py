"""The one conversion of a caller's time to UTC: the calendar's ends are a clear ValueError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snsflow.clock import as_utc, looking_back

#: Every offset a time zone can have (datetime allows up to a minute short of 24 hours).
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def test_a_time_is_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))

    converted = as_utc(datetime(2026, 3, 1, 10, 0, tzinfo=paris))

    assert converted == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert converted.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=1))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(minutes=1))),
    ],
)
def test_a_time_that_utc_cannot_hold_is_a_value_error(moment: datetime) -> None:
    with pytest.raises(ValueError, match="out of range"):
        as_utc(moment)


def test_a_time_without_a_zone_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="needs a time zone"):
        as_utc(datetime(2026, 3, 1, 10, 0))


@given(moment=st.datetimes(), zone=offsets)
def test_any_aware_time_is_converted_or_refused_as_a_value_error(
    moment: datetime, zone: timezone
) -> None:
    aware = moment.replace(tzinfo=zone)
    offset = zone.utcoffset(None)
    # Where the UTC time falls, counted from the calendar's first instant.
    position = moment - datetime.min - offset
    if timedelta(0) <= position <= datetime.max - datetime.min:
        converted = as_utc(aware)
        assert converted == aware
        assert converted.tzinfo is UTC
    else:
        with pytest.raises(ValueError, match="out of range"):
            as_utc(aware)


def test_looking_back_stops_at_the_calendars_first_instant() -> None:
    moment = datetime(2026, 12, 5, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    expected = datetime(2026, 12, 5, 5, 58, 30, tzinfo=UTC)
    assert looking_back(moment, timedelta(seconds=90)) == expected
    near_start = datetime(1, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert looking_back(near_start, timedelta(seconds=90)) == datetime.min.replace(tzinfo=UTC)
