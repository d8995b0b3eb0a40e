"""HTTP/S delivery policies: the retry schedule SNS follows when an endpoint fails.

A subscription's ``DeliveryPolicy`` overrides the topic's ``http`` defaults unless the topic
sets ``disableSubscriptionOverrides``. Retries happen in four phases: immediate (no delay),
pre-backoff (``minDelayTarget`` apart), backoff (from min to max along ``backoffFunction``) and
post-backoff (``maxDelayTarget`` apart); ``numRetries`` counts them all. SNS does not publish
its backoff curves and adds jitter; the curves below have the documented shapes (linear,
arithmetic, geometric, exponential growth from min to max) and no jitter, so that tests are
reproducible.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from snsflow.local.sns.errors import InvalidParameterError

#: SNS caps the total retry time of an HTTP/S policy at one hour.
MAX_TOTAL_RETRY_SECONDS = 3600
DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8"

_PolicyT = TypeVar("_PolicyT", bound=BaseModel)


class BackoffFunction(StrEnum):
    LINEAR = "linear"
    ARITHMETIC = "arithmetic"
    GEOMETRIC = "geometric"
    EXPONENTIAL = "exponential"

    def delay(self, minimum: float, maximum: float, position: float) -> float:
        """The delay at ``position`` (0 = first backoff retry, 1 = last) of the backoff phase."""
        if self is BackoffFunction.GEOMETRIC:
            return float(minimum * (maximum / minimum) ** position)
        growth = {
            BackoffFunction.LINEAR: position,
            BackoffFunction.ARITHMETIC: position**2,
            BackoffFunction.EXPONENTIAL: (2 ** (10 * position) - 1) / (2**10 - 1),
        }[self]
        return minimum + (maximum - minimum) * growth


class _PolicyModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="forbid")


class HealthyRetryPolicy(_PolicyModel):
    """``healthyRetryPolicy``; the defaults are SNS's: 3 retries, 20 seconds apart."""

    min_delay_target: int = Field(20, alias="minDelayTarget", ge=1, le=MAX_TOTAL_RETRY_SECONDS)
    max_delay_target: int = Field(20, alias="maxDelayTarget", ge=1, le=MAX_TOTAL_RETRY_SECONDS)
    num_retries: int = Field(3, alias="numRetries", ge=0, le=100)
    num_no_delay_retries: int = Field(0, alias="numNoDelayRetries", ge=0)
    num_min_delay_retries: int = Field(0, alias="numMinDelayRetries", ge=0)
    num_max_delay_retries: int = Field(0, alias="numMaxDelayRetries", ge=0)
    backoff_function: BackoffFunction = Field(BackoffFunction.LINEAR, alias="backoffFunction")

    @field_validator("backoff_function", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        # CloudFormation and the CDK spell the functions in upper case.
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_phases(self) -> HealthyRetryPolicy:
        if self.min_delay_target > self.max_delay_target:
            raise ValueError("minDelayTarget must not exceed maxDelayTarget")
        fixed = self.num_no_delay_retries + self.num_min_delay_retries + self.num_max_delay_retries
        if fixed > self.num_retries:
            raise ValueError(
                "numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries must not exceed "
                "numRetries"
            )
        if sum(self.retry_delays()) > MAX_TOTAL_RETRY_SECONDS:
            raise ValueError(f"the total retry time exceeds {MAX_TOTAL_RETRY_SECONDS} seconds")
        return self

    def retry_delays(self) -> tuple[float, ...]:
        """Seconds to wait before each retry, in order (its length is ``numRetries``)."""
        backoff_count = self.num_retries - (
            self.num_no_delay_retries + self.num_min_delay_retries + self.num_max_delay_retries
        )
        low, high = float(self.min_delay_target), float(self.max_delay_target)
        backoff = [
            self.backoff_function.delay(
                low, high, k / (backoff_count - 1) if backoff_count > 1 else 0
            )
            for k in range(max(backoff_count, 0))
        ]
        return (
            (0.0,) * self.num_no_delay_retries
            + (low,) * self.num_min_delay_retries
            + tuple(backoff)
            + (high,) * self.num_max_delay_retries
        )


class ThrottlePolicy(_PolicyModel):
    max_receives_per_second: int = Field(alias="maxReceivesPerSecond", ge=1)


class RequestPolicy(_PolicyModel):
    header_content_type: str = Field(
        DEFAULT_CONTENT_TYPE, alias="headerContentType", pattern=r"^[\w.+-]+/[\w.+-]+(;.{0,100})?$"
    )


class SubscriptionDeliveryPolicy(_PolicyModel):
    """A subscription's ``DeliveryPolicy`` attribute."""

    # SNS echoes fields it does not use for HTTP (sicklyRetryPolicy, guaranteed): tolerate them.
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    healthy_retry_policy: HealthyRetryPolicy | None = Field(None, alias="healthyRetryPolicy")
    throttle_policy: ThrottlePolicy | None = Field(None, alias="throttlePolicy")
    request_policy: RequestPolicy | None = Field(None, alias="requestPolicy")


class TopicHttpDeliveryPolicy(_PolicyModel):
    default_healthy_retry_policy: HealthyRetryPolicy | None = Field(
        None, alias="defaultHealthyRetryPolicy"
    )
    default_throttle_policy: ThrottlePolicy | None = Field(None, alias="defaultThrottlePolicy")
    default_request_policy: RequestPolicy | None = Field(None, alias="defaultRequestPolicy")
    disable_subscription_overrides: bool = Field(False, alias="disableSubscriptionOverrides")


class TopicDeliveryPolicy(_PolicyModel):
    """A topic's ``DeliveryPolicy`` attribute; only its ``http`` part applies here."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    http: TopicHttpDeliveryPolicy | None = None


class EffectiveDeliveryPolicy(_PolicyModel):
    """What delivery to one subscription actually follows."""

    healthy_retry_policy: HealthyRetryPolicy = Field(
        default_factory=HealthyRetryPolicy, alias="healthyRetryPolicy"
    )
    throttle_policy: ThrottlePolicy | None = Field(None, alias="throttlePolicy")
    request_policy: RequestPolicy = Field(default_factory=RequestPolicy, alias="requestPolicy")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":"))


def parse_subscription_policy(document: str) -> SubscriptionDeliveryPolicy:
    return _parse(SubscriptionDeliveryPolicy, document)


def parse_topic_policy(document: str) -> TopicDeliveryPolicy:
    return _parse(TopicDeliveryPolicy, document)


def effective_policy(
    topic: TopicDeliveryPolicy | None, subscription: SubscriptionDeliveryPolicy | None
) -> EffectiveDeliveryPolicy:
    """The subscription's settings where it has them (and may), else the topic's, else SNS's."""
    defaults = (topic.http if topic else None) or TopicHttpDeliveryPolicy()
    own = (
        subscription
        if subscription is not None and not defaults.disable_subscription_overrides
        else SubscriptionDeliveryPolicy()
    )
    return EffectiveDeliveryPolicy(
        healthy_retry_policy=own.healthy_retry_policy
        or defaults.default_healthy_retry_policy
        or HealthyRetryPolicy(),
        throttle_policy=own.throttle_policy or defaults.default_throttle_policy,
        request_policy=own.request_policy or defaults.default_request_policy or RequestPolicy(),
    )


def _parse(model: type[_PolicyT], document: str) -> _PolicyT:
    try:
        return model.model_validate_json(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'policy'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidParameterError(f"Invalid parameter: DeliveryPolicy: {problems}") from None


def effective_topic_policy_json(topic: TopicDeliveryPolicy | None) -> str:
    """A topic's ``EffectiveDeliveryPolicy`` attribute: its ``http`` defaults, filled in."""
    effective = effective_policy(topic, None)
    http = (topic.http if topic else None) or TopicHttpDeliveryPolicy()
    document: dict[str, Any] = {
        "http": {
            "defaultHealthyRetryPolicy": effective.healthy_retry_policy.model_dump(
                mode="json", by_alias=True
            ),
            "disableSubscriptionOverrides": http.disable_subscription_overrides,
            "defaultRequestPolicy": effective.request_policy.model_dump(mode="json", by_alias=True),
        }
    }
    if effective.throttle_policy is not None:
        document["http"]["defaultThrottlePolicy"] = effective.throttle_policy.model_dump(
            mode="json", by_alias=True
        )
    return json.dumps(document, separators=(",", ":"))
