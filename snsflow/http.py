"""One careful HTTP GET for the two URLs snsflow visits (SNS signing certificates and
SubscribeURLs): urllib3 (shipped with botocore; Lambda has no ``requests``), no retries, no
redirects, short timeouts, and a cap on what is read."""

from __future__ import annotations

from dataclasses import dataclass

import urllib3


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes


class BoundedHttpGet:
    """GETs a URL, reading at most ``max_bytes + 1`` bytes of the body, so a caller can tell a
    body over its cap from one exactly at it. Raises ``urllib3.exceptions.HTTPError`` when no
    answer came."""

    def __init__(self, *, timeout_seconds: float, max_bytes: int) -> None:
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds)
        self.max_bytes = max_bytes
        self._pool = urllib3.PoolManager(retries=False, maxsize=1)

    def __call__(self, url: str) -> HttpAnswer:
        response = self._pool.request(
            "GET", url, redirect=False, timeout=self._timeout, preload_content=False
        )
        try:
            body = response.read(self.max_bytes + 1)
        finally:
            response.release_conn()
        return HttpAnswer(status=response.status, body=body)
