"""Amazon SNS message verification.

Typical use (the webhook handler)::

    verifier = MessageVerifier(CertificateProvider(UrllibCertificateFetcher()))
    message = parse_message(body)          # 400-class errors for malformed input
    ...                                    # e.g. refuse message.topic_arn early
    verified = verifier.verify(message)    # 403-class, or 503 if the certificate fetch failed

Every failure is a :class:`SnsVerificationError` carrying ``code``, ``http_status`` and
``retryable``.
"""

# Submodules load on first use (PEP 562): a function that only needs the message models (status,
# reconciler, query) must not pay for ``cryptography`` and ``urllib3`` at its cold start.
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snsflow.sns.certificates import (
        CertificateFetcher,
        CertificateProvider,
        SigningCertificate,
        StaticCertificateFetcher,
        UrllibCertificateFetcher,
        load_signing_certificate,
    )
    from snsflow.sns.errors import (
        CertificateExpiredError,
        CertificateFetchError,
        CertificateInvalidError,
        CertificateNameMismatchError,
        CertificateNotYetValidError,
        CertificateUrlRejectedError,
        DuplicateKeyError,
        FutureTimestampError,
        InvalidEncodingError,
        InvalidJsonError,
        InvalidSignatureEncodingError,
        InvalidTimestampError,
        InvalidTopicArnError,
        MalformedMessageError,
        MessageTooLargeError,
        MissingFieldError,
        NotAnObjectError,
        RawDeliveryError,
        RejectedMessageError,
        SignatureMismatchError,
        SnsVerificationError,
        StaleTimestampError,
        SubscribeUrlRejectedError,
        UnknownMessageTypeError,
        UnsupportedSignatureVersionError,
        WrongFieldTypeError,
    )
    from snsflow.sns.messages import (
        Notification,
        SnsMessage,
        SubscriptionConfirmation,
        UnsubscribeConfirmation,
        UnverifiedMessage,
        parse_message,
        reject_raw_delivery,
    )
    from snsflow.sns.signatures import canonical_string
    from snsflow.sns.urls import validate_certificate_url, validate_subscribe_url
    from snsflow.sns.verifier import MessageVerifier

_SUBMODULE_OF = {
    "CertificateExpiredError": "snsflow.sns.errors",
    "CertificateFetchError": "snsflow.sns.errors",
    "CertificateFetcher": "snsflow.sns.certificates",
    "CertificateInvalidError": "snsflow.sns.errors",
    "CertificateNameMismatchError": "snsflow.sns.errors",
    "CertificateNotYetValidError": "snsflow.sns.errors",
    "CertificateProvider": "snsflow.sns.certificates",
    "CertificateUrlRejectedError": "snsflow.sns.errors",
    "DuplicateKeyError": "snsflow.sns.errors",
    "FutureTimestampError": "snsflow.sns.errors",
    "InvalidEncodingError": "snsflow.sns.errors",
    "InvalidJsonError": "snsflow.sns.errors",
    "InvalidSignatureEncodingError": "snsflow.sns.errors",
    "InvalidTimestampError": "snsflow.sns.errors",
    "InvalidTopicArnError": "snsflow.sns.errors",
    "MalformedMessageError": "snsflow.sns.errors",
    "MessageTooLargeError": "snsflow.sns.errors",
    "MessageVerifier": "snsflow.sns.verifier",
    "MissingFieldError": "snsflow.sns.errors",
    "NotAnObjectError": "snsflow.sns.errors",
    "Notification": "snsflow.sns.messages",
    "RawDeliveryError": "snsflow.sns.errors",
    "RejectedMessageError": "snsflow.sns.errors",
    "SignatureMismatchError": "snsflow.sns.errors",
    "SigningCertificate": "snsflow.sns.certificates",
    "SnsMessage": "snsflow.sns.messages",
    "SnsVerificationError": "snsflow.sns.errors",
    "StaleTimestampError": "snsflow.sns.errors",
    "StaticCertificateFetcher": "snsflow.sns.certificates",
    "SubscribeUrlRejectedError": "snsflow.sns.errors",
    "SubscriptionConfirmation": "snsflow.sns.messages",
    "UnknownMessageTypeError": "snsflow.sns.errors",
    "UnsubscribeConfirmation": "snsflow.sns.messages",
    "UnsupportedSignatureVersionError": "snsflow.sns.errors",
    "UnverifiedMessage": "snsflow.sns.messages",
    "UrllibCertificateFetcher": "snsflow.sns.certificates",
    "WrongFieldTypeError": "snsflow.sns.errors",
    "canonical_string": "snsflow.sns.signatures",
    "load_signing_certificate": "snsflow.sns.certificates",
    "parse_message": "snsflow.sns.messages",
    "reject_raw_delivery": "snsflow.sns.messages",
    "validate_certificate_url": "snsflow.sns.urls",
    "validate_subscribe_url": "snsflow.sns.urls",
}


def __getattr__(name: str) -> Any:
    try:
        module = _SUBMODULE_OF[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CertificateExpiredError",
    "CertificateFetchError",
    "CertificateFetcher",
    "CertificateInvalidError",
    "CertificateNameMismatchError",
    "CertificateNotYetValidError",
    "CertificateProvider",
    "CertificateUrlRejectedError",
    "DuplicateKeyError",
    "FutureTimestampError",
    "InvalidEncodingError",
    "InvalidJsonError",
    "InvalidSignatureEncodingError",
    "InvalidTimestampError",
    "InvalidTopicArnError",
    "MalformedMessageError",
    "MessageTooLargeError",
    "MessageVerifier",
    "MissingFieldError",
    "NotAnObjectError",
    "Notification",
    "RawDeliveryError",
    "RejectedMessageError",
    "SignatureMismatchError",
    "SigningCertificate",
    "SnsMessage",
    "SnsVerificationError",
    "StaleTimestampError",
    "StaticCertificateFetcher",
    "SubscribeUrlRejectedError",
    "SubscriptionConfirmation",
    "UnknownMessageTypeError",
    "UnsubscribeConfirmation",
    "UnsupportedSignatureVersionError",
    "UnverifiedMessage",
    "UrllibCertificateFetcher",
    "WrongFieldTypeError",
    "canonical_string",
    "load_signing_certificate",
    "parse_message",
    "reject_raw_delivery",
    "validate_certificate_url",
    "validate_subscribe_url",
]
