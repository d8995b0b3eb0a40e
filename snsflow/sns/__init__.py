"""Amazon SNS message verification.

Typical use (the webhook handler)::

    verifier = MessageVerifier(CertificateProvider(UrllibCertificateFetcher()))
    message = parse_message(body)          # 400-class errors for malformed input
    ...                                    # e.g. refuse message.topic_arn early
    verified = verifier.verify(message)    # 403-class, or 503 if the certificate fetch failed

Every failure is a :class:`SnsVerificationError` carrying ``code``, ``http_status`` and
``retryable``.
"""

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
