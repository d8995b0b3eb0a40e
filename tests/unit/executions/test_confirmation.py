"""Confirming a subscription: only the exact SubscribeURL, no redirects, clear outcomes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from snsflow.http import HttpAnswer
from snsflow.sns import SubscribeUrlRejectedError, SubscriptionConfirmation
from snsflow.subscriptions import (
    SubscribeUrlConfirmer,
    SubscriptionConfirmationFailedError,
    SubscriptionConfirmationRejectedError,
    UrllibHttpGetter,
)

TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders"
TOKEN = "2336412f37fb687f5d51e6e2425c464de12884ea" * 2
GOOD_URL = (
    f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}"
    f"&Token={TOKEN}"
)


def confirmation(subscribe_url: str = GOOD_URL) -> SubscriptionConfirmation:
    return SubscriptionConfirmation(
        message_id="a2b3c4",
        topic_arn=TOPIC,
        message="You have chosen to subscribe",
        timestamp=datetime(2026, 3, 1, tzinfo=UTC),
        timestamp_raw="2026-03-01T00:00:00.000Z",
        signature_version="1",
        signing_cert_url="https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        token=TOKEN,
        subscribe_url=subscribe_url,
    )


@dataclass
class ScriptedSns:
    answer: HttpAnswer
    visited: list[str] = field(default_factory=list)

    def get(self, url: str) -> HttpAnswer:
        self.visited.append(url)
        return self.answer


def test_a_confirmed_subscription_returns_its_arn() -> None:
    sns = ScriptedSns(
        HttpAnswer(200, f"<R><SubscriptionArn>{TOPIC}:abc</SubscriptionArn></R>".encode())
    )

    arn = SubscribeUrlConfirmer(sns).confirm(confirmation())

    assert arn == f"{TOPIC}:abc"
    assert sns.visited == [GOOD_URL]


@pytest.mark.parametrize(
    "url",
    [
        GOOD_URL.replace("eu-west-1.amazonaws.com", "eu-west-1.amazonaws.com.evil.example"),
        GOOD_URL.replace("https://", "http://"),
        GOOD_URL.replace(TOKEN, "other-token"),
        GOOD_URL.replace("sns.eu-west-1", "sns.us-east-1"),
        GOOD_URL + "&Redirect=https://evil.example/",
        "https://169.254.169.254/latest/meta-data/",
    ],
)
def test_any_other_url_is_refused_before_it_is_visited(url: str) -> None:
    sns = ScriptedSns(HttpAnswer(200, b""))

    with pytest.raises(SubscribeUrlRejectedError):
        SubscribeUrlConfirmer(sns).confirm(confirmation(url))

    assert sns.visited == []


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refusal_by_sns_is_a_bad_request(status: int) -> None:
    sns = ScriptedSns(HttpAnswer(status, b"<Error><Code>InvalidParameter</Code></Error>"))

    with pytest.raises(SubscriptionConfirmationRejectedError, match="InvalidParameter"):
        SubscribeUrlConfirmer(sns).confirm(confirmation())


@pytest.mark.parametrize("status", [302, 429, 500, 503])
def test_throttling_outages_and_redirects_are_retryable(status: int) -> None:
    sns = ScriptedSns(HttpAnswer(status, b""))

    with pytest.raises(SubscriptionConfirmationFailedError) as failed:
        SubscribeUrlConfirmer(sns).confirm(confirmation())

    assert failed.value.http_status == 503


class _Redirecting(BaseHTTPRequestHandler):
    paths: list[str] = []  # noqa: RUF012 - shared by the server's handler instances

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(302)
        self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    _Redirecting.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_http_getter_never_follows_a_redirect(redirecting_server: str) -> None:
    answer = UrllibHttpGetter(timeout_seconds=2).get(f"{redirecting_server}/confirm")

    assert answer.status == 302
    assert _Redirecting.paths == ["/confirm"]


def test_the_http_getter_reports_an_unreachable_host_as_retryable() -> None:
    with pytest.raises(SubscriptionConfirmationFailedError):
        # Port 9 (discard) on loopback: nothing listens there in the test environment.
        UrllibHttpGetter(timeout_seconds=1).get("http://127.0.0.1:9/")


def test_a_local_stack_url_under_a_trusted_prefix_is_visited() -> None:
    local = f"http://127.0.0.1:4566/sns/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={TOKEN}"
    sns = ScriptedSns(HttpAnswer(200, b""))

    arn = SubscribeUrlConfirmer(sns, trusted_prefixes=("http://127.0.0.1:4566/sns/",)).confirm(
        confirmation(local)
    )

    assert arn is None
    assert sns.visited == [local]
