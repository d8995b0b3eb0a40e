"""``snsflow verify``: check one SNS message, offline or by fetching its certificate."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from pathlib import Path

from snsflow.cli.arguments import MAX_DURATION, instant
from snsflow.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, one_line, print_error
from snsflow.sns import (
    CertificateFetcher,
    CertificateProvider,
    MessageVerifier,
    SnsVerificationError,
    StaticCertificateFetcher,
    UrllibCertificateFetcher,
    parse_message,
)
from snsflow.sns.verifier import utc_now


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="verify that an SNS message really comes from Amazon SNS",
        description=(
            "Verify one Amazon SNS message (the HTTP POST body). Prints 'valid' and exits 0 if "
            "it is authentic; prints the reason and exits 1 if not; exits 2 on usage errors."
        ),
    )
    parser.add_argument("message", type=Path, metavar="MESSAGE.json", help="the message body")
    parser.add_argument(
        "--certificate",
        type=Path,
        metavar="PEM",
        help="use this certificate file instead of fetching SigningCertURL "
        "(the URL must still pass the SNS certificate-URL policy)",
    )
    parser.add_argument(
        "--at",
        type=instant,
        metavar="ISO8601",
        help="judge certificate validity and freshness at this instant (default: now; "
        "a time without a zone is UTC)",
    )
    parser.add_argument(
        "--max-age",
        type=_seconds,
        metavar="SECONDS",
        help="also refuse a message whose Timestamp is older than this at --at",
    )
    parser.add_argument(
        "--lambda-event",
        action="store_true",
        help="the file is the 'Sns' record of a Lambda SNS event (SigningCertUrl spelling)",
    )
    parser.add_argument(
        "--trust-cert-url-prefix",
        action="append",
        default=[],
        metavar="URL",
        help="also trust certificates under this URL prefix (local stacks only; repeatable)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        body = args.message.read_bytes()
        fetcher: CertificateFetcher = (
            StaticCertificateFetcher(args.certificate.read_bytes())
            if args.certificate is not None
            else UrllibCertificateFetcher(allow_http=bool(args.trust_cert_url_prefix))
        )
    except OSError as exc:
        print_error("snsflow verify", f"cannot read {exc.filename}: {exc.strerror}")
        return EXIT_USAGE
    at: datetime | None = args.at
    try:
        verifier = MessageVerifier(
            CertificateProvider(fetcher),
            clock=(lambda: at) if at is not None else utc_now,
            max_age=args.max_age,
            trusted_cert_url_prefixes=tuple(args.trust_cert_url_prefix),
        )
    except ValueError as exc:
        print_error("snsflow verify", str(exc))
        return EXIT_USAGE
    try:
        verifier.verify(parse_message(body, lambda_format=args.lambda_event))
    except SnsVerificationError as exc:
        print(f"invalid: {exc.code}: {one_line(exc.message)}")
        return EXIT_FAILED
    print("valid")
    return EXIT_OK


def _seconds(text: str) -> timedelta:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_DURATION.total_seconds():
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a number of seconds from 0 to {MAX_DURATION.total_seconds():.0f}"
        )
    return timedelta(seconds=seconds)
