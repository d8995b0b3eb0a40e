"""Messages signed by Amazon SNS itself (tests/fixtures/sns-real, see its README)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from snsflow.sns import (
    CertificateProvider,
    MessageVerifier,
    Notification,
    SignatureMismatchError,
    SnsVerificationError,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
    UnverifiedMessage,
    parse_message,
)
from snsflow.sns.messages import parse_timestamp
from snsflow.sns.signatures import SIGNED_KEYS
from tests.support.sns import FakeCertificateFetcher

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sns-real"
MODELS = {
    "Notification": Notification,
    "SubscriptionConfirmation": SubscriptionConfirmation,
    "UnsubscribeConfirmation": UnsubscribeConfirmation,
}


@dataclass(frozen=True)
class RealMessage:
    name: str
    body: bytes
    certificate: bytes
    entry: dict[str, Any]

    @property
    def lambda_format(self) -> bool:
        return bool(self.entry["format"] == "lambda")

    def parse(self, body: bytes | None = None) -> UnverifiedMessage:
        return parse_message(self.body if body is None else body, lambda_format=self.lambda_format)

    def verifier(self) -> MessageVerifier:
        message = self.parse()
        fetcher = FakeCertificateFetcher({message.fields["SigningCertURL"]: self.certificate})
        signed_at = parse_timestamp(message.fields["Timestamp"])
        return MessageVerifier(CertificateProvider(fetcher), clock=lambda: signed_at)


def _real_messages() -> list[RealMessage]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    return [
        RealMessage(
            name=entry["message"],
            body=(FIXTURES / entry["message"]).read_bytes(),
            certificate=(FIXTURES / entry["cert"]).read_bytes(),
            entry=entry,
        )
        for entry in manifest
    ]


REAL = _real_messages()
VALID = [message for message in REAL if message.entry["expect"] == "valid"]
ALTERED = [message for message in REAL if message.entry["expect"] != "valid"]


def test_the_fixture_set_covers_every_type_version_and_format() -> None:
    assert {(m.entry["Type"], m.entry["SignatureVersion"]) for m in VALID} >= {
        ("Notification", "1"),
        ("Notification", "2"),
        ("SubscriptionConfirmation", "1"),
        ("UnsubscribeConfirmation", "2"),
    }
    assert {m.entry["format"] for m in REAL} == {"http", "lambda", "http-raw-body"}
    assert len(ALTERED) == 2


@pytest.mark.parametrize("real", VALID, ids=lambda m: m.name)
def test_genuine_sns_message_verifies(real: RealMessage) -> None:
    message = real.parse()
    verified = real.verifier().verify(message)

    assert isinstance(verified, MODELS[real.entry["Type"]])
    assert verified.message_id == message.fields["MessageId"]
    assert verified.topic_arn == message.fields["TopicArn"]
    assert verified.message == message.fields["Message"]
    assert verified.timestamp_raw == message.fields["Timestamp"]
    assert verified.signature_version == real.entry["SignatureVersion"]
    if isinstance(verified, Notification):
        assert (verified.subject is not None) == real.entry["has_subject"]


@pytest.mark.parametrize("real", ALTERED, ids=lambda m: m.name)
def test_genuine_signature_over_altered_content_is_rejected(real: RealMessage) -> None:
    # 'http-raw-body' is the raw HTTP body: the bytes go to the parser exactly as received.
    with pytest.raises(SignatureMismatchError) as raised:
        real.verifier().verify(real.parse())
    assert raised.value.code == "signature_mismatch"


def test_certificate_file_names_match_the_signing_cert_urls() -> None:
    for real in REAL:
        url = real.parse().fields["SigningCertURL"]
        assert url.endswith("/" + real.entry["cert"].replace(".cert.pem", ".pem"))


@pytest.mark.parametrize(
    ("real", "key"),
    [
        (real, key)
        for real in VALID
        for key in SIGNED_KEYS[real.entry["Type"]]
        if key in json.loads(real.body)
    ],
    ids=lambda value: value.name if isinstance(value, RealMessage) else value,
)
def test_changing_any_signed_field_of_a_genuine_message_breaks_it(
    real: RealMessage, key: str
) -> None:
    document = json.loads(real.body)
    original = document[key]
    # Same shape, different content: change one character that no format check looks at
    # (a millisecond digit of the Timestamp, the last character elsewhere).
    position = len(original) - (2 if key == "Timestamp" else 1)
    replacement = "0" if original[position] != "0" else "1"
    document[key] = original[:position] + replacement + original[position + 1 :]
    altered = json.dumps(document).encode()

    with pytest.raises(SnsVerificationError) as raised:
        real.verifier().verify(real.parse(altered))
    # A changed Type is no longer a known type; everything else must fail the signature.
    expected = "unknown_message_type" if key == "Type" else "signature_mismatch"
    assert raised.value.code == expected


def test_real_lambda_record_is_only_accepted_when_asked_for() -> None:
    (real,) = [m for m in VALID if m.lambda_format]
    with pytest.raises(SnsVerificationError) as raised:
        parse_message(real.body)
    assert raised.value.code == "missing_field"
    assert "SigningCertURL" in raised.value.message
