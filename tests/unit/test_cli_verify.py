"""``snsflow verify MESSAGE.json [--certificate PEM] [--at ISO8601]``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from snsflow.cli.main import main
from tests.support.sns import SnsTestSigner, issue_certificate

REAL = Path(__file__).parents[1] / "fixtures" / "sns-real"
CERT_2017 = REAL / "SimpleNotificationService-b95095beb82e8f6a046b3aafc7f4149a.cert.pem"
CERT_2023 = REAL / "SimpleNotificationService-56e67fcb41f6fec09b0196692625d385.cert.pem"
NOTIFICATION_2017 = REAL / "php-2017-notif-sv1-subject.message.json"
SIGNED_AT = datetime(2031, 5, 17, 8, 30, 12, 345000, tzinfo=UTC)


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["verify", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    with pytest.raises(SystemExit) as raised:
        main(["verify", *map(str, args)])
    assert raised.value.code == 2
    return capsys.readouterr().err


def test_genuine_message_is_valid_at_its_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, NOTIFICATION_2017, "--certificate", CERT_2017, "--at", "2017-06-20T00:16:00Z"
    )
    assert (code, out) == (0, "valid\n")


def test_altered_message_is_invalid_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        REAL / "INVALID-tenovos-2023-httpbody-notif-content-altered.message.json",
        "--certificate",
        CERT_2023,
        "--at",
        "2023-03-01T21:21:00+00:00",
    )
    assert code == 1
    assert out.startswith("invalid: signature_mismatch: ")


def test_lambda_record_is_verified_with_the_lambda_flag(capsys: pytest.CaptureFixture[str]) -> None:
    message = REAL / "killswitch-2023-lambda-notif-sv1-subject-multiline.message.json"
    at: list[str | Path] = ["--certificate", CERT_2023, "--at", "2023-03-05T01:01:39Z"]

    assert run(capsys, message, *at, "--lambda-event")[:2] == (0, "valid\n")
    code, out, _ = run(capsys, message, *at)
    assert code == 1
    assert "missing_field" in out


def test_certificate_validity_is_judged_now_without_at(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, NOTIFICATION_2017, "--certificate", CERT_2017)
    assert code == 1
    assert out.startswith("invalid: certificate_expired: ")


def test_naive_at_is_taken_as_utc(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        capsys, NOTIFICATION_2017, "--certificate", CERT_2017, "--at", "2017-06-20T00:16:00"
    )
    assert code == 0


def test_malformed_message_is_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    message = tmp_path / "message.json"
    message.write_bytes(b"{not json")

    code, out, _ = run(capsys, message, "--certificate", CERT_2017)

    assert code == 1
    assert out.startswith("invalid: invalid_json: ")


def test_url_policy_applies_even_with_a_certificate_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    signer = SnsTestSigner(cert_url="https://evil.example.com/SimpleNotificationService-x.pem")
    message = tmp_path / "message.json"
    message.write_text(signer.notification(timestamp=SIGNED_AT))
    certificate = tmp_path / "cert.pem"
    certificate.write_bytes(signer.certificate_pem)

    code, out, _ = run(capsys, message, "--certificate", certificate, "--at", SIGNED_AT.isoformat())

    assert code == 1
    assert out.startswith("invalid: certificate_url_rejected: ")


def test_freshness_window_is_judged_at_the_given_instant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    common: list[str | Path] = [NOTIFICATION_2017, "--certificate", CERT_2017, "--max-age", "3600"]

    assert run(capsys, *common, "--at", "2017-06-20T01:15:00Z")[0] == 0
    code, out, _ = run(capsys, *common, "--at", "2017-06-20T01:16:00Z")
    assert code == 1
    assert "stale_timestamp" in out


@pytest.fixture
def local_certificate_host(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serves ``tmp_path`` over http on 127.0.0.1 (a local SNS stand-in)."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", tmp_path
    finally:
        server.shutdown()
        server.server_close()


def test_without_a_certificate_file_the_certificate_is_fetched(
    capsys: pytest.CaptureFixture[str], local_certificate_host: tuple[str, Path]
) -> None:
    prefix, directory = local_certificate_host
    certificate = issue_certificate(name="localhost")
    (directory / "local.pem").write_bytes(certificate.pem)
    signer = SnsTestSigner(certificate=certificate, cert_url=f"{prefix}local.pem")
    message = directory / "message.json"
    message.write_text(signer.notification(timestamp=SIGNED_AT))
    at = ["--at", SIGNED_AT.isoformat()]

    assert run(capsys, message, *at, "--trust-cert-url-prefix", prefix)[:2] == (0, "valid\n")
    # Without the trust setting, the URL policy refuses the location before fetching.
    code, out, _ = run(capsys, message, *at)
    assert code == 1
    assert "certificate_url_rejected" in out


def test_unreachable_certificate_is_reported(
    capsys: pytest.CaptureFixture[str], local_certificate_host: tuple[str, Path]
) -> None:
    prefix, directory = local_certificate_host
    signer = SnsTestSigner(cert_url=f"{prefix}missing.pem")
    message = directory / "message.json"
    message.write_text(signer.notification(timestamp=SIGNED_AT))

    code, out, _ = run(capsys, message, "--trust-cert-url-prefix", prefix)

    assert code == 1
    assert "certificate_unavailable" in out


def test_unreadable_message_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, tmp_path / "missing.json")
    assert (code, out) == (2, "")
    assert "missing.json" in err


def test_unreadable_certificate_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, NOTIFICATION_2017, "--certificate", "/nonexistent/cert.pem")
    assert code == 2
    assert "cert.pem" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--at", "yesterday"],
        ["--max-age", "-5"],
        ["--max-age", "soon"],
        ["--unknown-option"],
        [],
    ],
    ids=["bad-at", "negative-max-age", "bad-max-age", "unknown-option", "no-arguments"],
)
def test_bad_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    message = [] if not args else [str(NOTIFICATION_2017)]
    assert usage_error(capsys, *message, *args)


def test_bad_trust_prefix_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, NOTIFICATION_2017, "--trust-cert-url-prefix", "127.0.0.1")
    assert code == 2
    assert "trusted certificate URL prefix" in err


def test_help_names_the_contract_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    help_text = capsys.readouterr().out
    assert "--certificate" in help_text
    assert "--at" in help_text
    assert "MESSAGE.json" in help_text
