"""The local SNS's signing identity: an RSA key and a self-signed certificate made at start.

The certificate names ``sns.amazonaws.com`` like the real one, but nothing trusts it unless a
verifier is told to (``trusted_cert_url_prefixes``): the AWS deployment never is.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import NameOID

from snsflow.sns import canonical_string

SIGNING_NAME = "sns.amazonaws.com"
#: SignatureVersion → digest (SNS: "1" is SHA1withRSA, "2" is SHA256withRSA).
SIGNATURE_DIGESTS: Mapping[str, type[hashes.HashAlgorithm]] = MappingProxyType(
    {"1": hashes.SHA1, "2": hashes.SHA256}
)
_KEY_BITS = 2048
_CERTIFICATE_LIFETIME = timedelta(days=365)
#: Backdated so that a verifier whose clock is slightly behind still accepts it.
_BACKDATE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    """A private key and the PEM certificate of its public key."""

    private_key: rsa.RSAPrivateKey
    certificate_pem: bytes

    @classmethod
    def generate(cls, *, now: datetime | None = None) -> SigningIdentity:
        """A fresh RSA 2048 key with a self-signed certificate for ``sns.amazonaws.com``."""
        issued = (now or datetime.now(UTC)) - _BACKDATE
        key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SIGNING_NAME)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(issued)
            .not_valid_after(issued + _CERTIFICATE_LIFETIME)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SIGNING_NAME)]), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate.public_bytes(serialization.Encoding.PEM))

    @property
    def certificate_file_name(self) -> str:
        """``SimpleNotificationService-<32 hex>.pem``, content-addressed like SNS's own."""
        digest = hashlib.sha256(self.certificate_pem).hexdigest()[:32]
        return f"SimpleNotificationService-{digest}.pem"

    def sign(self, fields: Mapping[str, Any], signature_version: str) -> str:
        """The base64 ``Signature`` of a message's canonical string."""
        digest = SIGNATURE_DIGESTS[signature_version]()
        signature = self.private_key.sign(canonical_string(fields), PKCS1v15(), digest)
        return base64.b64encode(signature).decode("ascii")
