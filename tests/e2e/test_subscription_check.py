"""Subscription records checked against SNS by the reconciler (issue 14), on the local stack:
its reconciler asks the local SNS (GetSubscriptionAttributes) on its schedule, here every
second. A subscription made through a proxy with a base path of its own (as a custom domain
would) reads subscribed; one unsubscribed at SNS whose UnsubscribeConfirmation never arrived
reads unsubscribed; a relayed SubscriptionConfirmation of another endpoint reads as subscribed
elsewhere. The API, ``snsflow workflows show`` and the webhook record tell the same."""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from snsflow.cli.main import main
from snsflow.local.sns import Outcome
from snsflow.local.stack import LocalStack, wait_until
from snsflow.query import Subscription
from snsflow.store.subscriptions import SnsCheckResult, SubscriptionStatus
from tests.e2e.conftest import DEADLINE_SECONDS, E2E_CONFIG, Driver, http_request

pytestmark = pytest.mark.e2e

ORDERS = "order-events"
#: The proxy's base path in front of the API's paths (a custom domain's base path mapping).
BASE_PATH = "/snsflow-api"
#: Where the proxy plays another service's endpoint: it keeps what arrives, and answers 200.
OTHER_ENDPOINT_PATH = "/other-service/sns"
_FORWARDED_HEADERS = (
    "Content-Type",
    "x-amz-sns-message-type",
    "x-amz-sns-message-id",
    "x-amz-sns-topic-arn",
    "x-amz-sns-subscription-arn",
)


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """The e2e stack, with the reconciler on a one-second schedule."""
    with LocalStack(dataclasses.replace(E2E_CONFIG, reconcile_every_seconds=1.0)) as stack:
        yield stack


class Proxy:
    """A proxy on another port with a base path: forwards ``BASE_PATH/...`` to the API, or
    answers 410 when closed (SNS drops what a 4xx answers); keeps what reaches the other
    endpoint's path."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.closed = False
        self.other_endpoint_bodies: list[bytes] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = proxy.handle(self.path, body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                """Quiet: the query string carries the key."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def handle(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if path.startswith(OTHER_ENDPOINT_PATH):
            self.other_endpoint_bodies.append(body)
            return 200, b""
        if self.closed or not path.startswith(BASE_PATH + "/"):
            return 410, b""
        wanted = {name.lower() for name in _FORWARDED_HEADERS}
        forwarded = {k: v for k, v in headers.items() if k.lower() in wanted}
        answer = http_request(self.api_url, "POST", path[len(BASE_PATH) :], body, forwarded)
        return answer.status, answer.body

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy(local_stack: LocalStack) -> Iterator[Proxy]:
    running = Proxy(local_stack.api_url)
    yield running
    running.stop()


def _endpoint_through(proxy: Proxy, stack: LocalStack, workflow: str) -> str:
    key = stack.keys[stack.workflow(workflow).api_key_name]
    return f"{proxy.url}{BASE_PATH}/webhooks/{workflow}?x-api-key={urllib.parse.quote(key)}"


def _subscription(driver: Driver, topic: str) -> Subscription | None:
    found = [s for s in driver.api.workflow(ORDERS).subscriptions if s.topic_arn == topic]
    return found[0] if found else None


def _checked(driver: Driver, topic: str, result: SnsCheckResult) -> Subscription:
    """The subscription once the reconciler has found ``result`` at SNS."""

    def found() -> Subscription | None:
        subscription = _subscription(driver, topic)
        check = subscription.checked_against_sns if subscription else None
        return subscription if check is not None and check.result is result else None

    return wait_until(
        found, timeout=DEADLINE_SECONDS, interval=0.2, what=f"SNS's check to say {result}"
    )


def _subscribed_through(proxy: Proxy, driver: Driver) -> tuple[str, str]:
    """A topic subscribed through the proxy and confirmed by the webhook: (topic, ARN)."""
    topic = driver.new_topic()
    arn = driver.subscribe(topic, _endpoint_through(proxy, driver.stack, ORDERS))
    wait_until(
        lambda: driver.subscription_status(ORDERS, topic) is SubscriptionStatus.CONFIRMED,
        timeout=DEADLINE_SECONDS,
        what="the confirmation through the proxy",
    )
    return topic, arn


def _show(driver: Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    info = tmp_path / "local.json"
    driver.stack.write_info_file(info)
    capsys.readouterr()
    assert main(["workflows", "show", ORDERS, "--info-file", str(info)]) == 0
    return capsys.readouterr().out


def test_a_subscription_through_a_proxy_with_its_own_base_path_is_found_subscribed(
    driver: Driver, proxy: Proxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, _ = _subscribed_through(proxy, driver)

    subscription = _checked(driver, topic, SnsCheckResult.SUBSCRIBED)

    # Another host and a base path in front: the webhook path's end is what is compared.
    assert subscription.health == "confirmed"
    assert subscription.health_reason is None
    shown = _show(driver, tmp_path, capsys)
    assert "SNS: subscribed since" in shown
    json_view = driver.api.get(f"/workflows/{ORDERS}")
    [listed] = [s for s in json_view["subscriptions"] if s["topicArn"] == topic]
    assert listed["checkedAgainstSns"]["result"] == "subscribed"
    assert "subscriptionArn" not in listed


def test_an_unsubscribe_at_sns_whose_confirmation_never_arrived_reads_unsubscribed(
    driver: Driver, proxy: Proxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, arn = _subscribed_through(proxy, driver)
    _checked(driver, topic, SnsCheckResult.SUBSCRIBED)

    proxy.closed = True  # the UnsubscribeConfirmation is answered 410: SNS drops it
    driver.sns.unsubscribe(SubscriptionArn=arn)
    wait_until(
        lambda: [
            a
            for a in driver.attempts(subscription_arn=arn)
            if a.message_type == "UnsubscribeConfirmation"
        ],
        timeout=DEADLINE_SECONDS,
        what="the UnsubscribeConfirmation's attempt",
    )

    subscription = _checked(driver, topic, SnsCheckResult.NOT_FOUND)

    unsubscribe_attempts = [
        a
        for a in driver.attempts(subscription_arn=arn)
        if a.message_type == "UnsubscribeConfirmation"
    ]
    assert all(a.outcome is not Outcome.DELIVERED for a in unsubscribe_attempts)
    assert subscription.status is SubscriptionStatus.CONFIRMED  # what the webhook saw ...
    assert subscription.health == "unsubscribed"  # ... and what SNS says
    assert subscription.health_reason == "checked against SNS: the subscription no longer exists"
    shown = _show(driver, tmp_path, capsys)
    assert "SNS: not found since" in shown
    assert "the subscription no longer exists" in shown


def test_a_relayed_confirmation_of_another_endpoint_reads_subscribed_elsewhere(
    driver: Driver, proxy: Proxy
) -> None:
    stack = driver.stack
    topic = driver.new_topic()
    other_arn = driver.subscribe(topic, f"{proxy.url}{OTHER_ENDPOINT_PATH}")
    [body] = wait_until(
        lambda: proxy.other_endpoint_bodies,
        timeout=DEADLINE_SECONDS,
        what="the other endpoint's SubscriptionConfirmation",
    )
    document = json.loads(body)
    key = stack.keys[stack.workflow(ORDERS).api_key_name]

    # Whoever holds the workflow's key relays it: the webhook confirms *that* subscription.
    answer = http_request(
        stack.api_url,
        "POST",
        f"/webhooks/{ORDERS}?x-api-key={urllib.parse.quote(key)}",
        body,
        {
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": "SubscriptionConfirmation",
            "x-amz-sns-message-id": document["MessageId"],
            "x-amz-sns-topic-arn": topic,
        },
    )
    assert answer.status == 200, answer.body
    assert answer.json["subscriptionArn"] == other_arn

    subscription = _checked(driver, topic, SnsCheckResult.OTHER_ENDPOINT)

    assert subscription.status is SubscriptionStatus.CONFIRMED
    assert subscription.health == "unsubscribed"
    assert subscription.health_reason == "checked against SNS: subscribed to another endpoint"
