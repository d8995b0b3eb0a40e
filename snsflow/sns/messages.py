"""The SNS message envelope: strict parsing of the raw body, and the verified models.

:func:`parse_message` checks the *shape* of a body and keeps the raw decoded values in an
:class:`UnverifiedMessage`. Only :class:`~snsflow.sns.verifier.MessageVerifier` turns one into a
:data:`SnsMessage` model, after the signature has been checked over those raw values (a model
would re-serialise them, e.g. rewrite the timestamp, and break the signature).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from snsflow.clock import as_utc
from snsflow.sns.errors import (
    DuplicateKeyError,
    InvalidEncodingError,
    InvalidJsonError,
    InvalidTimestampError,
    InvalidTopicArnError,
    MessageTooLargeError,
    MissingFieldError,
    NotAnObjectError,
    RawDeliveryError,
    UnknownMessageTypeError,
    WrongFieldTypeError,
)

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

_ENVELOPE_FIELDS = ("SignatureVersion", "Signature", "SigningCertURL")
_CONFIRMATION_FIELDS = (
    "Type",
    "MessageId",
    "Token",
    "TopicArn",
    "Message",
    "SubscribeURL",
    "Timestamp",
    *_ENVELOPE_FIELDS,
)
#: Fields that must be present, and be strings, for each message type.
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        NOTIFICATION: (
            "Type",
            "MessageId",
            "TopicArn",
            "Message",
            "Timestamp",
            *_ENVELOPE_FIELDS,
            "UnsubscribeURL",
        ),
        SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_FIELDS,
        UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_FIELDS,
    }
)
#: Optional string fields per type (absent is fine; present means a string).
OPTIONAL_STRING_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {NOTIFICATION: ("Subject",), SUBSCRIPTION_CONFIRMATION: (), UNSUBSCRIBE_CONFIRMATION: ()}
)

#: The Lambda SNS event record spells the URL keys differently; they are renamed on parse.
_LAMBDA_KEY_NAMES = MappingProxyType(
    {
        "SigningCertUrl": "SigningCertURL",
        "UnsubscribeUrl": "UnsubscribeURL",
        "SubscribeUrl": "SubscribeURL",
    }
)

#: SNS caps a message at 256 KiB; JSON escaping can grow it up to six-fold (``\\u0001``), plus
#: the envelope. Anything larger cannot be an SNS delivery.
MAX_BODY_BYTES = 2 * 1024 * 1024

_RAW_DELIVERY_HINT = (
    " (not an SNS message envelope: if raw message delivery is on for this subscription, "
    "turn it off)"
)
_TOPIC_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:sns:(?P<region>[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}):[0-9]{12}:"
    r"[A-Za-z0-9_-]{1,256}(?:\.fifo)?"
)
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


class UnverifiedMessage(NamedTuple):
    """A structurally valid SNS message whose signature has NOT been checked yet (immutable).

    ``fields`` holds the raw JSON-decoded values (HTTP key spelling, read-only). ``type``,
    ``message_id`` and ``topic_arn`` may be looked at before verification (e.g. to refuse a topic
    early) but must not be trusted until :meth:`MessageVerifier.verify` has succeeded.
    """

    # A NamedTuple rather than a frozen dataclass: built for every delivery, it is 5x cheaper.
    fields: Mapping[str, Any]
    type: str
    message_id: str
    topic_arn: str

    @property
    def region(self) -> str:
        """The AWS region of ``topic_arn`` (the certificate must come from the same region)."""
        return topic_region(self.topic_arn)


def topic_region(topic_arn: str) -> str:
    """The region of an SNS topic ARN; raises :class:`InvalidTopicArnError` if it is not one."""
    region = _topic_arn_region(topic_arn)
    if region is None:
        raise InvalidTopicArnError(f"TopicArn {topic_arn[:300]!r} is not an SNS topic ARN")
    return region


@functools.lru_cache(maxsize=1024)
def _topic_arn_region(topic_arn: str) -> str | None:
    match = _TOPIC_ARN.fullmatch(topic_arn)
    return None if match is None else match["region"]


def parse_message(
    body: bytes | str, *, lambda_format: bool = False, max_body_bytes: int = MAX_BODY_BYTES
) -> UnverifiedMessage:
    """Strictly parse the body of an SNS HTTP(S) delivery.

    The body must be a UTF-8 JSON object without duplicate keys, of a known ``Type``, with every
    field that type requires present and a string (``MessageAttributes``, if present, an object
    of ``{"Type": str, "Value": str}`` objects). Unknown extra fields are ignored.

    ``lambda_format=True`` accepts the ``Sns`` record of a Lambda SNS event instead, which
    spells ``SigningCertUrl``/``UnsubscribeUrl``/``SubscribeUrl`` and may carry
    ``"Subject": null``; the keys are renamed to the HTTP spelling in ``fields``. The HTTP path
    never sets it.
    """
    size = len(body)
    if size > max_body_bytes:
        raise MessageTooLargeError(
            f"the body is {size} bytes; an SNS message is at most {max_body_bytes}"
        )
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEncodingError(f"the body is not UTF-8 ({exc.reason})") from None
    else:
        text = body
    document = _decode_json(text)
    if not isinstance(document, dict):
        raise NotAnObjectError(
            f"the body must be a JSON object, not {_json_type_name(document)}{_RAW_DELIVERY_HINT}"
        )
    fields = _rename_lambda_keys(document) if lambda_format else document
    if "Type" not in fields:
        raise MissingFieldError(f"the field 'Type' is missing{_RAW_DELIVERY_HINT}")
    message_type = _string_field(fields, "Type")
    required = REQUIRED_FIELDS.get(message_type)
    if required is None:
        raise UnknownMessageTypeError(f"unknown message Type {message_type[:100]!r}")
    for name in required:
        value = fields.get(name)
        if type(value) is not str:
            _string_field(fields, name)  # raises, saying what is wrong
        elif not value.isascii():  # O(1); only non-ASCII strings can hold a lone surrogate
            _check_encodable(value, name)
    for name in OPTIONAL_STRING_FIELDS[message_type]:
        if name in fields and not (lambda_format and fields[name] is None):
            _check_encodable(_string_field(fields, name), name)
    if message_type == NOTIFICATION and "MessageAttributes" in fields:
        _check_message_attributes(fields["MessageAttributes"])
    topic_arn: str = fields["TopicArn"]
    topic_region(topic_arn)
    return UnverifiedMessage(
        fields=MappingProxyType(fields),
        type=message_type,
        message_id=fields["MessageId"],
        topic_arn=topic_arn,
    )


def reject_raw_delivery(headers: Mapping[str, str]) -> None:
    """Refuse a delivery that SNS sent with raw message delivery on: it carries no signature."""
    for name, value in headers.items():
        if name.lower() == "x-amz-sns-rawdelivery" and value.strip().lower() == "true":
            raise RawDeliveryError(
                "raw message delivery is on for this subscription: the message carries no "
                "signature and cannot be authenticated; turn RawMessageDelivery off"
            )


def parse_timestamp(raw: str) -> datetime:
    """Parse an SNS ``Timestamp`` (ISO 8601 with a zone, e.g. ``2024-01-31T12:00:00.123Z``)."""
    if _TIMESTAMP.fullmatch(raw) is not None:
        try:
            return as_utc(datetime.fromisoformat(raw))
        except ValueError:  # not a date, or not one UTC can hold (year 1 at +14:00)
            pass
    raise InvalidTimestampError(f"Timestamp {raw[:100]!r} is not an ISO 8601 UTC timestamp")


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant)


def _decode_json(text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except _DuplicateKeyError as exc:
        raise DuplicateKeyError(f"the key {exc.key[:100]!r} appears twice in one object") from None
    except json.JSONDecodeError as exc:
        raise InvalidJsonError(
            f"the body is not JSON: {exc.msg} at offset {exc.pos}{_RAW_DELIVERY_HINT}"
        ) from None
    except (ValueError, RecursionError) as exc:
        # Out-of-range numbers, NaN/Infinity, absurd nesting: not an SNS envelope either.
        raise InvalidJsonError(f"the body is not acceptable JSON: {exc}") from None


def _rename_lambda_keys(document: dict[str, Any]) -> dict[str, Any]:
    renamed: dict[str, Any] = {}
    for key, value in document.items():
        name = _LAMBDA_KEY_NAMES.get(key, key)
        if name in renamed:
            raise DuplicateKeyError(f"the key {name!r} appears twice (Lambda and HTTP spelling)")
        renamed[name] = value
    return renamed


def _string_field(fields: Mapping[str, Any], name: str, where: str = "the field ") -> str:
    try:
        value = fields[name]
    except KeyError:
        raise MissingFieldError(f"{where}{name!r} is missing") from None
    if not isinstance(value, str):
        raise WrongFieldTypeError(f"{where}{name!r} must be a string, not {_json_type_name(value)}")
    return value


def _check_encodable(value: str, what: str) -> None:
    # A "\\uD800"-style JSON escape can put an unpaired surrogate into a decoded string, which
    # no UTF-8 consumer downstream (signing, DynamoDB, logs) can encode.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEncodingError(f"{what!r} contains an unpaired surrogate") from None


def _check_message_attributes(attributes: Any) -> None:
    if not isinstance(attributes, dict):
        raise WrongFieldTypeError(
            f"the field 'MessageAttributes' must be an object, not {_json_type_name(attributes)}"
        )
    for attribute_name, attribute in attributes.items():
        where = f"MessageAttributes[{attribute_name[:100]!r}]"
        if not isinstance(attribute, dict):
            raise WrongFieldTypeError(
                f"{where} must be an object, not {_json_type_name(attribute)}"
            )
        _check_encodable(attribute_name, where)
        _check_encodable(_string_field(attribute, "Type", f"{where}."), f"{where}.Type")
        _check_encodable(_string_field(attribute, "Value", f"{where}."), f"{where}.Value")


def _json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --- verified models ---------------------------------------------------------------------------


class _VerifiedMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    topic_arn: str
    message: str
    #: ``Timestamp`` parsed, in UTC; ``timestamp_raw`` is the signed string as received.
    timestamp: datetime
    timestamp_raw: str
    signature_version: Literal["1", "2"]
    signing_cert_url: str


class Notification(_VerifiedMessage):
    type: Literal["Notification"] = "Notification"
    subject: str | None = None
    unsubscribe_url: str
    #: Not signed by SNS: never route or authorise on it.
    message_attributes: dict[str, Any] = Field(default_factory=dict)


class SubscriptionConfirmation(_VerifiedMessage):
    type: Literal["SubscriptionConfirmation"] = "SubscriptionConfirmation"
    token: str
    #: Visit only after :func:`~snsflow.sns.urls.validate_subscribe_url` accepted it.
    subscribe_url: str


class UnsubscribeConfirmation(_VerifiedMessage):
    type: Literal["UnsubscribeConfirmation"] = "UnsubscribeConfirmation"
    token: str
    #: Visiting this URL RE-subscribes the endpoint: never follow it automatically.
    subscribe_url: str


#: A verified SNS message; ``type`` tells the three apart.
SnsMessage = Notification | SubscriptionConfirmation | UnsubscribeConfirmation


def build_verified_message(message: UnverifiedMessage, timestamp: datetime) -> SnsMessage:
    """The model of a message whose signature has just been verified (verifier use only)."""
    fields = message.fields
    values: dict[str, Any] = {
        "message_id": message.message_id,
        "topic_arn": message.topic_arn,
        "message": fields["Message"],
        "timestamp": timestamp,
        "timestamp_raw": fields["Timestamp"],
        "signature_version": fields["SignatureVersion"],
        "signing_cert_url": fields["SigningCertURL"],
    }
    if message.type == NOTIFICATION:
        values["subject"] = fields.get("Subject")
        values["unsubscribe_url"] = fields["UnsubscribeURL"]
        values["message_attributes"] = fields.get("MessageAttributes", {})
        return Notification.model_validate(values)
    values["token"] = fields["Token"]
    values["subscribe_url"] = fields["SubscribeURL"]
    if message.type == SUBSCRIPTION_CONFIRMATION:
        return SubscriptionConfirmation.model_validate(values)
    return UnsubscribeConfirmation.model_validate(values)
