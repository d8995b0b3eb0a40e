"""The local SNS's Query API, driven by boto3 over HTTP on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from mypy_boto3_sns import SNSClient

from snsflow.local.sns import LocalSns
from tests.unit.local.helpers import http_get, settle, subscribe_and_confirm
from tests.unit.local.receiver import Receiver


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- topics ------------------------------------------------------------------------------------


def test_create_topic_returns_an_arn_in_the_configured_region_and_account(
    sns_client: SNSClient,
) -> None:
    arn = sns_client.create_topic(Name="orders")["TopicArn"]

    assert arn == "arn:aws:sns:us-east-1:000000000000:orders"


def test_create_topic_is_idempotent_for_the_same_attributes(sns_client: SNSClient) -> None:
    first = sns_client.create_topic(Name="orders", Attributes={"SignatureVersion": "2"})
    second = sns_client.create_topic(Name="orders", Attributes={"SignatureVersion": "2"})

    assert first["TopicArn"] == second["TopicArn"]
    assert len(sns_client.list_topics()["Topics"]) == 1


def test_create_topic_with_different_attributes_for_an_existing_name_is_refused(
    sns_client: SNSClient,
) -> None:
    sns_client.create_topic(Name="orders", Attributes={"SignatureVersion": "2"})

    with pytest.raises(ClientError) as excinfo:
        sns_client.create_topic(Name="orders", Attributes={"SignatureVersion": "1"})

    assert error_of(excinfo) == ("InvalidParameter", 400)


@pytest.mark.parametrize("name", ["", "has space", "x" * 257, "orders.fifo"])
def test_create_topic_refuses_invalid_names(sns_client: SNSClient, name: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        sns_client.create_topic(Name=name)

    assert error_of(excinfo)[1] == 400


def test_get_topic_attributes_reports_owner_counts_and_signature_version(
    sns_client: SNSClient,
) -> None:
    arn = sns_client.create_topic(Name="orders", Attributes={"SignatureVersion": "2"})["TopicArn"]

    attributes = sns_client.get_topic_attributes(TopicArn=arn)["Attributes"]

    assert attributes["TopicArn"] == arn
    assert attributes["Owner"] == "000000000000"
    assert attributes["SignatureVersion"] == "2"
    assert attributes["SubscriptionsConfirmed"] == "0"
    assert attributes["SubscriptionsPending"] == "0"
    effective = json.loads(attributes["EffectiveDeliveryPolicy"])
    assert effective["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == arn


def test_a_new_topic_has_no_signature_version_attribute_meaning_version_1(
    sns_client: SNSClient, topic_arn: str
) -> None:
    attributes = sns_client.get_topic_attributes(TopicArn=topic_arn)["Attributes"]

    assert "SignatureVersion" not in attributes


def test_set_topic_attributes_changes_the_signature_version(
    sns_client: SNSClient, topic_arn: str
) -> None:
    sns_client.set_topic_attributes(
        TopicArn=topic_arn, AttributeName="SignatureVersion", AttributeValue="2"
    )
    sns_client.set_topic_attributes(
        TopicArn=topic_arn, AttributeName="DisplayName", AttributeValue="Orders"
    )

    attributes = sns_client.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["SignatureVersion"] == "2"
    assert attributes["DisplayName"] == "Orders"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SignatureVersion", "3"),
        ("DeliveryPolicy", "not json"),
        ("DeliveryPolicy", '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 101}}}'),
        ("Policy", "[]"),
        ("NoSuchAttribute", "x"),
    ],
)
def test_set_topic_attributes_refuses_invalid_values(
    sns_client: SNSClient, topic_arn: str, name: str, value: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        sns_client.set_topic_attributes(
            TopicArn=topic_arn, AttributeName=name, AttributeValue=value
        )

    assert error_of(excinfo) == ("InvalidParameter", 400)


def test_unknown_topic_is_not_found_with_http_404(sns_client: SNSClient) -> None:
    with pytest.raises(sns_client.exceptions.NotFoundException) as excinfo:
        sns_client.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:000000000000:nope")

    assert error_of(excinfo) == ("NotFound", 404)


def test_malformed_topic_arn_is_an_invalid_parameter(sns_client: SNSClient) -> None:
    with pytest.raises(sns_client.exceptions.InvalidParameterException) as excinfo:
        sns_client.get_topic_attributes(TopicArn="orders")

    assert error_of(excinfo) == ("InvalidParameter", 400)


def test_list_topics_pages_through_more_than_one_hundred_topics(sns_client: SNSClient) -> None:
    created = {sns_client.create_topic(Name=f"t{n:03}")["TopicArn"] for n in range(150)}

    pages = list(sns_client.get_paginator("list_topics").paginate())

    assert len(pages) == 2
    assert {t["TopicArn"] for page in pages for t in page["Topics"]} == created


def test_delete_topic_removes_it_and_its_subscriptions(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    subscription_arn = subscribe_and_confirm(sns_client, topic_arn, receiver)

    sns_client.delete_topic(TopicArn=topic_arn)

    assert sns_client.list_topics()["Topics"] == []
    with pytest.raises(sns_client.exceptions.NotFoundException):
        sns_client.get_subscription_attributes(SubscriptionArn=subscription_arn)


def test_deleting_a_missing_topic_is_not_an_error(sns_client: SNSClient) -> None:
    sns_client.delete_topic(TopicArn="arn:aws:sns:us-east-1:000000000000:never-was")


# -- subscriptions -------------------------------------------------------------------------------


def test_subscribe_answers_pending_confirmation_unless_the_arn_is_asked_for(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    pending = sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url("/a"))
    with_arn = sns_client.subscribe(
        TopicArn=topic_arn,
        Protocol="http",
        Endpoint=receiver.url("/b"),
        ReturnSubscriptionArn=True,
    )

    assert pending["SubscriptionArn"] == "pending confirmation"
    assert with_arn["SubscriptionArn"].startswith(f"{topic_arn}:")


def test_pending_subscriptions_are_listed_as_pending_confirmation(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url())

    (listed,) = sns_client.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]

    assert listed == {
        "SubscriptionArn": "PendingConfirmation",
        "Owner": "000000000000",
        "Protocol": "http",
        "Endpoint": receiver.url(),
        "TopicArn": topic_arn,
    }
    attributes = sns_client.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["SubscriptionsPending"] == "1"


def test_confirm_subscription_api_confirms_with_the_delivered_token(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    arn = sns_client.subscribe(
        TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url(), ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    token = json.loads(receiver.wait_for(1)[0].body)["Token"]

    confirmed = sns_client.confirm_subscription(
        TopicArn=topic_arn, Token=token, AuthenticateOnUnsubscribe="true"
    )

    assert confirmed["SubscriptionArn"] == arn
    attributes = sns_client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "true"
    settle(local_sns)


def test_confirm_subscription_refuses_a_wrong_token(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url())

    with pytest.raises(ClientError) as excinfo:
        sns_client.confirm_subscription(TopicArn=topic_arn, Token="0" * 128)

    assert error_of(excinfo) == ("InvalidParameter", 400)


def test_a_token_confirms_only_its_own_topic(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    other_topic = sns_client.create_topic(Name="other")["TopicArn"]
    sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url())
    token = json.loads(receiver.wait_for(1)[0].body)["Token"]

    with pytest.raises(ClientError) as excinfo:
        sns_client.confirm_subscription(TopicArn=other_topic, Token=token)

    assert error_of(excinfo) == ("InvalidParameter", 400)


def test_subscribing_a_confirmed_endpoint_again_returns_its_arn(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    arn = subscribe_and_confirm(sns_client, topic_arn, receiver)

    again = sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url())

    assert again["SubscriptionArn"] == arn
    settle(local_sns)
    assert len(receiver.requests) == 1  # no second confirmation request


def test_subscribing_again_with_different_attributes_is_refused(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    subscribe_and_confirm(sns_client, topic_arn, receiver)

    with pytest.raises(ClientError) as excinfo:
        sns_client.subscribe(
            TopicArn=topic_arn,
            Protocol="http",
            Endpoint=receiver.url(),
            Attributes={"RawMessageDelivery": "true"},
        )

    assert error_of(excinfo) == ("InvalidParameter", 400)


@pytest.mark.parametrize(
    ("protocol", "endpoint"),
    [
        ("http", "https://127.0.0.1:9/hook"),  # scheme differs from the protocol
        ("https", "http://127.0.0.1:9/hook"),
        ("http", "not a url"),
        ("sqs", "arn:aws:sqs:us-east-1:000000000000:queue"),
        ("http", "http://example.com/hook"),  # only loopback by default
    ],
)
def test_subscribe_refuses_endpoints_it_cannot_deliver_to(
    sns_client: SNSClient, topic_arn: str, protocol: str, endpoint: str
) -> None:
    with pytest.raises(ClientError) as excinfo:
        sns_client.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint)

    assert error_of(excinfo) == ("InvalidParameter", 400)


def test_subscribe_refuses_filter_policies_rather_than_ignoring_them(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    with pytest.raises(ClientError) as excinfo:
        sns_client.subscribe(
            TopicArn=topic_arn,
            Protocol="http",
            Endpoint=receiver.url(),
            Attributes={"FilterPolicy": '{"kind": ["a"]}'},
        )

    assert error_of(excinfo) == ("InvalidParameter", 400)
    assert "not supported" in str(excinfo.value)


def test_subscribe_to_a_missing_topic_is_not_found(
    sns_client: SNSClient, receiver: Receiver
) -> None:
    with pytest.raises(sns_client.exceptions.NotFoundException):
        sns_client.subscribe(
            TopicArn="arn:aws:sns:us-east-1:000000000000:nope",
            Protocol="http",
            Endpoint=receiver.url(),
        )


def test_subscription_attributes_can_be_read_and_set(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    arn = subscribe_and_confirm(sns_client, topic_arn, receiver)
    policy = {"healthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 1, "maxDelayTarget": 4}}

    sns_client.set_subscription_attributes(
        SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    sns_client.set_subscription_attributes(
        SubscriptionArn=arn, AttributeName="DeliveryPolicy", AttributeValue=json.dumps(policy)
    )

    attributes = sns_client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["SubscriptionArn"] == arn
    assert attributes["TopicArn"] == topic_arn
    assert attributes["Endpoint"] == receiver.url()
    assert attributes["Protocol"] == "http"
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["RawMessageDelivery"] == "true"
    assert json.loads(attributes["DeliveryPolicy"]) == policy
    effective = json.loads(attributes["EffectiveDeliveryPolicy"])["healthyRetryPolicy"]
    assert (effective["numRetries"], effective["maxDelayTarget"]) == (5, 4)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RawMessageDelivery", "yes"),
        ("DeliveryPolicy", '{"healthyRetryPolicy": {"minDelayTarget": 30, "maxDelayTarget": 20}}'),
        ("DeliveryPolicy", '{"healthyRetryPolicy": {"numRetries": 100, "minDelayTarget": 60}}'),
        ("DeliveryPolicy", '{"healthyRetryPolicy": {"numRetries": 1, "numNoDelayRetries": 2}}'),
        ("RedrivePolicy", '{"no": "target"}'),
        ("Owner", "someone"),
    ],
)
def test_set_subscription_attributes_refuses_invalid_values(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, name: str, value: str
) -> None:
    arn = subscribe_and_confirm(sns_client, topic_arn, receiver)

    with pytest.raises(ClientError) as excinfo:
        sns_client.set_subscription_attributes(
            SubscriptionArn=arn, AttributeName=name, AttributeValue=value
        )

    assert error_of(excinfo) == ("InvalidParameter", 400)


def test_list_subscriptions_shows_every_topics_subscriptions(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    other_topic = sns_client.create_topic(Name="other")["TopicArn"]
    confirmed = subscribe_and_confirm(sns_client, topic_arn, receiver)
    sns_client.subscribe(TopicArn=other_topic, Protocol="http", Endpoint=receiver.url("/other"))

    listed = sns_client.list_subscriptions()["Subscriptions"]

    assert sorted((s["TopicArn"], s["SubscriptionArn"]) for s in listed) == [
        (topic_arn, confirmed),
        (other_topic, "PendingConfirmation"),
    ]


def test_unsubscribe_removes_the_subscription(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    arn = subscribe_and_confirm(sns_client, topic_arn, receiver)

    sns_client.unsubscribe(SubscriptionArn=arn)

    assert sns_client.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []
    attributes = sns_client.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert attributes["SubscriptionsDeleted"] == "1"
    with pytest.raises(sns_client.exceptions.NotFoundException):
        sns_client.unsubscribe(SubscriptionArn=arn)
    settle(local_sns)


def test_an_authenticated_confirmation_refuses_anonymous_unsubscribe_links(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url())
    token = json.loads(receiver.wait_for(1)[0].body)["Token"]
    arn = sns_client.confirm_subscription(
        TopicArn=topic_arn, Token=token, AuthenticateOnUnsubscribe="true"
    )["SubscriptionArn"]
    sns_client.publish(TopicArn=topic_arn, Message="hello")
    notification = json.loads(receiver.wait_for(2)[1].body)

    anonymous = http_get(notification["UnsubscribeURL"])

    assert anonymous.status == 403
    assert b"<Code>AuthorizationError</Code>" in anonymous.data
    sns_client.unsubscribe(SubscriptionArn=arn)  # signed by boto3: allowed
    settle(local_sns)


def test_the_unsubscribe_link_of_a_notification_unsubscribes(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    subscribe_and_confirm(sns_client, topic_arn, receiver)
    sns_client.publish(TopicArn=topic_arn, Message="hello")
    notification = json.loads(receiver.wait_for(2)[1].body)

    response = http_get(notification["UnsubscribeURL"])

    assert response.status == 200
    assert b"<UnsubscribeResponse" in response.data
    assert sns_client.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []
    settle(local_sns)


# -- publish ---------------------------------------------------------------------------------------


def test_publish_returns_a_message_id(sns_client: SNSClient, topic_arn: str) -> None:
    first = sns_client.publish(TopicArn=topic_arn, Message="one")["MessageId"]
    second = sns_client.publish(TargetArn=topic_arn, Message="two")["MessageId"]

    assert len({first, second}) == 2
    assert all(len(m) == 36 for m in (first, second))


@pytest.mark.parametrize(
    "arguments",
    [
        {"Message": ""},
        {"Message": "x" * (256 * 1024 + 1)},
        {"Message": "bell \x07"},
        {"Message": "m", "Subject": "line\nbreak"},
        {"Message": "m", "Subject": "s" * 101},
        {"Message": "m", "MessageStructure": "json"},
        {"Message": '{"http": "no default"}', "MessageStructure": "json"},
        {"Message": "m", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "x"}}},
        {
            "Message": "m",
            "MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "v"}},
        },
        {"Message": "m", "MessageAttributes": {"n": {"DataType": "Date", "StringValue": "v"}}},
        {
            "Message": "m",
            "MessageAttributes": {"a": {"DataType": "String.Array", "StringValue": "1"}},
        },
    ],
)
def test_publish_refuses_what_sns_refuses(
    sns_client: SNSClient, topic_arn: str, arguments: dict[str, object]
) -> None:
    with pytest.raises(ClientError) as excinfo:
        sns_client.publish(TopicArn=topic_arn, **arguments)  # type: ignore[arg-type]

    assert error_of(excinfo) == ("InvalidParameter", 400)


def test_publish_to_a_missing_topic_is_not_found(sns_client: SNSClient) -> None:
    with pytest.raises(sns_client.exceptions.NotFoundException):
        sns_client.publish(TopicArn="arn:aws:sns:us-east-1:000000000000:nope", Message="m")


def test_an_unknown_action_is_an_xml_error_with_http_400(local_sns: LocalSns) -> None:
    response = http_get(f"{local_sns.endpoint_url}/?Action=CreatePlatformApplication")

    assert response.status == 400
    assert b"<Code>InvalidAction</Code>" in response.data
    assert b"<ErrorResponse" in response.data
