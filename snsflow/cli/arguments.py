"""Argument types shared by the commands: each refuses a bad value with a usage error (exit 2)."""

from __future__ import annotations

import argparse
import math
import re
import urllib.parse
from datetime import UTC, datetime, timedelta

from snsflow.clock import as_utc

#: The longest duration a command takes (``--since 7d``, ``--grace 24h``): a century. Anything
#: longer means nothing more to snsflow (records live at most ten years) and, added to or taken
#: from now, could leave the years datetime can hold.
MAX_DURATION = timedelta(days=36_500)
_DURATION = re.compile(r"([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive number")
    return value


def duration(text: str) -> timedelta:
    """``0`` or a whole number with a unit: ``s``, ``m``, ``h`` or ``d``; at most a century."""
    seconds = _duration_seconds(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration like 24h, 90m, 2d or 0")
    if seconds > MAX_DURATION.total_seconds():
        raise argparse.ArgumentTypeError(
            f"'{text}' is too long: a duration is at most {MAX_DURATION.days}d (a century)"
        )
    return timedelta(seconds=seconds)


def _duration_seconds(text: str) -> float | None:
    """The seconds ``text`` spells as a duration (``inf`` when too many digits to count), or
    ``None`` when it is not one."""
    if text.strip() == "0":
        return 0
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        return None
    digits, unit = match.groups()
    return int(digits) * _UNIT_SECONDS[unit] if len(digits) <= 18 else math.inf


def in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (without an offset it is UTC already); a usage error when UTC cannot
    hold it (:func:`snsflow.clock.as_utc`)."""
    try:
        return as_utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"'{moment.isoformat()}' {error}") from None


def instant(text: str) -> datetime:
    """An ISO 8601 time, in UTC (a time without an offset is UTC)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 time") from None
    return in_utc(moment)


def instant_or_duration_ago(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC if it has no offset), or a :func:`duration` back from ``now``."""
    if _duration_seconds(text) is not None:
        return now - duration(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is neither an ISO 8601 time nor a duration like 15m, 2h or 7d"
        ) from None
    return in_utc(moment)


def http_url(text: str) -> str:
    """An http(s) URL with a host, written in visible ASCII."""
    try:
        parts = urllib.parse.urlsplit(text)
        has_host = bool(parts.hostname) and (parts.port is None or parts.port >= 0)
    except ValueError:  # a broken IPv6 host, a port out of range
        has_host = False
    if not has_host or parts.scheme not in ("http", "https"):
        raise argparse.ArgumentTypeError(f"'{text}' is not an http(s) URL")
    if not (text.isascii() and text.isprintable()) or " " in text:
        raise argparse.ArgumentTypeError(
            f"'{text}' has characters a URL cannot hold: percent-encode them"
        )
    return text
