"""The fuzz suite's size is part of what it proves."""

from __future__ import annotations

from tests.security.budget import CASES, TOTAL_CASES, cases


def test_the_fuzz_suite_runs_at_least_ten_thousand_cases() -> None:
    assert TOTAL_CASES == sum(CASES.values()) >= 10_000
    assert all(cases(name).max_examples == count for name, count in CASES.items())
