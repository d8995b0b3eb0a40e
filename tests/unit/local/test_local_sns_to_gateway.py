"""The two stand-ins together: the local SNS delivering through the local API gateway to a
handler that verifies with snsflow's verifier, as the local stack will wire them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from mypy_boto3_sns import SNSClient

from snsflow.local import LocalApiGateway, LocalSns, Outcome, Route
from snsflow.sns import (
    MessageVerifier,
    SnsVerificationError,
    SubscriptionConfirmation,
    parse_message,
    validate_subscribe_url,
)
from tests.unit.local.helpers import settle

API_KEY = "snsf_local-test-key"


class VerifyingWebhook:
    """A stand-in webhook handler: verify, confirm subscriptions, record notifications."""

    def __init__(self, verifier: MessageVerifier, trusted_prefix: str) -> None:
        self.verifier = verifier
        self.trusted_prefix = trusted_prefix
        self.notifications: list[str] = []

    def __call__(self, raw_event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        event = APIGatewayProxyEvent(raw_event)
        try:
            message = self.verifier.verify(parse_message(event.decoded_body or ""))
        except SnsVerificationError as error:
            return {"statusCode": error.http_status, "body": json.dumps(error.to_body())}
        if isinstance(message, SubscriptionConfirmation):
            validate_subscribe_url(
                message.subscribe_url,
                topic_arn=message.topic_arn,
                token=message.token,
                trusted_prefixes=(self.trusted_prefix,),
            )
            assert urllib3.request("GET", message.subscribe_url, redirect=False).status == 200
        else:
            self.notifications.append(message.message_id)
        return {"statusCode": 200, "body": '{"status": "accepted"}'}


def key_authorizer(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "x-api-key" not in (event["queryStringParameters"] or {}):
        raise Exception("Unauthorized")
    response = APIGatewayAuthorizerResponse.from_route_arn(event["methodArn"], "key:test")
    if event["queryStringParameters"]["x-api-key"] == API_KEY:
        response.allow_all_routes()
    else:
        response.deny_all_routes()
    return response.asdict()


@pytest.fixture
def webhook(local_sns: LocalSns, verifier: MessageVerifier) -> VerifyingWebhook:
    return VerifyingWebhook(verifier, local_sns.trusted_cert_url_prefix)


@pytest.fixture
def gateway(webhook: VerifyingWebhook) -> Iterator[LocalApiGateway]:
    with LocalApiGateway(
        [Route("POST", "/webhooks/{workflowId}", webhook)], key_authorizer
    ) as running:
        yield running


def test_a_subscription_through_the_gateway_confirms_and_receives_notifications(
    sns_client: SNSClient,
    topic_arn: str,
    local_sns: LocalSns,
    gateway: LocalApiGateway,
    webhook: VerifyingWebhook,
) -> None:
    endpoint = f"{gateway.base_url}/webhooks/order-events?x-api-key={API_KEY}"
    arn = sns_client.subscribe(
        TopicArn=topic_arn, Protocol="http", Endpoint=endpoint, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    settle(local_sns)
    assert (
        sns_client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"][
            "PendingConfirmation"
        ]
        == "false"
    )

    message_id = sns_client.publish(TopicArn=topic_arn, Message='{"order": 1}')["MessageId"]

    settle(local_sns)
    assert webhook.notifications == [message_id]


def test_a_subscription_with_a_wrong_key_is_never_confirmed_and_sns_sees_403(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns, gateway: LocalApiGateway
) -> None:
    endpoint = f"{gateway.base_url}/webhooks/order-events?x-api-key=snsf_wrong"
    arn = sns_client.subscribe(
        TopicArn=topic_arn, Protocol="http", Endpoint=endpoint, ReturnSubscriptionArn=True
    )["SubscriptionArn"]

    settle(local_sns)

    attributes = sns_client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "true"
    log = [a for a in local_sns.delivery_log() if a.subscription_arn == arn]
    assert [(a.status_code, a.outcome) for a in log] == [(403, Outcome.REJECTED)]
