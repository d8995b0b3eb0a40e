"""Outcomes fit in the record: output, error and cause are cut to size and flagged."""

from __future__ import annotations

from datetime import UTC, datetime

from snsflow.executions import MAX_EXECUTION_INPUT_BYTES
from snsflow.status import build_status_change
from snsflow.store.executions import ExecutionStatus, detail_budget_bytes

STARTED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
STOPPED = datetime(2026, 3, 1, 9, 1, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:m:n"


def test_a_small_output_is_kept_whole() -> None:
    result = build_status_change(
        status=ExecutionStatus.SUCCEEDED,
        execution_arn=ARN,
        started_at=STARTED,
        stopped_at=STOPPED,
        output='{"ok": true}',
        error=None,
        cause=None,
        input_bytes=100,
    )

    assert result.output == '{"ok": true}'
    assert result.output_truncated is False
    assert result.stopped_at == STOPPED


def test_an_output_beyond_the_budget_is_cut_and_flagged() -> None:
    budget = detail_budget_bytes(MAX_EXECUTION_INPUT_BYTES)
    output = "o" * (budget + 10)

    result = build_status_change(
        status=ExecutionStatus.SUCCEEDED,
        execution_arn=ARN,
        started_at=STARTED,
        stopped_at=STOPPED,
        output=output,
        error=None,
        cause=None,
        input_bytes=MAX_EXECUTION_INPUT_BYTES,
    )

    assert result.output_truncated is True
    assert result.output == "o" * budget


def test_cutting_never_splits_a_character() -> None:
    budget = detail_budget_bytes(MAX_EXECUTION_INPUT_BYTES)
    output = "€" * budget  # three bytes each

    result = build_status_change(
        status=ExecutionStatus.SUCCEEDED,
        execution_arn=ARN,
        started_at=STARTED,
        stopped_at=STOPPED,
        output=output,
        error=None,
        cause=None,
        input_bytes=MAX_EXECUTION_INPUT_BYTES,
    )

    assert result.output is not None
    assert result.output_truncated is True
    assert set(result.output) == {"€"}
    assert len(result.output.encode("utf-8")) <= budget


def test_error_and_cause_share_the_budget_and_the_cause_is_flagged() -> None:
    budget = detail_budget_bytes(MAX_EXECUTION_INPUT_BYTES)

    result = build_status_change(
        status=ExecutionStatus.FAILED,
        execution_arn=ARN,
        started_at=STARTED,
        stopped_at=STOPPED,
        output=None,
        error="E" * 5000,
        cause="c" * (2 * budget),
        input_bytes=MAX_EXECUTION_INPUT_BYTES,
    )

    assert result.error == "E" * 1024
    assert result.cause is not None
    assert result.cause_truncated is True
    assert len(result.error) + len(result.cause) == budget


def test_a_running_change_has_no_stop_time() -> None:
    result = build_status_change(
        status=ExecutionStatus.RUNNING,
        execution_arn=ARN,
        started_at=STARTED,
        stopped_at=STOPPED,
        output=None,
        error=None,
        cause=None,
        input_bytes=10,
    )

    assert result.stopped_at is None
    assert result.started_at == STARTED
