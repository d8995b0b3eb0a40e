"""Certificate loading, the certificate cache, and the urllib3 fetcher (against 127.0.0.1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from snsflow.sns import (
    CertificateFetchError,
    CertificateInvalidError,
    CertificateProvider,
    UrllibCertificateFetcher,
    load_signing_certificate,
)
from tests.support.sns import FakeCertificateFetcher, default_certificate, issue_certificate

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sns-real"
NOW = datetime(2031, 5, 17, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.cert.pem")), ids=lambda p: p.name[26:34])
def test_real_sns_certificates_load_with_the_sns_name(path: Path) -> None:
    certificate = load_signing_certificate(path.read_bytes())
    assert certificate.names == {"sns.amazonaws.com"}
    assert certificate.public_key.key_size == 2048
    assert certificate.not_valid_before < certificate.not_valid_after


def test_certificate_with_crlf_line_ends_loads() -> None:
    pem = default_certificate().pem.replace(b"\n", b"\r\n")
    assert load_signing_certificate(pem).names == {"sns.amazonaws.com"}


def test_certificate_without_trailing_newline_loads() -> None:
    assert load_signing_certificate(default_certificate().pem.rstrip()).names


def test_certificate_with_surrounding_whitespace_is_refused() -> None:
    with pytest.raises(CertificateInvalidError):
        load_signing_certificate(b"\n" + default_certificate().pem)


# --- cache --------------------------------------------------------------------------------------


def _url(n: int) -> str:
    return f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{n:032x}.pem"


def test_certificate_is_fetched_once_per_url() -> None:
    fetcher = FakeCertificateFetcher({_url(1): default_certificate().pem})
    provider = CertificateProvider(fetcher)

    first = provider.get(_url(1), now=NOW)
    second = provider.get(_url(1), now=NOW)

    assert first is second
    assert fetcher.calls == [_url(1)]


def test_cache_is_bounded_and_drops_the_oldest_entry() -> None:
    pem = default_certificate().pem
    fetcher = FakeCertificateFetcher({_url(n): pem for n in range(4)})
    provider = CertificateProvider(fetcher, max_entries=2)

    provider.get(_url(0), now=NOW)
    provider.get(_url(1), now=NOW)
    provider.get(_url(2), now=NOW)  # evicts 0
    provider.get(_url(1), now=NOW)  # still cached
    provider.get(_url(0), now=NOW)  # fetched again, evicts 1

    assert fetcher.calls == [_url(0), _url(1), _url(2), _url(0)]


def test_expired_cached_certificate_is_fetched_again() -> None:
    expiring = issue_certificate(not_after=NOW + timedelta(hours=1)).pem
    renewed = issue_certificate(not_after=NOW + timedelta(days=365)).pem
    fetcher = FakeCertificateFetcher({_url(1): expiring})
    provider = CertificateProvider(fetcher)

    provider.get(_url(1), now=NOW)
    fetcher.files[_url(1)] = renewed
    later = provider.get(_url(1), now=NOW + timedelta(hours=2))

    assert fetcher.calls == [_url(1), _url(1)]
    assert later.not_valid_after == NOW + timedelta(days=365)


def test_failed_fetch_is_not_cached() -> None:
    fetcher = FakeCertificateFetcher({_url(1): default_certificate().pem}, failure="timeout")
    provider = CertificateProvider(fetcher)

    with pytest.raises(CertificateFetchError):
        provider.get(_url(1), now=NOW)
    fetcher.failure = None

    assert provider.get(_url(1), now=NOW).names == {"sns.amazonaws.com"}
    assert len(fetcher.calls) == 2


def test_invalid_certificate_is_not_cached() -> None:
    fetcher = FakeCertificateFetcher({_url(1): b"<html>maintenance</html>"})
    provider = CertificateProvider(fetcher)

    with pytest.raises(CertificateInvalidError):
        provider.get(_url(1), now=NOW)
    fetcher.files[_url(1)] = default_certificate().pem

    assert provider.get(_url(1), now=NOW).names == {"sns.amazonaws.com"}


# --- urllib3 fetcher against a loopback server -------------------------------------------------


class _CertificateHost(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}
    requested: ClassVar[list[str]] = []
    release: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        type(self).requested.append(self.path)
        if self.path == "/hang":
            type(self).release.wait(timeout=10)
            return
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def certificate_host() -> Iterator[str]:
    pem = default_certificate().pem
    _CertificateHost.routes = {
        "/cert.pem": (200, {"Content-Type": "text/plain"}, pem),
        "/big.pem": (200, {}, b"A" * 20_000),
        "/moved.pem": (301, {"Location": "/cert.pem"}, b""),
        "/down.pem": (503, {}, b"unavailable"),
    }
    _CertificateHost.requested = []
    _CertificateHost.release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CertificateHost)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _CertificateHost.release.set()
        server.shutdown()
        server.server_close()


def test_fetcher_downloads_the_certificate(certificate_host: str) -> None:
    fetcher = UrllibCertificateFetcher(allow_http=True)
    assert fetcher.fetch(f"{certificate_host}/cert.pem") == default_certificate().pem


@pytest.mark.parametrize("path", ["/missing.pem", "/down.pem"], ids=["404", "503"])
def test_fetcher_reports_a_non_200_answer_as_unavailable(certificate_host: str, path: str) -> None:
    with pytest.raises(CertificateFetchError, match="HTTP"):
        UrllibCertificateFetcher(allow_http=True).fetch(certificate_host + path)


def test_fetcher_does_not_follow_redirects(certificate_host: str) -> None:
    with pytest.raises(CertificateFetchError, match="HTTP 301"):
        UrllibCertificateFetcher(allow_http=True).fetch(f"{certificate_host}/moved.pem")
    assert _CertificateHost.requested == ["/moved.pem"]


def test_fetcher_refuses_an_oversize_body(certificate_host: str) -> None:
    with pytest.raises(CertificateFetchError, match="larger than"):
        UrllibCertificateFetcher(allow_http=True, max_bytes=16_384).fetch(
            f"{certificate_host}/big.pem"
        )


def test_fetcher_gives_up_after_its_timeout(certificate_host: str) -> None:
    fetcher = UrllibCertificateFetcher(allow_http=True, timeout_seconds=0.2)
    with pytest.raises(CertificateFetchError, match="failed"):
        fetcher.fetch(f"{certificate_host}/hang")


def test_fetcher_reports_a_refused_connection_as_unavailable() -> None:
    # Port 9 (discard) on loopback is closed on any sane test machine.
    with pytest.raises(CertificateFetchError):
        UrllibCertificateFetcher(allow_http=True, timeout_seconds=1).fetch(
            "http://127.0.0.1:9/cert.pem"
        )


def test_fetcher_fetches_only_https_unless_told(certificate_host: str) -> None:
    with pytest.raises(CertificateFetchError, match="not an https URL"):
        UrllibCertificateFetcher().fetch(f"{certificate_host}/cert.pem")
    assert _CertificateHost.requested == []
