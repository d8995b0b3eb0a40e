"""Messages signed by the test CA: every type, both signature versions, awkward content."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from snsflow.sns import (
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
    parse_message,
)
from snsflow.sns.signatures import canonical_string
from tests.support.sns import SnsTestSigner, issue_certificate, sns_timestamp

SIGNED_AT = datetime(2031, 5, 17, 8, 30, 12, 345000, tzinfo=UTC)
AWKWARD_MESSAGES = {
    "plain": "hello",
    "multi-line": "line one\nline two\r\n\nline four\n",
    "unicode": "Grüße, 世界 🚀 — \u2018quotes\u2019 and \u2028 separators",
    "json": json.dumps({"order": 17, "items": ["a", "b"], "note": "x\ny"}),
    "empty": "",
    "looks-like-a-signed-key": "x\nMessageId\nforged\nSubject\nforged",
}


@pytest.fixture(scope="module")
def signer() -> SnsTestSigner:
    return SnsTestSigner()


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", [None, "Order shipped", "Über 📦\nline two"])
@pytest.mark.parametrize("text", AWKWARD_MESSAGES.values(), ids=AWKWARD_MESSAGES.keys())
def test_signed_notification_verifies_into_its_model(
    signer: SnsTestSigner, version: str, subject: str | None, text: str
) -> None:
    body = signer.notification(
        text,
        subject=subject,
        message_id="5b5a4f4e-1111-4222-8333-944445555666",
        timestamp=SIGNED_AT,
        signature_version=version,
        message_attributes={"kind": {"Type": "String", "Value": "order"}},
    )

    verified = signer.verifier(clock=lambda: SIGNED_AT).verify(parse_message(body.encode()))

    assert verified == Notification(
        message_id="5b5a4f4e-1111-4222-8333-944445555666",
        topic_arn=signer.topic_arn,
        subject=subject,
        message=text,
        timestamp=SIGNED_AT,
        timestamp_raw="2031-05-17T08:30:12.345Z",
        signature_version=version,
        signing_cert_url=signer.cert_url,
        unsubscribe_url=json.loads(body)["UnsubscribeURL"],
        message_attributes={"kind": {"Type": "String", "Value": "order"}},
    )


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    ("message_type", "model"),
    [
        ("SubscriptionConfirmation", SubscriptionConfirmation),
        ("UnsubscribeConfirmation", UnsubscribeConfirmation),
    ],
)
def test_signed_confirmation_verifies_into_its_model(
    signer: SnsTestSigner,
    version: str,
    message_type: str,
    model: type[SubscriptionConfirmation | UnsubscribeConfirmation],
) -> None:
    body = signer.confirmation(
        message_type, token="ab12" * 32, timestamp=SIGNED_AT, signature_version=version
    )
    fields = json.loads(body)

    verified = signer.verifier(clock=lambda: SIGNED_AT).verify(parse_message(body))

    assert type(verified) is model
    assert verified.type == message_type
    assert verified.token == "ab12" * 32
    assert verified.subscribe_url == fields["SubscribeURL"]
    assert verified.message == fields["Message"]
    assert verified.timestamp == SIGNED_AT


def test_body_may_be_given_as_text_or_bytes(signer: SnsTestSigner) -> None:
    body = signer.notification("héllo", timestamp=SIGNED_AT)
    verifier = signer.verifier(clock=lambda: SIGNED_AT)

    assert verifier.verify(parse_message(body)) == verifier.verify(parse_message(body.encode()))


def test_timestamp_with_an_offset_is_reported_in_utc_and_kept_raw(signer: SnsTestSigner) -> None:
    body = signer.notification(timestamp="2031-05-17T10:30:12.345+02:00")

    verified = signer.verifier(clock=lambda: SIGNED_AT).verify(parse_message(body))

    assert verified.timestamp == SIGNED_AT
    assert verified.timestamp.tzinfo == UTC
    assert verified.timestamp_raw == "2031-05-17T10:30:12.345+02:00"


def test_unsigned_fields_are_not_part_of_the_signature(signer: SnsTestSigner) -> None:
    fields = json.loads(signer.notification(timestamp=SIGNED_AT))
    fields["UnsubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&x=1"
    fields["MessageAttributes"] = {"added": {"Type": "String", "Value": "later"}}

    verified = signer.verifier(clock=lambda: SIGNED_AT).verify(parse_message(json.dumps(fields)))

    # Verified, yet these came from nobody in particular: routing must never rely on them.
    assert isinstance(verified, Notification)
    assert verified.message_attributes == {"added": {"Type": "String", "Value": "later"}}


def test_unknown_extra_fields_are_ignored(signer: SnsTestSigner) -> None:
    fields = json.loads(signer.notification(timestamp=SIGNED_AT))
    fields["SomethingNew"] = {"nested": [1, 2]}

    verified = signer.verifier(clock=lambda: SIGNED_AT).verify(parse_message(json.dumps(fields)))

    assert "SomethingNew" not in verified.model_dump()


def test_lambda_record_with_null_subject_verifies_when_asked_for(signer: SnsTestSigner) -> None:
    fields = json.loads(signer.notification(timestamp=SIGNED_AT))
    record = {
        **{k: v for k, v in fields.items() if not k.endswith("URL")},
        "Subject": None,
        "SigningCertUrl": fields["SigningCertURL"],
        "UnsubscribeUrl": fields["UnsubscribeURL"],
        "MessageAttributes": {},
    }

    message = parse_message(json.dumps(record), lambda_format=True)
    verified = signer.verifier(clock=lambda: SIGNED_AT).verify(message)

    assert message.fields["SigningCertURL"] == signer.cert_url
    assert isinstance(verified, Notification)
    assert verified.subject is None


def test_canonical_string_follows_the_documented_layout() -> None:
    fields = {
        "Type": "Notification",
        "MessageId": "id",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Subject": None,
        "Message": "two\nlines",
        "Timestamp": "2031-05-17T08:30:12.345Z",
        "UnsubscribeURL": "not signed",
    }
    assert canonical_string(fields) == (
        b"Message\ntwo\nlines\nMessageId\nid\nTimestamp\n2031-05-17T08:30:12.345Z\n"
        b"TopicArn\narn:aws:sns:us-east-1:123456789012:t\nType\nNotification\n"
    )
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Token": "t",
        "TopicArn": "a",
        "Message": "é",
        "SubscribeURL": "u",
        "Timestamp": "ts",
    }
    assert (
        canonical_string(confirmation)
        == (
            "Message\né\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nts\nToken\nt\nTopicArn\na\n"
            "Type\nSubscriptionConfirmation\n"
        ).encode()
    )


def test_messages_from_an_opt_in_region_use_that_regions_signing_name() -> None:
    certificate = issue_certificate(name="sns-signing.af-south-1.amazonaws.com")
    signer = SnsTestSigner(
        topic_arn="arn:aws:sns:af-south-1:123456789012:orders", certificate=certificate
    )
    body = signer.notification(timestamp=SIGNED_AT)

    verified = signer.verifier(clock=lambda: SIGNED_AT).verify(parse_message(body))

    assert verified.signing_cert_url.startswith("https://sns.af-south-1.amazonaws.com/")


def test_messages_from_china_use_the_cn_endpoint_and_name() -> None:
    certificate = issue_certificate(name="sns-cn-north-1.amazonaws.com.cn")
    signer = SnsTestSigner(
        topic_arn="arn:aws-cn:sns:cn-north-1:123456789012:orders", certificate=certificate
    )
    body = signer.notification(timestamp=SIGNED_AT)

    verified = signer.verifier(clock=lambda: SIGNED_AT).verify(parse_message(body))

    assert verified.signing_cert_url.startswith("https://sns.cn-north-1.amazonaws.com.cn/")


def test_signer_timestamps_look_like_sns_timestamps() -> None:
    assert sns_timestamp(SIGNED_AT + timedelta(microseconds=999)) == "2031-05-17T08:30:12.345Z"
