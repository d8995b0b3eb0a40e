"""The JSON bodies SNS POSTs to HTTP/S endpoints, signed, with their field order and format."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from snsflow.local.sns.signing import SigningIdentity

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"


def sns_timestamp(instant: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``: UTC, millisecond precision, as SNS writes it."""
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def encode_body(fields: Mapping[str, Any]) -> bytes:
    """SNS's layout: two-space indent and ``"Key" : value``; UTF-8, non-ASCII left as is."""
    return json.dumps(fields, indent=2, separators=(",", " : "), ensure_ascii=False).encode()


def signed_notification(
    identity: SigningIdentity,
    *,
    signature_version: str,
    message_id: str,
    topic_arn: str,
    subject: str | None,
    message: str,
    timestamp: datetime,
    certificate_url: str,
    unsubscribe_url: str,
    message_attributes: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    fields: dict[str, Any] = {"Type": NOTIFICATION, "MessageId": message_id, "TopicArn": topic_arn}
    if subject is not None:
        fields["Subject"] = subject
    fields["Message"] = message
    fields["Timestamp"] = sns_timestamp(timestamp)
    fields.update(_signature(identity, fields, signature_version, certificate_url))
    fields["UnsubscribeURL"] = unsubscribe_url
    if message_attributes:
        fields["MessageAttributes"] = {
            name: dict(value) for name, value in message_attributes.items()
        }
    return fields


def signed_confirmation(
    identity: SigningIdentity,
    *,
    message_type: str,
    signature_version: str,
    message_id: str,
    token: str,
    topic_arn: str,
    message: str,
    subscribe_url: str,
    timestamp: datetime,
    certificate_url: str,
) -> dict[str, Any]:
    """A ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation`` (no Subject, ever)."""
    fields: dict[str, Any] = {
        "Type": message_type,
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic_arn,
        "Message": message,
        "SubscribeURL": subscribe_url,
        "Timestamp": sns_timestamp(timestamp),
    }
    fields.update(_signature(identity, fields, signature_version, certificate_url))
    return fields


def _signature(
    identity: SigningIdentity, fields: Mapping[str, Any], version: str, certificate_url: str
) -> dict[str, str]:
    return {
        "SignatureVersion": version,
        "Signature": identity.sign(fields, version),
        "SigningCertURL": certificate_url,
    }
