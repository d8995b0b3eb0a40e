"""What ``snsflow publish`` sends: the message, subject and attributes SNS accepts, refused
before any AWS call otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from snsflow.publish import (
    MAX_MESSAGE_BYTES,
    OutgoingMessage,
    PublishRequestError,
    check_subject,
    default_message,
    is_json,
    parse_attribute,
)


@pytest.mark.parametrize("subject", ["Order A-1", "x" * 99, "Bestellung für Jürgen", "a  b"])
def test_a_subject_of_text_under_100_characters_is_kept(subject: str) -> None:
    assert check_subject(subject) == subject


@pytest.mark.parametrize(
    "subject",
    ["", "x" * 100, "two\nlines", "carriage\rreturn", "tab\t", "bell\x07", "line\u2028sep"],
)
def test_a_subject_sns_refuses_is_refused_with_the_rule(subject: str) -> None:
    with pytest.raises(PublishRequestError, match="1 to 99 characters with no line breaks"):
        check_subject(subject)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tenant=acme", ("tenant", "acme")),
        ("event.type=order=created", ("event.type", "order=created")),
        ("a_b-c.d=é", ("a_b-c.d", "é")),
    ],
)
def test_an_attribute_is_name_equals_value(text: str, expected: tuple[str, str]) -> None:
    assert parse_attribute(text) == expected


@pytest.mark.parametrize("text", ["tenant", "tenant=", "=acme"])
def test_an_attribute_without_a_name_or_value_is_refused(text: str) -> None:
    with pytest.raises(PublishRequestError):
        parse_attribute(text)


@pytest.mark.parametrize(
    "name", ["AWS.thing", "amazon.thing", ".lead", "trail.", "a..b", "spa ce", "x" * 257]
)
def test_an_attribute_name_sns_reserves_or_refuses_is_refused(name: str) -> None:
    with pytest.raises(PublishRequestError, match="not one SNS accepts"):
        parse_attribute(f"{name}=v")


def test_the_size_limit_counts_the_attributes_name_type_and_value() -> None:
    attributes = {"tenant": "acme"}
    overhead = len("tenant") + len("String") + len("acme")
    fits = "x" * (MAX_MESSAGE_BYTES - overhead)

    assert OutgoingMessage.build(fits, subject=None, attributes=attributes).size_bytes == (
        MAX_MESSAGE_BYTES
    )
    with pytest.raises(PublishRequestError, match="262145 bytes with its attributes"):
        OutgoingMessage.build(fits + "x", subject=None, attributes=attributes)


def test_the_size_is_counted_in_utf8_bytes_not_characters() -> None:
    message = "é" * (MAX_MESSAGE_BYTES // 2 + 1)  # fewer characters than the limit

    with pytest.raises(PublishRequestError):
        OutgoingMessage.build(message, subject=None, attributes={})


def test_an_empty_message_is_refused() -> None:
    with pytest.raises(PublishRequestError, match="empty"):
        OutgoingMessage.build("", subject=None, attributes={})


def test_the_subject_is_checked_when_the_message_is_built() -> None:
    with pytest.raises(PublishRequestError):
        OutgoingMessage.build("hi", subject="a\nb", attributes={})


def test_the_default_message_is_json_with_the_time_it_was_sent() -> None:
    now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)

    document = json.loads(default_message(now))

    assert document["test"] is True
    assert document["sentAt"] == "2026-03-01T10:00:00+00:00"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('{"orderId": "A-1"}', True),
        ("[1, 2]", True),
        ("42", True),
        ('"text"', True),
        ("hello", False),
        ("{not json", False),
        ("NaN", False),
        ('{"x": Infinity}', False),
        ("[" * 100_000, False),
    ],
)
def test_json_is_what_the_workflow_sees_parsed(message: str, expected: bool) -> None:
    assert is_json(message) is expected


def test_a_message_alone_over_the_limit_says_its_size() -> None:
    with pytest.raises(PublishRequestError) as refused:
        OutgoingMessage.build("x" * (MAX_MESSAGE_BYTES + 1), subject=None, attributes={})

    assert refused.value.message == (
        "the message is 262145 bytes; SNS takes at most 262144 (256 KiB)"
    )
