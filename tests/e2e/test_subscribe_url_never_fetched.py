"""A signed SubscriptionConfirmation whose SubscribeURL points anywhere but the SNS of the
topic's region is answered 403 and never fetched: server-side request forgery through the
confirmation link is the classic hole of SNS webhooks.

Outbound requests are recorded twice: a loopback listener counts every request it gets (the
URLs below point at it in every disguise), and every connection the functions' urllib3 clients
open is recorded in-process (``outbound``), refusing anything but loopback before DNS.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest

from snsflow.http import HttpAnswer
from snsflow.local.stack import LocalStack
from snsflow.subscriptions import UrllibHttpGetter
from tests.e2e.conftest import OutboundRecorder
from tests.e2e.test_rejections_over_http import deliver, signer
from tests.support.sns import SnsTestSigner

pytestmark = pytest.mark.e2e

__all__ = ["signer"]  # the fixture, shared with the rejection tests

TOKEN = "5e" * 64


class Listener:
    """A loopback HTTP server that counts every request; ``/redirect`` answers 302 to ``/``."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.paths.append(self.path)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{listener.port}/landed")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as running:
        yield running


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL the webhook's confirmation getter is asked to GET (it is called through)."""
    urls: list[str] = []
    original = UrllibHttpGetter.get

    def recording_get(getter: UrllibHttpGetter, url: str) -> HttpAnswer:
        urls.append(url)
        return original(getter, url)

    monkeypatch.setattr(UrllibHttpGetter, "get", recording_get)
    return urls


def _urls(sns: str, region: str, topic: str, port: int) -> dict[str, str]:
    """SubscribeURLs that must not be fetched, for the SNS at ``sns`` (host:port, trusted by
    the local stack) and a listener on ``port``."""
    query = f"?Action=ConfirmSubscription&TopicArn={topic}&Token={TOKEN}"
    return {
        "loopback-listener": f"http://127.0.0.1:{port}/{query}",
        "localhost-listener": f"http://localhost:{port}/{query}",
        "ipv6-loopback": f"http://[::1]:{port}/{query}",
        "decimal-ip": f"http://2130706433:{port}/{query}",
        "https-loopback": f"https://127.0.0.1:{port}/{query}",
        "other-region": f"https://sns.us-west-2.amazonaws.com/{query}",
        "sns-host-of-region-with-port": f"https://sns.{region}.amazonaws.com:{port}/{query}",
        "look-alike-suffix": f"https://sns.{region}.amazonaws.com.evil.com/{query}",
        "other-amazonaws-host": f"https://sqs.{region}.amazonaws.com/{query}",
        "s3-host-named-sns": f"https://sns.s3-{region}.amazonaws.com/{query}",
        "http-sns-host": f"http://sns.{region}.amazonaws.com/{query}",
        "userinfo-sns-then-listener": f"https://sns.{region}.amazonaws.com@127.0.0.1:{port}/{query}",
        "userinfo-trusted-then-listener": f"http://{sns}@127.0.0.1:{port}/{query}",
        "backslash-trusted-then-listener": f"http://{sns}\\@127.0.0.1:{port}/{query}",
        "trusted-host-other-port": f"http://127.0.0.1:{port}/{query}",
        "sns-host-other-path": f"https://sns.{region}.amazonaws.com/redirect{query}",
        "redirect-parameter": f"http://{sns}/{query}&Redirect=http://127.0.0.1:{port}/",
        "other-action": f"http://{sns}/?Action=Unsubscribe&TopicArn={topic}&Token={TOKEN}",
        "other-topic": f"http://{sns}/?Action=ConfirmSubscription&TopicArn={topic}x&Token={TOKEN}",
        "other-token": f"http://{sns}/?Action=ConfirmSubscription&TopicArn={topic}&Token=00",
        "fragment": f"http://{sns}/{query}#@127.0.0.1:{port}",
        "encoded-listener": f"http://{quote(f'127.0.0.1:{port}')}/{query}",
        "blank": " ",
    }


CASES = list(_urls("127.0.0.1:1", "us-east-1", "arn:aws:sns:us-east-1:1:t", 2))  # the ids


@pytest.mark.parametrize("case", CASES)
def test_subscribe_url_off_the_topics_sns_is_never_fetched(
    local_stack: LocalStack,
    signer: SnsTestSigner,
    listener: Listener,
    outbound: OutboundRecorder,
    fetched: list[str],
    case: str,
) -> None:
    sns = urlsplit(local_stack.sns.base_url).netloc
    url = _urls(sns, local_stack.config.region, signer.topic_arn, listener.port)[case]
    body = signer.subscription_confirmation(token=TOKEN, subscribe_url=url)

    answer = deliver(local_stack, body)

    assert (answer.status, answer.code) == (403, "subscribe_url_rejected"), answer.body[:300]
    assert listener.paths == []
    assert fetched == []
    # Connections only to DynamoDB (moto) and to the SNS for its certificate.
    moto = urlsplit(local_stack.aws_endpoint).port or 0
    assert outbound.not_to(moto, local_stack.sns.port) == []


def test_the_recorders_see_a_subscribe_url_that_is_fetched(
    local_stack: LocalStack, signer: SnsTestSigner, fetched: list[str]
) -> None:
    # The control: the topic's own (local) SNS is asked, and refuses the unknown token.
    url = (
        f"{local_stack.sns.base_url}/?Action=ConfirmSubscription"
        f"&TopicArn={signer.topic_arn}&Token={TOKEN}"
    )
    body = signer.subscription_confirmation(token=TOKEN, subscribe_url=url)

    answer = deliver(local_stack, body)

    assert (answer.status, answer.code) == (400, "subscription_confirmation_rejected")
    assert fetched == [url]


def test_the_confirmation_getter_never_follows_a_redirect(listener: Listener) -> None:
    getter = UrllibHttpGetter(timeout_seconds=5)

    answer = getter.get(f"http://127.0.0.1:{listener.port}/redirect")

    assert answer.status == 302
    assert listener.paths == ["/redirect"]
