"""Property-based checks: no change to a signed field survives, and no input crashes the parser."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snsflow.sns import (
    MessageVerifier,
    SignatureMismatchError,
    SnsVerificationError,
    parse_message,
)
from tests.support.sns import SnsTestSigner
from tests.support.sns_spec import SIGNED_KEYS

SIGNED_AT = datetime(2031, 5, 17, 8, 30, 12, 345000, tzinfo=UTC)
REMOVED = object()

# (Type, SignatureVersion, with Subject)
VARIANTS = [
    ("Notification", "1", False),
    ("Notification", "1", True),
    ("Notification", "2", False),
    ("Notification", "2", True),
    ("SubscriptionConfirmation", "1", False),
    ("SubscriptionConfirmation", "2", False),
    ("UnsubscribeConfirmation", "1", False),
    ("UnsubscribeConfirmation", "2", False),
]

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@functools.cache
def _signer() -> SnsTestSigner:
    return SnsTestSigner()


@functools.cache
def _genuine_body(message_type: str, version: str, with_subject: bool) -> str:
    signer = _signer()
    if message_type == "Notification":
        return signer.notification(
            "line one\nGrüße 🚀",
            subject="Order shipped" if with_subject else None,
            timestamp=SIGNED_AT,
            signature_version=version,
        )
    return signer.confirmation(message_type, timestamp=SIGNED_AT, signature_version=version)


@functools.cache
def _verifier() -> MessageVerifier:
    return _signer().verifier(clock=lambda: SIGNED_AT)


def _signed_values(fields: dict[str, Any]) -> dict[str, Any]:
    keys = SIGNED_KEYS.get(str(fields.get("Type")), ())
    return {key: fields.get(key) for key in keys}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=8,
)
valid_text = st.text(st.characters(codec="utf-8"), max_size=40)


@PROPERTY_SETTINGS
@given(
    variant=st.sampled_from(VARIANTS),
    data=st.data(),
)
def test_any_change_to_any_signed_field_fails_verification(
    variant: tuple[str, str, bool], data: st.DataObject
) -> None:
    fields = json.loads(_genuine_body(*variant))
    key = data.draw(st.sampled_from(SIGNED_KEYS[fields["Type"]]), label="key")
    original = fields.get(key, REMOVED)
    new = data.draw(
        (st.just(REMOVED) | json_values).filter(lambda value: value != original), label="new"
    )
    if new is REMOVED:
        fields.pop(key, None)
    else:
        fields[key] = new

    with pytest.raises(SnsVerificationError):
        _verifier().verify(parse_message(json.dumps(fields)))


@PROPERTY_SETTINGS
@given(
    variant=st.sampled_from(VARIANTS),
    key=st.sampled_from(["Message", "MessageId", "Subject", "Token", "SubscribeURL"]),
    new=valid_text,
)
def test_well_formed_change_to_a_signed_field_is_a_signature_mismatch(
    variant: tuple[str, str, bool], key: str, new: str
) -> None:
    fields = json.loads(_genuine_body(*variant))
    if key not in SIGNED_KEYS[fields["Type"]] or fields.get(key) == new:
        return
    fields[key] = new

    with pytest.raises(SignatureMismatchError):
        _verifier().verify(parse_message(json.dumps(fields)))


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_verification_errors(body: bytes) -> None:
    # No random body carries a valid signature; what matters is how it fails.
    with pytest.raises(SnsVerificationError) as raised:
        _verifier().verify(parse_message(body))
    assert raised.value.http_status in (400, 403, 413)


@PROPERTY_SETTINGS
@given(
    document=st.dictionaries(
        st.sampled_from(
            [
                "Type",
                "MessageId",
                "TopicArn",
                "Subject",
                "Message",
                "Timestamp",
                "SignatureVersion",
                "Signature",
                "SigningCertURL",
                "UnsubscribeURL",
                "SubscribeURL",
                "Token",
                "MessageAttributes",
            ]
        )
        | st.text(max_size=5),
        st.sampled_from(["Notification", "SubscriptionConfirmation", "1", "2", ""]) | json_values,
    ),
    lambda_format=st.booleans(),
)
def test_arbitrary_json_objects_raise_only_verification_errors(
    document: dict[str, Any], lambda_format: bool
) -> None:
    with pytest.raises(SnsVerificationError) as raised:
        _verifier().verify(parse_message(json.dumps(document), lambda_format=lambda_format))
    assert raised.value.http_status in (400, 403, 413, 503)


@PROPERTY_SETTINGS
@given(
    variant=st.sampled_from(VARIANTS),
    position=st.integers(min_value=0),
    replacement=st.binary(min_size=0, max_size=3),
    length=st.integers(min_value=0, max_value=3),
)
def test_byte_level_damage_never_yields_different_signed_content(
    variant: tuple[str, str, bool], position: int, replacement: bytes, length: int
) -> None:
    body = _genuine_body(*variant).encode()
    position %= len(body)
    damaged = body[:position] + replacement + body[position + length :]

    try:
        verified = _verifier().verify(parse_message(damaged))
    except SnsVerificationError:
        return
    # Damage may hit whitespace or an unsigned field; the signed content must be unchanged.
    assert _signed_values(json.loads(damaged)) == _signed_values(json.loads(body))
    assert verified.message_id == json.loads(body)["MessageId"]
