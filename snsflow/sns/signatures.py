"""The string SNS signs, and checking a signature over it."""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from snsflow.sns.errors import (
    InvalidSignatureEncodingError,
    SignatureMismatchError,
    UnknownMessageTypeError,
    UnsupportedSignatureVersionError,
)
from snsflow.sns.messages import NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION

_CONFIRMATION_SIGNED_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
#: The signed keys of each message type, in signing order.
SIGNED_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
        SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_SIGNED_KEYS,
        UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_SIGNED_KEYS,
    }
)

#: SignatureVersion → digest of the RSA PKCS#1 v1.5 signature.
_DIGESTS: Mapping[str, hashes.HashAlgorithm] = MappingProxyType(
    {"1": hashes.SHA1(), "2": hashes.SHA256()}  # noqa: S303 - SNS SignatureVersion 1 is SHA-1
)
_PADDING = PKCS1v15()
# Base64 digits whose value has its low 4 (before "==") or low 2 (before "=") bits clear.
_ZERO_LOW_4_BITS = frozenset("AQgw")
_ZERO_LOW_2_BITS = frozenset("AEIMQUYcgkosw048")


def canonical_string(fields: Mapping[str, Any]) -> bytes:
    """The bytes SNS signs: ``Key\\nValue\\n`` for each signed key present and not null.

    ``fields`` are the raw JSON-decoded values of the message (HTTP key spelling). Used both to
    verify and, by the local SNS emulator, to sign.
    """
    message_type = fields.get("Type")
    keys = SIGNED_KEYS.get(message_type) if isinstance(message_type, str) else None
    if keys is None:
        raise UnknownMessageTypeError(f"unknown message Type {str(message_type)[:100]!r}")
    parts: list[str] = []
    for key in keys:
        value = fields.get(key)
        if value is not None:
            parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


def signature_digest(signature_version: str) -> hashes.HashAlgorithm:
    """The digest of a ``SignatureVersion`` ("1": SHA-1, "2": SHA-256)."""
    digest = _DIGESTS.get(signature_version)
    if digest is None:
        raise UnsupportedSignatureVersionError(
            f"SignatureVersion {signature_version[:20]!r} is not supported (expected '1' or '2')"
        )
    return digest


def decode_signature(signature: str) -> bytes:
    """Decode ``Signature``: canonical base64 only (no whitespace, junk or loose padding)."""
    try:
        decoded = binascii.a2b_base64(signature, strict_mode=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if not decoded or not _canonical_padding(signature):
        raise InvalidSignatureEncodingError("Signature is not strict base64")
    return decoded


def _canonical_padding(encoded: str) -> bool:
    """Whether the unused bits before the ``=`` padding are zero, so each value has one spelling."""
    if encoded.endswith("=="):
        return encoded[-3] in _ZERO_LOW_4_BITS
    if encoded.endswith("="):
        return encoded[-2] in _ZERO_LOW_2_BITS
    return True


def check_signature(
    public_key: RSAPublicKey, signature: bytes, signed: bytes, digest: hashes.HashAlgorithm
) -> None:
    """Raise :class:`SignatureMismatchError` unless ``signature`` signs ``signed``."""
    try:
        public_key.verify(signature, signed, _PADDING, digest)
    except InvalidSignature:
        raise SignatureMismatchError(
            "the signature does not match the message: it was altered or not signed by SNS"
        ) from None
