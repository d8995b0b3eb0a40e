"""Why an SNS message was refused: one exception class per reason.

Every class carries a stable ``code`` (part of the HTTP API) and inherits its HTTP status and
retry hint from the project hierarchy in :mod:`snsflow.errors`:

* malformed input → :class:`~snsflow.errors.BadRequestError` (400) or
  :class:`~snsflow.errors.PayloadTooLargeError` (413);
* a signature, certificate URL, certificate or freshness problem →
  :class:`~snsflow.errors.ForbiddenError` (403);
* the certificate could not be fetched → :class:`~snsflow.errors.DependencyUnavailableError`
  (503, retryable: SNS will deliver the message again).

All of them also derive from :class:`SnsVerificationError`, so a caller can catch every
verification failure in one place.
"""

from __future__ import annotations

from snsflow.errors import (
    BadRequestError,
    DependencyUnavailableError,
    ForbiddenError,
    PayloadTooLargeError,
    SnsflowError,
)


class SnsVerificationError(SnsflowError):
    """Common base of every reason to refuse an SNS message."""

    code = "sns_verification_failed"


# --- malformed input (400 / 413) -------------------------------------------------------------


class MalformedMessageError(SnsVerificationError, BadRequestError):
    """The body is not a well-formed SNS message envelope."""

    code = "malformed_message"


class MessageTooLargeError(SnsVerificationError, PayloadTooLargeError):
    code = "message_too_large"


class InvalidEncodingError(MalformedMessageError):
    code = "invalid_encoding"


class InvalidJsonError(MalformedMessageError):
    code = "invalid_json"


class NotAnObjectError(MalformedMessageError):
    code = "not_an_object"


class DuplicateKeyError(MalformedMessageError):
    code = "duplicate_key"


class MissingFieldError(MalformedMessageError):
    code = "missing_field"


class WrongFieldTypeError(MalformedMessageError):
    code = "wrong_field_type"


class UnknownMessageTypeError(MalformedMessageError):
    code = "unknown_message_type"


class InvalidTopicArnError(MalformedMessageError):
    code = "invalid_topic_arn"


class InvalidTimestampError(MalformedMessageError):
    code = "invalid_timestamp"


class RawDeliveryError(MalformedMessageError):
    code = "raw_delivery_not_supported"


# --- refused: signature, certificate URL, certificate, freshness (403) -----------------------


class RejectedMessageError(SnsVerificationError, ForbiddenError):
    """The message is well formed but cannot be shown to come from Amazon SNS."""

    code = "message_rejected"


class UnsupportedSignatureVersionError(RejectedMessageError):
    code = "unsupported_signature_version"


class InvalidSignatureEncodingError(RejectedMessageError):
    code = "invalid_signature_encoding"


class SignatureMismatchError(RejectedMessageError):
    code = "signature_mismatch"


class CertificateUrlRejectedError(RejectedMessageError):
    code = "certificate_url_rejected"


class SubscribeUrlRejectedError(RejectedMessageError):
    code = "subscribe_url_rejected"


class CertificateInvalidError(RejectedMessageError):
    code = "certificate_invalid"


class CertificateNameMismatchError(RejectedMessageError):
    code = "certificate_name_mismatch"


class CertificateExpiredError(RejectedMessageError):
    code = "certificate_expired"


class CertificateNotYetValidError(RejectedMessageError):
    code = "certificate_not_yet_valid"


class StaleTimestampError(RejectedMessageError):
    code = "stale_timestamp"


class FutureTimestampError(RejectedMessageError):
    code = "future_timestamp"


# --- transient (503) ---------------------------------------------------------------------------


class CertificateFetchError(SnsVerificationError, DependencyUnavailableError):
    """The signing certificate could not be downloaded; a later delivery may succeed."""

    code = "certificate_unavailable"
