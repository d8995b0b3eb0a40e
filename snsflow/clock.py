"""The production clock, in a module of its own so that importing it costs nothing; and the one
conversion of a caller's time to UTC, which every time given from outside goes through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment``, which must carry a time zone, as a UTC time.

    A time zone may move a time past the calendar's ends (years 1 to 9999):
    ``0001-01-01T00:00:00+14:00`` is in year 0 in UTC, ``9999-12-31T23:59:59-00:01`` in year
    10000. Such a time, or one without a time zone, raises :class:`ValueError` whose message
    completes a sentence about the value ("parameter 'since' <message>"), so that callers can
    name what they were given.
    """
    if moment.utcoffset() is None:
        raise ValueError("needs a time zone (e.g. 'Z' or '+02:00')")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "is out of range: in UTC it falls outside the years 0001 to 9999"
        ) from None


def looking_back(moment: datetime, overlap: timedelta) -> datetime:
    """``moment`` less ``overlap`` in UTC, or the calendar's first instant when that falls before
    it: a follower's next window, whatever time a misbehaving API answered."""
    try:
        return moment.astimezone(UTC) - overlap
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)
