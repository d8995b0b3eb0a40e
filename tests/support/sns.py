"""Signed Amazon SNS messages for tests: a test CA, SNS-like signing certificates, builders.

Typical use::

    signer = SnsTestSigner()                       # topic arn:aws:sns:us-east-1:123456789012:orders
    body = signer.notification("hello", subject="greeting", signature_version="2")
    verifier = signer.verifier()                   # MessageVerifier fed by a fake fetcher
    verified = verifier.verify(parse_message(body))

RSA keys are generated once per test process (key generation is slow); certificates and
signatures are cheap.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from snsflow.sns import (
    CertificateFetchError,
    CertificateProvider,
    MessageVerifier,
    canonical_string,
)
from snsflow.sns.urls import sns_host

DEFAULT_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:orders"
SNS_CERTIFICATE_NAME = "sns.amazonaws.com"
#: The default test certificates are valid over this whole period.
VALID_FROM = datetime(2020, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)

_CONFIRMATION_TEXT = {
    "SubscriptionConfirmation": "You have chosen to subscribe to the topic {topic}.\n"
    "To confirm the subscription, visit the SubscribeURL included in this message.",
    "UnsubscribeConfirmation": "You have chosen to deactivate subscription {topic}:1.\n"
    "To cancel this operation and restore the subscription, visit the SubscribeURL included in "
    "this message.",
}
_DIGESTS: Mapping[str, hashes.HashAlgorithm] = {"1": hashes.SHA1(), "2": hashes.SHA256()}


@functools.cache
def rsa_key(label: str = "sns") -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key, generated once per test process for each ``label``."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class TestCertificate:
    """A certificate file (PEM) and the private key of the certificate it holds."""

    __test__ = False  # not a pytest test class

    pem: bytes
    private_key: rsa.RSAPrivateKey


TEST_CA_NAME = "snsflow test CA"


@functools.cache
def _test_ca(common_name: str) -> tuple[x509.Name, CertificateIssuerPrivateKeyTypes]:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]), rsa_key("ca")


def issue_certificate(
    *,
    name: str = SNS_CERTIFICATE_NAME,
    not_before: datetime = VALID_FROM,
    not_after: datetime = VALID_UNTIL,
    private_key: rsa.RSAPrivateKey | None = None,
    public_key: Any = None,
    alt_names: Sequence[str] | None = None,
    issuer: str = TEST_CA_NAME,
) -> TestCertificate:
    """A certificate signed by the test CA for ``name`` (subject CN, and subjectAltName unless
    ``alt_names`` says otherwise; ``()`` leaves the extension out). ``public_key`` overrides the
    certified key; ``issuer`` names the (test) CA."""
    key = private_key or rsa_key()
    ca_name, ca_key = _test_ca(issuer)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(public_key if public_key is not None else key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    dns_names = (name,) if alt_names is None else tuple(alt_names)
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns) for dns in dns_names]), critical=False
        )
    certificate = builder.sign(ca_key, hashes.SHA256())
    return TestCertificate(certificate.public_bytes(serialization.Encoding.PEM), key)


@functools.cache
def default_certificate() -> TestCertificate:
    """The SNS-like signing certificate every :class:`SnsTestSigner` uses unless told otherwise."""
    return issue_certificate()


@functools.cache
def ec_certificate_pem() -> bytes:
    """A certificate for the SNS name whose key is not RSA (EC P-256)."""
    return issue_certificate(public_key=ec.generate_private_key(ec.SECP256R1()).public_key()).pem


def certificate_url(region: str, pem: bytes) -> str:
    """An SNS-shaped certificate URL; like SNS, the file name is derived from the content."""
    digest = hashlib.md5(pem, usedforsecurity=False).hexdigest()
    return f"https://{sns_host(region)}/SimpleNotificationService-{digest}.pem"


def sns_timestamp(instant: datetime) -> str:
    """``instant`` formatted the way SNS writes ``Timestamp`` (milliseconds, ``Z``)."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass
class FakeCertificateFetcher:
    """A :class:`~snsflow.sns.CertificateFetcher` serving files from memory.

    Records every URL asked for in ``calls``; unknown URLs, or any URL while ``failure`` is
    set, raise :class:`CertificateFetchError` like a failed download.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    failure: str | None = None

    def fetch(self, url: str) -> bytes:
        self.calls.append(url)
        if self.failure is not None:
            raise CertificateFetchError(self.failure)
        try:
            return self.files[url]
        except KeyError:
            raise CertificateFetchError(f"no certificate at {url}") from None


class SnsTestSigner:
    """Builds SNS HTTP delivery bodies (JSON strings) signed like Amazon SNS signs them."""

    __test__ = False

    def __init__(
        self,
        *,
        topic_arn: str = DEFAULT_TOPIC_ARN,
        certificate: TestCertificate | None = None,
        cert_url: str | None = None,
    ) -> None:
        self.topic_arn = topic_arn
        self.region = topic_arn.split(":")[3]
        self.certificate = certificate or default_certificate()
        self.cert_url = cert_url or certificate_url(self.region, self.certificate.pem)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.pem

    def fetcher(self) -> FakeCertificateFetcher:
        """A fake fetcher serving this signer's certificate at its URL."""
        return FakeCertificateFetcher({self.cert_url: self.certificate.pem})

    def verifier(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        fetcher: FakeCertificateFetcher | None = None,
        **options: Any,
    ) -> MessageVerifier:
        """A verifier trusting this signer's certificate (other options: see MessageVerifier)."""
        provider = CertificateProvider(fetcher or self.fetcher())
        if clock is None:
            return MessageVerifier(provider, **options)
        return MessageVerifier(provider, clock=clock, **options)

    def sign(
        self, fields: Mapping[str, Any], *, signature_version: str | None = None
    ) -> dict[str, Any]:
        """``fields`` plus ``SignatureVersion`` (kept unless given) and a fresh ``Signature``."""
        signed = dict(fields)
        if signature_version is not None:
            signed["SignatureVersion"] = signature_version
        digest = _DIGESTS[signed.get("SignatureVersion", "1")]
        signed.setdefault("SignatureVersion", "1")
        signature = self.certificate.private_key.sign(
            canonical_string(signed), padding.PKCS1v15(), digest
        )
        signed["Signature"] = base64.b64encode(signature).decode("ascii")
        return signed

    def notification(
        self,
        message: str = "hello from SNS",
        *,
        subject: str | None = None,
        message_id: str | None = None,
        timestamp: datetime | str | None = None,
        signature_version: str = "1",
        topic_arn: str | None = None,
        message_attributes: Mapping[str, Any] | None = None,
    ) -> str:
        topic = topic_arn or self.topic_arn
        fields: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": topic,
        }
        if subject is not None:
            fields["Subject"] = subject
        fields |= {"Message": message, "Timestamp": _timestamp(timestamp)}
        subscription = f"{topic}:{uuid.uuid5(uuid.NAMESPACE_URL, topic)}"
        envelope: dict[str, Any] = {
            "SigningCertURL": self.cert_url,
            "UnsubscribeURL": (
                f"https://{sns_host(self.region)}/?Action=Unsubscribe&SubscriptionArn={subscription}"
            ),
        }
        if message_attributes is not None:
            envelope["MessageAttributes"] = dict(message_attributes)
        return self._body(fields, signature_version, envelope)

    def subscription_confirmation(self, **options: Any) -> str:
        """See :meth:`confirmation`."""
        return self.confirmation("SubscriptionConfirmation", **options)

    def unsubscribe_confirmation(self, **options: Any) -> str:
        """See :meth:`confirmation`."""
        return self.confirmation("UnsubscribeConfirmation", **options)

    def confirmation(
        self,
        message_type: str,
        *,
        token: str | None = None,
        message: str | None = None,
        message_id: str | None = None,
        timestamp: datetime | str | None = None,
        signature_version: str = "1",
        topic_arn: str | None = None,
        subscribe_url: str | None = None,
    ) -> str:
        """A signed (Un)SubscriptionConfirmation whose SubscribeURL confirms this topic."""
        topic = topic_arn or self.topic_arn
        token = token or uuid.uuid4().hex * 4
        fields = {
            "Type": message_type,
            "MessageId": message_id or str(uuid.uuid4()),
            "Token": token,
            "TopicArn": topic,
            "Message": message or _CONFIRMATION_TEXT[message_type].format(topic=topic),
            "SubscribeURL": subscribe_url
            or (
                f"https://{sns_host(self.region)}/?Action=ConfirmSubscription"
                f"&TopicArn={topic}&Token={token}"
            ),
            "Timestamp": _timestamp(timestamp),
        }
        return self._body(fields, signature_version, {"SigningCertURL": self.cert_url})

    def _body(
        self, fields: dict[str, Any], signature_version: str, envelope: Mapping[str, Any]
    ) -> str:
        signed = self.sign(fields, signature_version=signature_version)
        return json.dumps(signed | dict(envelope), ensure_ascii=False)


def _timestamp(value: datetime | str | None) -> str:
    if isinstance(value, str):
        return value
    return sns_timestamp(value or datetime.now(UTC))


def at(instant: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``instant``."""
    return lambda: instant


def body_timestamp(body: str) -> datetime:
    """The ``Timestamp`` of a JSON body, parsed (handy as a clock for the verifier)."""
    return datetime.fromisoformat(json.loads(body)["Timestamp"])
