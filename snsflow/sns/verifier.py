"""Deciding whether a parsed message really comes from Amazon SNS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

# Re-exported: callers that already verify messages take the clock from here.
from snsflow.clock import utc_now as utc_now
from snsflow.sns.certificates import CertificateProvider, SigningCertificate
from snsflow.sns.errors import (
    CertificateExpiredError,
    CertificateNameMismatchError,
    CertificateNotYetValidError,
    FutureTimestampError,
    StaleTimestampError,
)
from snsflow.sns.messages import (
    SnsMessage,
    UnverifiedMessage,
    build_verified_message,
    parse_timestamp,
)
from snsflow.sns.signatures import (
    canonical_string,
    check_signature,
    decode_signature,
    signature_digest,
)
from snsflow.sns.urls import (
    check_trusted_prefixes,
    signing_certificate_names,
    trusted_certificate_url,
    validate_certificate_url,
)

#: How far in the future a Timestamp may be (clock skew) when a freshness window is set.
FUTURE_SKEW = timedelta(minutes=5)


class MessageVerifier:
    """Verifies SNS messages: signature version, signature encoding, timestamp, certificate
    URL (before any network I/O), certificate (cached), its name and validity, then the RSA
    signature over the canonical string of the raw values.

    ``clock`` gives the instant at which certificate validity and freshness are judged.
    ``max_age`` (off by default) refuses messages whose ``Timestamp`` is older than that, or more
    than a few minutes in the future. ``trusted_cert_url_prefixes`` (off by default; for the
    local stack and LocalStack only) accepts certificates from URLs under those prefixes without
    the SNS host and certificate-name checks; the signature is always checked.
    """

    def __init__(
        self,
        certificates: CertificateProvider,
        *,
        clock: Callable[[], datetime] = utc_now,
        max_age: timedelta | None = None,
        trusted_cert_url_prefixes: tuple[str, ...] = (),
    ) -> None:
        self._certificates = certificates
        self._clock = clock
        self._max_age = max_age
        self._trusted_prefixes = check_trusted_prefixes(tuple(trusted_cert_url_prefixes))

    def verify(self, message: UnverifiedMessage) -> SnsMessage:
        """The verified model of ``message``, or a :class:`SnsVerificationError` saying why not."""
        fields = message.fields
        digest = signature_digest(fields["SignatureVersion"])
        signature = decode_signature(fields["Signature"])
        timestamp = parse_timestamp(fields["Timestamp"])
        now = self._clock()
        if self._max_age is not None:
            _check_freshness(timestamp, now, self._max_age)
        url: str = fields["SigningCertURL"]
        region = message.region
        trusted = trusted_certificate_url(url, self._trusted_prefixes)
        if not trusted:
            validate_certificate_url(url, region=region)
        certificate = self._certificates.get(url, now=now)
        if not trusted:
            _check_name(certificate, region)
        _check_validity(certificate, now)
        check_signature(certificate.public_key, signature, canonical_string(fields), digest)
        return build_verified_message(message, timestamp)


def _check_freshness(timestamp: datetime, now: datetime, max_age: timedelta) -> None:
    if timestamp < now - max_age:
        raise StaleTimestampError(
            f"the message was sent at {timestamp.isoformat()}, more than {max_age} before "
            f"{now.isoformat()}: too old to be a first delivery"
        )
    if timestamp > now + FUTURE_SKEW:
        raise FutureTimestampError(
            f"the message claims to be sent at {timestamp.isoformat()}, "
            f"later than {now.isoformat()} plus the allowed clock skew"
        )


def _check_name(certificate: SigningCertificate, region: str) -> None:
    expected = signing_certificate_names(region)
    if certificate.names.isdisjoint(expected):
        raise CertificateNameMismatchError(
            f"the certificate is issued to {sorted(certificate.names)}, "
            f"not to {' or '.join(sorted(expected))} (the SNS signing name for {region})"
        )


def _check_validity(certificate: SigningCertificate, now: datetime) -> None:
    if now > certificate.not_valid_after:
        raise CertificateExpiredError(
            f"the certificate expired at {certificate.not_valid_after.isoformat()} "
            f"(checked at {now.isoformat()})"
        )
    if now < certificate.not_valid_before:
        raise CertificateNotYetValidError(
            f"the certificate is valid only from {certificate.not_valid_before.isoformat()} "
            f"(checked at {now.isoformat()})"
        )
