"""The domain of ``snsflow subscribe``: ARNs, the delivery policy within SNS's limits, the
endpoint's protocol and the key's redaction."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from snsflow.local.sns.policy import parse_subscription_policy
from snsflow.subscribe import (
    DEFAULT_RETRY_POLICY,
    MAX_RETRIES,
    MAX_TOTAL_RETRY_SECONDS,
    HealthyRetryPolicy,
    SubscribeFailedError,
    SubscribeRequestError,
    endpoint_protocol,
    parse_dead_letter_queue,
    parse_queue,
    parse_topic_arn,
    redact_endpoint,
    redact_key,
    subscription_attributes,
    wait_until_confirmed,
    with_key,
)

TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders"
KEY = "snsf_" + "A" * 8 + "b" * 35


def _policy(**changes: object) -> HealthyRetryPolicy:
    fields = DEFAULT_RETRY_POLICY.model_dump() | changes
    return HealthyRetryPolicy.model_validate(fields)


# -- ARNs -----------------------------------------------------------------------------------------


def test_topic_arn_gives_its_region_account_and_partition() -> None:
    topic = parse_topic_arn(TOPIC)

    assert (topic.partition, topic.region, topic.account, topic.resource) == (
        "aws",
        "eu-west-1",
        "123456789012",
        "orders",
    )
    assert str(topic) == TOPIC


def test_topic_arn_in_china_and_govcloud_partitions_is_accepted() -> None:
    assert parse_topic_arn("arn:aws-cn:sns:cn-north-1:123456789012:t").partition == "aws-cn"
    assert parse_topic_arn("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t").region == (
        "us-gov-west-1"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "orders",
        "arn:aws:sqs:eu-west-1:123456789012:orders",
        "arn:aws:sns:eu-west-1:12345678901:orders",
        "arn:aws:sns:europe:123456789012:orders",
        "arn:aws:sns:eu-west-1:123456789012:",
        "arn:aws:sns:eu-west-1:123456789012:orders:1a2b3c4d-subscription",
        "arn:aws:sns:eu-west-1:123456789012:or ders",
        "arn:evil:sns:eu-west-1:123456789012:orders",
    ],
)
def test_anything_but_a_topic_arn_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(SubscribeRequestError, match=r"is not an SNS topic ARN .*like arn:aws:sns"):
        parse_topic_arn(text)


def test_fifo_topic_is_refused_because_it_cannot_deliver_over_https() -> None:
    with pytest.raises(SubscribeRequestError, match="FIFO topic"):
        parse_topic_arn(TOPIC + ".fifo")


def test_dead_letter_queue_in_the_topics_account_and_region_is_accepted() -> None:
    queue = parse_dead_letter_queue(
        "arn:aws:sqs:eu-west-1:123456789012:orders-dlq", parse_topic_arn(TOPIC)
    )

    assert str(queue) == "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"


@pytest.mark.parametrize(
    "url",
    [
        "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq",
        # The local stack's moto: its URLs name no region, the topic's is taken.
        "http://127.0.0.1:4566/123456789012/orders-dlq",
    ],
)
def test_dead_letter_queue_may_be_given_by_its_url(url: str) -> None:
    queue = parse_dead_letter_queue(url, parse_topic_arn(TOPIC))

    assert str(queue) == "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"


def test_a_china_queue_url_names_the_china_partition() -> None:
    address = parse_queue(
        "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/dlq", default_region="x"
    )

    assert str(address.arn) == "arn:aws-cn:sqs:cn-north-1:123456789012:dlq"
    assert address.url == "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/dlq"


@pytest.mark.parametrize(
    ("queue", "problem"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:dlq", "topic's account and region"),
        ("arn:aws:sqs:eu-west-1:210987654321:dlq", "topic's account and region"),
        ("arn:aws-cn:sqs:eu-west-1:123456789012:dlq", "topic's account and region"),
        ("arn:aws:sqs:eu-west-1:123456789012:dlq.fifo", "FIFO queue"),
        ("arn:aws:sns:eu-west-1:123456789012:dlq", "not an SQS queue ARN"),
        ("https://sqs.us-east-1.amazonaws.com/123456789012/dlq", "topic's account and region"),
        ("http://sqs.eu-west-1.amazonaws.com/123456789012/dlq", "not an SQS queue ARN or URL"),
        ("https://sqs.eu-west-1.amazonaws.com.evil.com/123456789012/dlq", "not an SQS queue"),
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/dlq?x=1", "not an SQS queue"),
        ("https://sqs.eu-west-1.amazonaws.com/dlq", "not an SQS queue"),
        ("https://user@sqs.eu-west-1.amazonaws.com/123456789012/dlq", "not an SQS queue"),
    ],
)
def test_unusable_dead_letter_queue_is_refused_with_the_reason(queue: str, problem: str) -> None:
    with pytest.raises(SubscribeRequestError, match=problem):
        parse_dead_letter_queue(queue, parse_topic_arn(TOPIC))


# -- the delivery policy ---------------------------------------------------------------------


def test_default_policy_retries_twenty_times_within_snss_one_hour_limit() -> None:
    assert DEFAULT_RETRY_POLICY.num_retries == 20
    assert DEFAULT_RETRY_POLICY.max_total_retry_seconds == 3340
    assert DEFAULT_RETRY_POLICY.max_total_retry_seconds <= MAX_TOTAL_RETRY_SECONDS
    assert DEFAULT_RETRY_POLICY.num_backoff_retries == 6


def test_delivery_policy_attribute_has_the_retry_policy_and_no_throttle_by_default() -> None:
    attributes = subscription_attributes()

    assert set(attributes) == {"DeliveryPolicy"}
    assert json.loads(attributes["DeliveryPolicy"]) == {
        "healthyRetryPolicy": {
            "minDelayTarget": 5,
            "maxDelayTarget": 300,
            "numRetries": 20,
            "numNoDelayRetries": 1,
            "numMinDelayRetries": 8,
            "numMaxDelayRetries": 5,
            "backoffFunction": "exponential",
        }
    }


def test_throttle_and_dead_letter_queue_become_attributes() -> None:
    queue = parse_dead_letter_queue(
        "arn:aws:sqs:eu-west-1:123456789012:dlq", parse_topic_arn(TOPIC)
    )

    attributes = subscription_attributes(max_receives_per_second=7, dead_letter_queue=queue)

    policy = json.loads(attributes["DeliveryPolicy"])
    assert policy["throttlePolicy"] == {"maxReceivesPerSecond": 7}
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": str(queue)}


def test_policy_is_accepted_by_the_local_sns_and_takes_about_half_an_hour_on_its_curve() -> None:
    parsed = parse_subscription_policy(subscription_attributes()["DeliveryPolicy"])

    assert parsed.healthy_retry_policy is not None
    delays = parsed.healthy_retry_policy.retry_delays()
    assert len(delays) == 20
    assert 1800 < sum(delays) <= DEFAULT_RETRY_POLICY.max_total_retry_seconds


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"num_retries": 21, "num_max_delay_retries": 6}, "may take up to 3640 s"),
        ({"num_retries": MAX_RETRIES + 1}, "less than or equal to 100"),
        ({"min_delay_target": 301}, "minDelayTarget must not exceed"),
        ({"num_retries": 10}, "exceed numRetries"),
        ({"min_delay_target": 0}, "greater than or equal to 1"),
    ],
)
def test_policy_outside_snss_limits_is_refused(changes: dict[str, int], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _policy(**changes)


def test_throttle_below_one_message_a_second_is_refused() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        subscription_attributes(max_receives_per_second=0)


# -- the endpoint and the key ------------------------------------------------------------------


def test_endpoint_carries_the_key_url_encoded() -> None:
    assert with_key("https://api.example/webhooks/a", "k+y/=") == (
        "https://api.example/webhooks/a?x-api-key=k%2By%2F%3D"
    )


@pytest.mark.parametrize("url", ["https://api.example/w?x=1", "https://api.example/w#top"])
def test_webhook_url_with_a_query_or_fragment_is_refused(url: str) -> None:
    with pytest.raises(SubscribeRequestError, match="no query or fragment"):
        with_key(url, KEY)


def test_empty_key_is_refused() -> None:
    with pytest.raises(SubscribeRequestError, match="empty"):
        with_key("https://api.example/w", "  ")


@pytest.mark.parametrize(
    ("endpoint", "protocol"),
    [
        ("https://abc.execute-api.eu-west-1.amazonaws.com/prod/webhooks/a", "https"),
        ("http://127.0.0.1:8080/webhooks/a", "http"),
        ("http://localhost:8080/webhooks/a", "http"),
        ("http://[::1]:8080/webhooks/a", "http"),
    ],
)
def test_protocol_is_https_and_http_only_on_loopback(endpoint: str, protocol: str) -> None:
    assert endpoint_protocol(endpoint) == protocol


@pytest.mark.parametrize(
    "endpoint",
    ["http://api.example/webhooks/a?x-api-key=" + KEY, "ftp://127.0.0.1/a", "https:///a"],
)
def test_clear_text_or_odd_endpoint_is_refused_without_showing_the_key(endpoint: str) -> None:
    with pytest.raises(SubscribeRequestError, match="must be https") as refused:
        endpoint_protocol(endpoint)

    assert KEY not in str(refused.value)


def test_redacted_endpoint_shows_only_the_keys_display_prefix() -> None:
    shown = redact_endpoint(with_key("https://api.example/webhooks/a", KEY))

    assert shown == "https://api.example/webhooks/a?x-api-key=snsf_AAAAAAAA…"
    assert KEY not in shown


def test_foreign_key_shows_nothing_of_itself() -> None:
    assert redact_key("my-own-secret") == "…"
    assert "secret" not in redact_endpoint("https://a.example/w?X-Api-Key=my-own-secret&v=1")


def test_endpoint_without_query_is_shown_as_is() -> None:
    assert redact_endpoint("https://a.example/w") == "https://a.example/w"


# -- waiting for the confirmation ------------------------------------------------------------


class _FakeSns:
    """Pending for ``pending_polls`` polls, then confirmed."""

    def __init__(self, pending_polls: int) -> None:
        self.pending_polls = pending_polls
        self.polls = 0

    def get_subscription_attributes(self, *, SubscriptionArn: str) -> dict[str, object]:  # noqa: N803
        self.polls += 1
        pending = self.polls <= self.pending_polls
        return {
            "Attributes": {
                "SubscriptionArn": SubscriptionArn,
                "PendingConfirmation": str(pending).lower(),
            }
        }


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _wait(sns: _FakeSns, clock: _Clock, heard: list[float], timeout: float) -> float:
    on_wait: Callable[[float], None] = heard.append
    return wait_until_confirmed(
        sns,  # type: ignore[arg-type]
        "arn:sub",
        timeout=timeout,
        workflow_id="order-events",
        interval=1.0,
        on_wait=on_wait,
        clock=clock,
        sleep=clock.sleep,
    )


def test_wait_returns_once_sns_reports_the_subscription_confirmed() -> None:
    sns, clock, heard = _FakeSns(pending_polls=3), _Clock(), list[float]()

    took = _wait(sns, clock, heard, timeout=60)

    assert took == 3.0
    assert sns.polls == 4
    assert heard == [0.0, 1.0, 2.0]


def test_wait_gives_up_after_the_timeout_with_the_likely_causes() -> None:
    sns, clock, heard = _FakeSns(pending_polls=1000), _Clock(), list[float]()

    with pytest.raises(SubscribeFailedError, match=r"still pending confirmation after 2\.5 s") as e:
        _wait(sns, clock, heard, timeout=2.5)

    # Where the refused confirmation's code really shows.
    assert "'snsflow deliveries order-events --refused'" in e.value.message

    assert clock.now == pytest.approx(102.5)
    assert sns.polls == 4
