"""Execution names, execution ids and the execution input (ARCHITECTURE §4)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snsflow.executions import (
    MAX_EXECUTION_INPUT_BYTES,
    ExecutionInputTooLargeError,
    build_execution_input,
    execution_id,
    execution_name,
)
from snsflow.sns import Notification

#: What Step Functions (and CloudWatch Logs) accept in an execution name.
VALID_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


def notification(message: str, **fields: object) -> Notification:
    defaults: dict[str, object] = {
        "message_id": "6f1c5b8e-1d1e-4a4b-9a7e-0f3c2b1a0d9e",
        "topic_arn": "arn:aws:sns:us-east-1:123456789012:orders",
        "message": message,
        "timestamp": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "timestamp_raw": "2026-01-02T03:04:05.678Z",
        "signature_version": "2",
        "signing_cert_url": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem",
        "unsubscribe_url": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    return Notification.model_validate(defaults | fields)


def test_an_sns_message_id_is_the_execution_name_as_is() -> None:
    message_id = "6f1c5b8e-1d1e-4a4b-9a7e-0f3c2b1a0d9e"

    assert execution_name(message_id) == message_id


@pytest.mark.parametrize(
    "message_id", ["has space", "a/b", "x" * 81, "é", "semi;colon", "under_score", ""]
)
def test_other_message_ids_are_hashed_into_a_valid_name(message_id: str) -> None:
    name = execution_name(message_id)

    assert VALID_NAME.fullmatch(name)
    assert "_" in name  # never equal to a verbatim name
    assert name == execution_name(message_id)


@given(st.text(max_size=300))
def test_every_message_id_gets_a_valid_deterministic_name(message_id: str) -> None:
    name = execution_name(message_id)

    assert VALID_NAME.fullmatch(name)
    assert name == execution_name(message_id)


@given(st.text(max_size=100), st.text(max_size=100))
def test_different_message_ids_get_different_names(first: str, second: str) -> None:
    if first != second:
        assert execution_name(first) != execution_name(second)


def test_the_execution_id_is_url_safe_and_names_workflow_and_execution() -> None:
    identifier = execution_id("order-events", "a/b c")

    assert quote(identifier, safe="") == identifier
    workflow_id, name = identifier.split(".", 1)
    assert workflow_id == "order-events"
    assert name == execution_name("a/b c")


def test_the_input_carries_the_message_as_json_when_it_is_json() -> None:
    document = json.loads(
        build_execution_input(
            "order-events",
            notification(
                '{"status": "paid", "total": 12.5}',
                subject="paid",
                message_attributes={"tenant": {"Type": "String", "Value": "acme"}},
            ),
        )
    )

    assert document == {
        "workflowId": "order-events",
        "messageId": "6f1c5b8e-1d1e-4a4b-9a7e-0f3c2b1a0d9e",
        "topicArn": "arn:aws:sns:us-east-1:123456789012:orders",
        "subject": "paid",
        "timestamp": "2026-01-02T03:04:05.678Z",
        "message": {"status": "paid", "total": 12.5},
        "rawMessage": '{"status": "paid", "total": 12.5}',
        "messageAttributes": {"tenant": {"Type": "String", "Value": "acme"}},
    }


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("order 17 paid", "order 17 paid"),
        ("42", 42),
        ("null", None),
        ("NaN", "NaN"),  # parses in Python, but is not JSON
        ('{"a": Infinity}', '{"a": Infinity}'),
        ("[" * 100_000, "[" * 100_000),  # too deep to parse: kept as text
    ],
)
def test_the_input_message_is_the_string_unless_it_is_json(message: str, expected: object) -> None:
    document = json.loads(build_execution_input("w", notification(message)))

    assert document["message"] == expected
    assert document["rawMessage"] == message
    assert document["subject"] is None


def test_a_large_message_leaves_out_the_raw_copy_to_fit_step_functions() -> None:
    message = json.dumps({"blob": "z" * 150_000})

    text = build_execution_input("w", notification(message))

    assert len(text.encode("utf-8")) <= MAX_EXECUTION_INPUT_BYTES
    document = json.loads(text)
    assert document["message"] == {"blob": "z" * 150_000}
    assert document["rawMessage"] is None
    assert document["rawMessageOmitted"] is True


def test_a_message_that_cannot_fit_even_alone_is_refused() -> None:
    with pytest.raises(ExecutionInputTooLargeError) as refused:
        build_execution_input("w", notification("\\" * 200_000))

    assert refused.value.http_status == 413


def test_non_ascii_text_is_kept_as_utf8() -> None:
    text = build_execution_input("w", notification("Grüße, 東京"))

    assert "Grüße, 東京" in text
    assert json.loads(text)["message"] == "Grüße, 東京"


def test_a_json_message_with_an_unpaired_surrogate_escape_still_makes_valid_input() -> None:
    message = '{"note": "\\ud800 alone"}'

    text = build_execution_input("w", notification(message))

    assert text.isascii()
    assert json.loads(text)["message"] == {"note": "\ud800 alone"}
    assert json.loads(text)["rawMessage"] == message
