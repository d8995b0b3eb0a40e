"""The executions page: one static HTML file, its script and style inline, no build step.

It holds no data: the visitor enters a read key and the page calls the API with it. Its
Content-Security-Policy allows exactly the inline script and style it carries (by hash), and
requests to its own origin only.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@dataclass(frozen=True)
class StaticPage:
    html: str
    headers: dict[str, str]


def _source_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(html: str) -> str:
    """A policy allowing only the inline ``<script>`` and ``<style>`` blocks of ``html``."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, source in _INLINE.findall(html):
        hashes[kind].append(_source_hash(source))
    directives = {
        "default-src": "'none'",
        "script-src": " ".join(hashes["script"]) or "'none'",
        "style-src": " ".join(hashes["style"]) or "'none'",
        "connect-src": "'self'",
        "img-src": "'self' data:",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


@cache
def executions_page() -> StaticPage:
    html = resources.files(__name__).joinpath("index.html").read_text(encoding="utf-8")
    return StaticPage(
        html=html,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": content_security_policy(html),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            # The key lives in this tab's sessionStorage: keep the page out of other sites' frames.
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
        },
    )
