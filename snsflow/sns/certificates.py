"""SNS signing certificates: fetching, strict loading, and a bounded cache by URL."""

from __future__ import annotations

import binascii
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import urllib3
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.x509.oid import NameOID

from snsflow.http import BoundedHttpGet
from snsflow.sns.errors import CertificateFetchError, CertificateInvalidError

#: Real SNS certificates are about 2 KiB; anything much larger is not one.
MAX_CERTIFICATE_BYTES = 16 * 1024
#: Seconds to connect, and to wait for data; SNS gives the whole delivery 15 s.
FETCH_TIMEOUT_SECONDS = 3.0
#: How many certificates the cache keeps (SNS uses one per region at a time).
CACHE_SIZE = 64

# Exactly one PEM CERTIFICATE block, optionally followed by one line break, nothing else.
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n"
    rb"(?P<body>(?:[A-Za-z0-9+/=]{1,76}\r?\n)+)"
    rb"-----END CERTIFICATE-----(?:\r?\n)?"
)


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    """What the verifier needs from a loaded certificate."""

    public_key: RSAPublicKey
    #: DNS names it was issued for (subjectAltName, else the subject common name).
    names: frozenset[str]
    not_valid_before: datetime
    not_valid_after: datetime


def load_signing_certificate(pem: bytes) -> SigningCertificate:
    """Load a certificate file: exactly one PEM ``CERTIFICATE`` block holding an RSA X.509.

    Raises :class:`CertificateInvalidError` for anything else (extra text, two blocks, bad
    base64 or DER, another key type). Name and validity are the verifier's to check.
    """
    match = _PEM_CERTIFICATE.fullmatch(pem)
    if match is None:
        raise CertificateInvalidError(
            "the certificate file is not exactly one PEM CERTIFICATE block"
        )
    try:
        der = binascii.a2b_base64(b"".join(match["body"].split()), strict_mode=True)
        certificate = x509.load_der_x509_certificate(der)
        public_key = certificate.public_key()
        names = _certificate_names(certificate)
    except (ValueError, binascii.Error) as exc:
        raise CertificateInvalidError(f"the certificate cannot be read: {exc}") from None
    if not isinstance(public_key, RSAPublicKey):
        raise CertificateInvalidError("the certificate's key is not an RSA key")
    return SigningCertificate(
        public_key=public_key,
        names=names,
        not_valid_before=certificate.not_valid_before_utc,
        not_valid_after=certificate.not_valid_after_utc,
    )


def _certificate_names(certificate: x509.Certificate) -> frozenset[str]:
    try:
        alternative_names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
    except x509.ExtensionNotFound:
        # RFC 6125: the common name counts only when there is no subjectAltName.
        return frozenset(
            str(attribute.value).lower()
            for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        )
    return frozenset(
        name.lower() for name in alternative_names.value.get_values_for_type(x509.DNSName)
    )


class CertificateFetcher(Protocol):
    """Downloads a certificate file; raises :class:`CertificateFetchError` when it cannot."""

    def fetch(self, url: str) -> bytes: ...


class UrllibCertificateFetcher:
    """Fetches certificates with urllib3: https only, short timeout, size cap, no redirects.

    urllib3 ships with botocore, so it is present in the Lambda runtime (``requests`` is not).
    ``allow_http=True`` is for local stacks that serve their certificate over plain http.
    """

    def __init__(
        self,
        *,
        timeout_seconds: float = FETCH_TIMEOUT_SECONDS,
        max_bytes: int = MAX_CERTIFICATE_BYTES,
        allow_http: bool = False,
    ) -> None:
        self._get = BoundedHttpGet(timeout_seconds=timeout_seconds, max_bytes=max_bytes)
        self._schemes = ("https://", "http://") if allow_http else ("https://",)

    def fetch(self, url: str) -> bytes:
        if not url.startswith(self._schemes):
            raise CertificateFetchError(f"refusing to fetch {url[:300]!r}: not an https URL")
        try:
            answer = self._get(url)
        except urllib3.exceptions.HTTPError as exc:
            raise CertificateFetchError(
                f"fetching the certificate {url[:300]!r} failed: {type(exc).__name__}"
            ) from None
        if answer.status != 200:
            raise CertificateFetchError(
                f"fetching the certificate {url[:300]!r} answered HTTP {answer.status}"
            )
        if len(answer.body) > self._get.max_bytes:
            raise CertificateFetchError(
                f"the certificate at {url[:300]!r} is larger than {self._get.max_bytes} bytes"
            )
        return answer.body


class StaticCertificateFetcher:
    """Serves one given certificate file for any URL (``snsflow verify --certificate``)."""

    def __init__(self, pem: bytes) -> None:
        self._pem = pem

    def fetch(self, url: str) -> bytes:  # noqa: ARG002 - the file stands in for any URL
        return self._pem


class CertificateProvider:
    """Loaded signing certificates by URL, fetched on first use.

    SNS certificate file names are content-addressed, so an entry stays valid until the
    certificate itself expires; then it is dropped and fetched again. At most ``max_entries``
    are kept (the oldest entry goes first). Failed fetches and invalid files are not cached.
    Safe to share between threads; concurrent misses on one URL may fetch it twice, which is
    harmless.
    """

    def __init__(self, fetcher: CertificateFetcher, *, max_entries: int = CACHE_SIZE) -> None:
        self._fetcher = fetcher
        self._max_entries = max_entries
        self._entries: dict[str, SigningCertificate] = {}
        self._lock = threading.Lock()

    def get(self, url: str, *, now: datetime) -> SigningCertificate:
        """The certificate at ``url``, from the cache unless missing or expired at ``now``."""
        # Lock-free hit path: a dict lookup is atomic, and entries are never mutated.
        cached = self._entries.get(url)
        if cached is not None and now <= cached.not_valid_after:
            return cached
        certificate = load_signing_certificate(self._fetcher.fetch(url))
        with self._lock:
            self._entries.pop(url, None)
            self._entries[url] = certificate  # dicts keep insertion order: newest last
            while len(self._entries) > self._max_entries:
                del self._entries[next(iter(self._entries))]
        return certificate
