"""Subscribing a workflow's webhook to an SNS topic: which ARNs are acceptable, the delivery
policy snsflow asks for, the optional dead-letter queue, and waiting for the confirmation.

The SNS client comes in; nothing here builds one. The endpoint
carries the webhook key in its query string, so it is only ever shown through
:func:`redact_endpoint`.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from snsflow.errors import BadRequestError, SnsflowError
from snsflow.keys import KEY_PREFIX, display_prefix
from snsflow.net import is_loopback_host

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

#: SNS's hard limits on an HTTP/S delivery policy.
MAX_TOTAL_RETRY_SECONDS = 3600
MAX_RETRIES = 100
#: The query parameter that carries the webhook key (what the authorizer reads).
KEY_PARAMETER = "x-api-key"

_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):(?P<service>[a-z0-9-]+):"
    r"(?P<region>[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}):(?P<account>[0-9]{12}):"
    r"(?P<resource>[A-Za-z0-9_-]{1,256}(?:\.fifo)?)"
)


class SubscribeRequestError(BadRequestError):
    """The subscription asked for cannot be made as given (a bad ARN, a bad endpoint...)."""

    code = "invalid_subscription_request"


class SubscribeFailedError(SnsflowError):
    """SNS refused or failed the subscription, or it was not confirmed in time."""

    code = "subscription_failed"
    http_status = 502


class Arn(BaseModel):
    """The parts of an ARN that matter here: partition, service, region, account, name."""

    model_config = ConfigDict(frozen=True)

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def is_fifo(self) -> bool:
        return self.resource.endswith(".fifo")

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str, *, service: Literal["sns", "sqs"], what: str) -> Arn:
    """``text`` as the ARN of a ``service`` resource (a topic, a queue), or a clear error."""
    match = _ARN.fullmatch(text.strip())
    if match is None or match["service"] != service:
        example = f"arn:aws:{service}:eu-west-1:123456789012:orders"
        raise SubscribeRequestError(f"{text[:300]!r} is not an {what} ARN (like {example})")
    return Arn.model_validate(match.groupdict())


def parse_topic_arn(text: str) -> Arn:
    """A standard SNS topic ARN. FIFO topics deliver to SQS only, never over HTTP/S."""
    topic = parse_arn(text, service="sns", what="SNS topic")
    if topic.is_fifo:
        raise SubscribeRequestError(
            f"{topic} is a FIFO topic: FIFO topics cannot deliver to HTTP/S endpoints"
        )
    return topic


#: ``https://sqs.<region>.amazonaws.com[.cn]/<account>/<queue>``: an SQS queue URL on AWS.
_AWS_QUEUE_HOST = re.compile(
    r"sqs\.(?P<region>[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2})\.amazonaws\.com(?P<china>\.cn)?"
)
_QUEUE_PATH = re.compile(r"/(?P<account>[0-9]{12})/(?P<name>[A-Za-z0-9_-]{1,80}(?:\.fifo)?)")


class QueueAddress(BaseModel):
    """An SQS queue named by its ARN or its URL: the ARN always, the URL when it was given."""

    model_config = ConfigDict(frozen=True)

    arn: Arn
    url: str | None = None


def parse_queue(text: str, *, default_region: str) -> QueueAddress:
    """An SQS queue ARN, or a queue URL: AWS's (``https://sqs.<region>.amazonaws.com/...``) or
    a loopback one (the local stack's moto, whose URLs name no region: ``default_region``)."""
    text = text.strip()
    if text.startswith("arn:"):
        return QueueAddress(arn=parse_arn(text, service="sqs", what="SQS queue"))
    refusal = SubscribeRequestError(
        f"{text[:300]!r} is not an SQS queue ARN or URL (like "
        "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq)"
    )
    try:
        parts = urllib.parse.urlsplit(text)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise refusal from None
    path = _QUEUE_PATH.fullmatch(parts.path)
    aws_host = _AWS_QUEUE_HOST.fullmatch(host)
    if path is None or parts.query or parts.fragment or parts.username or parts.password:
        raise refusal
    if parts.scheme == "https" and aws_host is not None and port is None:
        partition, region = ("aws-cn" if aws_host["china"] else "aws"), aws_host["region"]
    elif parts.scheme in ("http", "https") and is_loopback_host(host):
        partition, region = "aws", default_region
    else:
        raise refusal
    arn = Arn(
        partition=partition,
        service="sqs",
        region=region,
        account=path["account"],
        resource=path["name"],
    )
    return QueueAddress(arn=arn, url=text)


def parse_dead_letter_queue(text: str, topic: Arn) -> Arn:
    """An SQS queue (ARN or URL) that SNS may use as the subscription's dead-letter queue: a
    standard queue in the topic's partition, account and region (SNS refuses any other)."""
    queue = parse_queue(text, default_region=topic.region).arn
    if (queue.partition, queue.account, queue.region) != (
        topic.partition,
        topic.account,
        topic.region,
    ):
        raise SubscribeRequestError(
            f"the dead-letter queue must be in the topic's account and region "
            f"({topic.account}, {topic.region}); {queue} is in {queue.account}, {queue.region}"
        )
    if queue.is_fifo:
        raise SubscribeRequestError(
            f"{queue} is a FIFO queue: the dead-letter queue of a standard topic's subscription "
            "must be a standard queue"
        )
    return queue


class _PolicyModel(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")


class HealthyRetryPolicy(_PolicyModel):
    """The retry schedule of an HTTP/S subscription, in SNS's four phases: immediate retries,
    retries ``minDelayTarget`` apart, a backoff from min to max, retries ``maxDelayTarget``
    apart (``numRetries`` counts all of them)."""

    min_delay_target: int = Field(alias="minDelayTarget", ge=1)
    max_delay_target: int = Field(alias="maxDelayTarget", ge=1)
    num_retries: int = Field(alias="numRetries", ge=0, le=MAX_RETRIES)
    num_no_delay_retries: int = Field(alias="numNoDelayRetries", ge=0)
    num_min_delay_retries: int = Field(alias="numMinDelayRetries", ge=0)
    num_max_delay_retries: int = Field(alias="numMaxDelayRetries", ge=0)
    backoff_function: Literal["linear", "arithmetic", "geometric", "exponential"] = Field(
        alias="backoffFunction"
    )

    @property
    def num_backoff_retries(self) -> int:
        fixed = self.num_no_delay_retries + self.num_min_delay_retries + self.num_max_delay_retries
        return self.num_retries - fixed

    @property
    def max_total_retry_seconds(self) -> int:
        """An upper bound of the time from the first failure to the last retry. SNS does not
        publish its backoff curves (and adds jitter), so each backoff retry counts at the
        maximum delay: a policy within the limit by this bound is within it however SNS
        draws the curve."""
        return (
            self.num_min_delay_retries * self.min_delay_target
            + (self.num_backoff_retries + self.num_max_delay_retries) * self.max_delay_target
        )

    @model_validator(mode="after")
    def _within_sns_limits(self) -> HealthyRetryPolicy:
        if self.min_delay_target > self.max_delay_target:
            raise ValueError("minDelayTarget must not exceed maxDelayTarget")
        if self.num_backoff_retries < 0:
            raise ValueError(
                "numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries exceed numRetries"
            )
        if self.max_total_retry_seconds > MAX_TOTAL_RETRY_SECONDS:
            raise ValueError(
                f"the retries may take up to {self.max_total_retry_seconds} s; SNS allows at "
                f"most {MAX_TOTAL_RETRY_SECONDS} s"
            )
        return self


class ThrottlePolicy(_PolicyModel):
    max_receives_per_second: int = Field(alias="maxReceivesPerSecond", ge=1)


class DeliveryPolicy(_PolicyModel):
    """A subscription's ``DeliveryPolicy`` attribute (the parts snsflow sets)."""

    healthy_retry_policy: HealthyRetryPolicy = Field(alias="healthyRetryPolicy")
    throttle_policy: ThrottlePolicy | None = Field(default=None, alias="throttlePolicy")

    def to_attribute(self) -> str:
        return json.dumps(
            self.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":")
        )


#: 20 retries within at most 55 minutes (about half an hour on SNS's exponential curve): an
#: immediate retry and eight more 5 s apart (the first 40 s) ride out a cold start, a throttled
#: moment or a lost connection; six backoff retries from 5 s to 5 min and five more 5 min apart
#: ride out a deployment or an outage of a dependency. The last retry comes well inside the
#: webhook's freshness window (2 h), so it is still accepted. SNS's default (3 retries, 20 s
#: apart) gives up after one minute.
DEFAULT_RETRY_POLICY = HealthyRetryPolicy(
    min_delay_target=5,
    max_delay_target=300,
    num_retries=20,
    num_no_delay_retries=1,
    num_min_delay_retries=8,
    num_max_delay_retries=5,
    backoff_function="exponential",
)


def subscription_attributes(
    *,
    max_receives_per_second: int | None = None,
    dead_letter_queue: Arn | None = None,
    retry_policy: HealthyRetryPolicy = DEFAULT_RETRY_POLICY,
) -> dict[str, str]:
    """The ``Attributes`` of the Subscribe call: the delivery policy, and the DLQ if any."""
    throttle = (
        ThrottlePolicy(max_receives_per_second=max_receives_per_second)
        if max_receives_per_second is not None
        else None
    )
    policy = DeliveryPolicy(healthy_retry_policy=retry_policy, throttle_policy=throttle)
    attributes = {"DeliveryPolicy": policy.to_attribute()}
    if dead_letter_queue is not None:
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": str(dead_letter_queue)})
    return attributes


def endpoint_protocol(endpoint: str) -> Literal["https", "http"]:
    """``https``; ``http`` only for a loopback endpoint (the local stack): the key travels in
    the URL, so it must never cross a network in clear text."""
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return "https"
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return "http"
    raise SubscribeRequestError(
        f"the webhook URL {redact_endpoint(endpoint)} must be https (http only on loopback)"
    )


def with_key(webhook_url: str, key_value: str) -> str:
    """The endpoint SNS posts to: the webhook URL with the key in its query string."""
    if not key_value.strip():
        raise SubscribeRequestError("the webhook key is empty")
    parts = urllib.parse.urlsplit(webhook_url)
    if parts.query or parts.fragment:
        raise SubscribeRequestError(
            f"the webhook URL {redact_endpoint(webhook_url)} must have no query or fragment"
        )
    return f"{webhook_url}?{KEY_PARAMETER}={urllib.parse.quote(key_value, safe='')}"


def redact_key(key_value: str) -> str:
    """What may be shown of a key: the display prefix of an snsflow key, nothing of another."""
    return f"{display_prefix(key_value)}…" if key_value.startswith(KEY_PREFIX) else "…"


def redact_endpoint(endpoint: str) -> str:
    """``endpoint`` with every key in its query string cut to :func:`redact_key`."""
    parts = urllib.parse.urlsplit(endpoint)
    if not parts.query:
        return endpoint
    query = "&".join(
        f"{name}={redact_key(value) if name.lower() == KEY_PARAMETER else value}"
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    return urllib.parse.urlunsplit(parts._replace(query=query, fragment=""))


def subscribe(sns: SNSClient, topic: Arn, endpoint: str, attributes: Mapping[str, str]) -> str:
    """Create (or find, if it exists with the same attributes) the subscription; its ARN."""
    answer = sns.subscribe(
        TopicArn=str(topic),
        Protocol=endpoint_protocol(endpoint),
        Endpoint=endpoint,
        Attributes=dict(attributes),
        ReturnSubscriptionArn=True,
    )
    return str(answer["SubscriptionArn"])


def is_confirmed(sns: SNSClient, subscription_arn: str) -> bool:
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    return str(attributes.get("PendingConfirmation", "true")).lower() == "false"


def wait_until_confirmed(
    sns: SNSClient,
    subscription_arn: str,
    *,
    timeout: float,
    workflow_id: str = "<workflow>",
    interval: float = 1.0,
    on_wait: Callable[[float], None] = lambda _elapsed: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Poll until SNS reports the subscription confirmed; the seconds it took.
    :class:`SubscribeFailedError` after ``timeout`` seconds. ``on_wait`` hears each poll."""
    start = clock()
    while True:
        if is_confirmed(sns, subscription_arn):
            return clock() - start
        elapsed = clock() - start
        if elapsed >= timeout:
            raise SubscribeFailedError(
                f"the subscription {subscription_arn} is still pending confirmation after "
                f"{timeout:g} s: is the webhook reachable from SNS, and does its workflow allow "
                f"this topic? ('snsflow deliveries {workflow_id} --refused' lists the requests "
                "the webhook refused, with their codes)"
            )
        on_wait(elapsed)
        sleep(min(interval, max(timeout - elapsed, 0.0)))
