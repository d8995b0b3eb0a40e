"""Opaque, tamper-checked page tokens (``nextToken``).

A token is ``1.<body>.<mac>``: ``body`` is the base64url of compact JSON holding the query it
belongs to (its filters) and where the next page starts; ``mac`` is the base64url of an
HMAC-SHA256 over the body under a secret only the API holds. So a client can neither forge a
position nor take a token issued for one query (say, ``status=FAILED``) to another: the MAC
fails for any edit, and the filters inside must equal those of the request it comes with.

Tokens are signed, not encrypted: what they carry (record times and message ids) is what the
page they follow already showed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

_VERSION = "1"
#: Keeps these MACs apart from any other use of the same secret.
_PURPOSE = b"snsflow.page-token.v1\x00"
#: Far above any real token (a few hundred characters); refused before any decoding work.
MAX_TOKEN_LENGTH = 4096


class PageTokenError(ValueError):
    """The token is not one this API issued for this query; the message says which."""


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _canonical(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")


class PageTokens:
    """Issues and opens page tokens signed with ``secret``."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the page token secret must be at least 32 bytes")
        self._secret = secret

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, _PURPOSE + body, hashlib.sha256).digest()

    def issue(self, query: Mapping[str, Any], position: Any) -> str:
        """A token for the page of ``query`` (JSON-able filters) starting at ``position``."""
        body = _canonical({"q": query, "p": position})
        return f"{_VERSION}.{_encode(body)}.{_encode(self._mac(body))}"

    def open(self, token: str, query: Mapping[str, Any]) -> Any:
        """The position in ``token``, if this API issued it for exactly ``query``."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise PageTokenError("is not a token this API issued")
        version, _, rest = token.partition(".")
        body_text, _, mac_text = rest.partition(".")
        try:
            body = _decode(body_text)
            mac = _decode(mac_text)
        except (binascii.Error, ValueError):
            raise PageTokenError("is not a token this API issued") from None
        if version != _VERSION or not body or not hmac.compare_digest(mac, self._mac(body)):
            raise PageTokenError("is not a token this API issued")
        document = json.loads(body)
        if document.get("q") != json.loads(_canonical(query)):
            raise PageTokenError("was issued for a different query (workflow or filters)")
        return document.get("p")
