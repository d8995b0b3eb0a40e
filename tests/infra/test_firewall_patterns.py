"""The Content-Length patterns of the firewall match exactly the allowed sizes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from infra.firewall import MAX_PATTERNS, decimal_at_most_patterns


def _matches(patterns: list[str], value: int) -> bool:
    return any(re.fullmatch(pattern, str(value)) for pattern in patterns)


@given(limit=st.integers(min_value=0, max_value=10**8), value=st.integers(min_value=0))
def test_patterns_match_a_number_exactly_when_it_is_within_the_limit(
    limit: int, value: int
) -> None:
    assert _matches(decimal_at_most_patterns(limit), value) == (value <= limit)


@given(limit=st.integers(min_value=1, max_value=10**8))
def test_the_limit_and_its_neighbours(limit: int) -> None:
    patterns = decimal_at_most_patterns(limit)
    assert _matches(patterns, limit)
    assert _matches(patterns, limit - 1)
    assert not _matches(patterns, limit + 1)


@given(limit=st.integers(min_value=64 * 1024, max_value=6 * 1024 * 1024))
def test_every_configurable_limit_fits_one_waf_pattern_set(limit: int) -> None:
    assert len(decimal_at_most_patterns(limit)) <= MAX_PATTERNS


def test_non_numbers_never_match() -> None:
    patterns = decimal_at_most_patterns(2 * 1024 * 1024)
    for value in ("", "-1", "1e6", " 100", "100 ", "0x10", "12,000"):
        assert not any(re.fullmatch(pattern, value) for pattern in patterns), value
