"""Delivery policies: the retry schedule, its limits, and which policy applies."""

from __future__ import annotations

import itertools
import json

import pytest
from mypy_boto3_sns import SNSClient

from snsflow.local.sns import LocalSns, Outcome
from snsflow.local.sns.errors import InvalidParameterError
from snsflow.local.sns.policy import (
    BackoffFunction,
    HealthyRetryPolicy,
    effective_policy,
    parse_subscription_policy,
    parse_topic_policy,
)
from tests.unit.local.helpers import settle, subscribe_and_confirm
from tests.unit.local.receiver import Receiver


def test_the_default_policy_is_three_retries_twenty_seconds_apart() -> None:
    assert HealthyRetryPolicy().retry_delays() == (20.0, 20.0, 20.0)


def test_the_four_phases_come_in_order() -> None:
    policy = parse_subscription_policy(
        json.dumps(
            {
                "healthyRetryPolicy": {
                    "numRetries": 6,
                    "numNoDelayRetries": 1,
                    "numMinDelayRetries": 1,
                    "numMaxDelayRetries": 1,
                    "minDelayTarget": 2,
                    "maxDelayTarget": 10,
                    "backoffFunction": "linear",
                }
            }
        )
    ).healthy_retry_policy
    assert policy is not None

    assert policy.retry_delays() == (0.0, 2.0, 2.0, 6.0, 10.0, 10.0)


@pytest.mark.parametrize("function", list(BackoffFunction))
def test_each_backoff_function_grows_from_the_minimum_to_the_maximum(
    function: BackoffFunction,
) -> None:
    policy = HealthyRetryPolicy(
        num_retries=8, min_delay_target=1, max_delay_target=64, backoff_function=function
    )

    delays = policy.retry_delays()

    assert delays[0] == pytest.approx(1.0)
    assert delays[-1] == pytest.approx(64.0)
    assert all(a <= b for a, b in itertools.pairwise(delays))


def test_the_backoff_functions_have_different_shapes() -> None:
    middles = {function: function.delay(1.0, 100.0, 0.5) for function in BackoffFunction}

    assert len(set(middles.values())) == len(BackoffFunction)
    assert middles[BackoffFunction.LINEAR] == pytest.approx(50.5)


def test_backoff_function_names_are_accepted_in_upper_case() -> None:
    policy = HealthyRetryPolicy.model_validate({"backoffFunction": "EXPONENTIAL"})

    assert policy.backoff_function is BackoffFunction.EXPONENTIAL


@pytest.mark.parametrize(
    "retry_policy",
    [
        {"minDelayTarget": 30, "maxDelayTarget": 20},
        {"numRetries": 101},
        {"numRetries": 2, "numNoDelayRetries": 2, "numMaxDelayRetries": 1},
        {"numRetries": 100, "minDelayTarget": 60, "maxDelayTarget": 60},  # 6,000 s in total
        {"minDelayTarget": 0},
        {"backoffFunction": "cubic"},
        {"numRetries": "many"},
        {"unknownSetting": 1},
    ],
)
def test_invalid_retry_policies_are_refused(retry_policy: dict[str, object]) -> None:
    document = json.dumps({"healthyRetryPolicy": retry_policy})

    with pytest.raises(InvalidParameterError, match="DeliveryPolicy"):
        parse_subscription_policy(document)


def test_a_subscription_policy_overrides_the_topic_defaults() -> None:
    topic = parse_topic_policy(
        '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 7, "minDelayTarget": 1,'
        ' "maxDelayTarget": 1}}}'
    )
    own = parse_subscription_policy('{"healthyRetryPolicy": {"numRetries": 1}}')

    assert effective_policy(topic, own).healthy_retry_policy.num_retries == 1
    assert effective_policy(topic, None).healthy_retry_policy.num_retries == 7
    assert effective_policy(None, None).healthy_retry_policy.num_retries == 3


def test_a_topic_can_forbid_subscription_overrides() -> None:
    topic = parse_topic_policy(
        '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 0},'
        ' "disableSubscriptionOverrides": true}}'
    )
    own = parse_subscription_policy('{"healthyRetryPolicy": {"numRetries": 5}}')

    assert effective_policy(topic, own).healthy_retry_policy.num_retries == 0


def test_the_topic_delivery_policy_applies_to_its_subscriptions(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    sns_client.set_topic_attributes(
        TopicArn=topic_arn,
        AttributeName="DeliveryPolicy",
        AttributeValue='{"http": {"defaultHealthyRetryPolicy": {"numRetries": 0}}}',
    )
    with Receiver() as endpoint:
        subscribe_and_confirm(sns_client, topic_arn, endpoint)
        endpoint.answer_next(500)

        message_id = sns_client.publish(TopicArn=topic_arn, Message="one chance")["MessageId"]

        settle(local_sns)
    log = [a for a in local_sns.delivery_log() if a.message_id == message_id]
    assert [a.outcome for a in log] == [Outcome.FAILED]
