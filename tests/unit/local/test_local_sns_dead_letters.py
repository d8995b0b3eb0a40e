"""The local SNS moves a notification it could not deliver to the subscription's dead-letter
queue (``RedrivePolicy``), with what SNS puts there: the delivered body, and attributes only for
raw deliveries."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from mypy_boto3_sns import SNSClient

from snsflow.local.sns import (
    DeadLetter,
    LocalSns,
    Outcome,
    SigningIdentity,
    SqsDeadLetterQueues,
)
from tests.unit.local.conftest import DELAY_SCALE, sns_client_for
from tests.unit.local.helpers import settle, subscribe_and_confirm
from tests.unit.local.receiver import Receiver

DLQ_ARN = "arn:aws:sqs:us-east-1:000000000000:orders-dlq"
ONE_RETRY = json.dumps(
    {"healthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}}
)


class RecordingQueues:
    """Dead letters kept in memory, in the order they were sent."""

    def __init__(self, *, fail: bool = False) -> None:
        self.letters: list[DeadLetter] = []
        self._fail = fail
        self._lock = threading.Lock()

    def send(self, letter: DeadLetter) -> None:
        if self._fail:
            raise ConnectionError("the queue is unreachable")
        with self._lock:
            self.letters.append(letter)


@pytest.fixture
def queues() -> RecordingQueues:
    return RecordingQueues()


@pytest.fixture
def dead_lettering_sns(
    signing_identity: SigningIdentity, queues: RecordingQueues
) -> Iterator[LocalSns]:
    with LocalSns(
        delay_scale=DELAY_SCALE,
        delivery_timeout=2.0,
        signing_identity=signing_identity,
        dead_letters=queues,
    ) as sns:
        yield sns


@pytest.fixture
def client(dead_lettering_sns: LocalSns) -> SNSClient:
    return sns_client_for(dead_lettering_sns)


@pytest.fixture
def topic(client: SNSClient) -> str:
    return client.create_topic(Name="orders")["TopicArn"]


def _subscribe(client: SNSClient, topic: str, endpoint: Receiver, **attributes: str) -> str:
    return subscribe_and_confirm(
        client,
        topic,
        endpoint,
        attributes={"DeliveryPolicy": ONE_RETRY, **attributes},
    )


def test_a_notification_out_of_retries_goes_to_the_queue_as_the_signed_envelope(
    client: SNSClient, topic: str, dead_lettering_sns: LocalSns, queues: RecordingQueues
) -> None:
    with Receiver(default_status=503) as endpoint:
        endpoint.answer_next(200)  # the confirmation
        _subscribe(
            client, topic, endpoint, RedrivePolicy=json.dumps({"deadLetterTargetArn": DLQ_ARN})
        )

        message_id = client.publish(
            TopicArn=topic,
            Message='{"orderId": "D-1"}',
            MessageAttributes={"tenant": {"DataType": "String", "StringValue": "acme"}},
        )["MessageId"]

        settle(dead_lettering_sns)
        last_body = endpoint.requests[-1].body
    log = [a for a in dead_lettering_sns.delivery_log() if a.message_id == message_id]
    assert [(a.outcome, a.dead_lettered) for a in log] == [
        (Outcome.RETRYING, False),
        (Outcome.FAILED, True),
    ]
    [letter] = queues.letters
    assert letter.queue_arn == DLQ_ARN
    assert letter.body.encode() == last_body
    envelope = json.loads(letter.body)
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == message_id
    assert envelope["MessageAttributes"] == {"tenant": {"Type": "String", "Value": "acme"}}
    assert {"Signature", "SigningCertURL", "UnsubscribeURL"} <= envelope.keys()
    assert letter.message_attributes == {}


def test_a_notification_the_endpoint_refuses_goes_to_the_queue_at_once(
    client: SNSClient, topic: str, dead_lettering_sns: LocalSns, queues: RecordingQueues
) -> None:
    with Receiver(default_status=403) as endpoint:
        endpoint.answer_next(200)
        _subscribe(
            client, topic, endpoint, RedrivePolicy=json.dumps({"deadLetterTargetArn": DLQ_ARN})
        )

        message_id = client.publish(TopicArn=topic, Message="refused")["MessageId"]

        settle(dead_lettering_sns)
    log = [a for a in dead_lettering_sns.delivery_log() if a.message_id == message_id]
    assert [(a.status_code, a.outcome, a.dead_lettered) for a in log] == [
        (403, Outcome.REJECTED, True)
    ]
    assert [json.loads(letter.body)["MessageId"] for letter in queues.letters] == [message_id]


def test_without_a_redrive_policy_a_failed_notification_is_dropped(
    client: SNSClient, topic: str, dead_lettering_sns: LocalSns, queues: RecordingQueues
) -> None:
    with Receiver(default_status=500) as endpoint:
        endpoint.answer_next(200)
        _subscribe(client, topic, endpoint)

        client.publish(TopicArn=topic, Message="lost")

        settle(dead_lettering_sns)
    assert dead_lettering_sns.delivery_log()[-1].outcome is Outcome.FAILED
    assert queues.letters == []


def test_a_delivered_notification_and_a_failed_confirmation_never_go_to_the_queue(
    client: SNSClient, topic: str, dead_lettering_sns: LocalSns, queues: RecordingQueues
) -> None:
    redrive = json.dumps({"deadLetterTargetArn": DLQ_ARN})
    with Receiver() as endpoint:
        _subscribe(client, topic, endpoint, RedrivePolicy=redrive)
        client.publish(TopicArn=topic, Message="fine")
        settle(dead_lettering_sns)
    with Receiver(default_status=500) as unconfirmed:
        client.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=unconfirmed.url(),
            Attributes={"RedrivePolicy": redrive, "DeliveryPolicy": ONE_RETRY},
        )
        settle(dead_lettering_sns)

    outcomes = [(a.message_type, a.outcome) for a in dead_lettering_sns.delivery_log()]
    assert ("Notification", Outcome.DELIVERED) in outcomes
    assert ("SubscriptionConfirmation", Outcome.FAILED) in outcomes
    assert queues.letters == []


def test_a_redrive_policy_set_after_subscribing_applies_to_later_failures(
    client: SNSClient, topic: str, dead_lettering_sns: LocalSns, queues: RecordingQueues
) -> None:
    with Receiver(default_status=500) as endpoint:
        endpoint.answer_next(200)
        arn = _subscribe(client, topic, endpoint)
        client.set_subscription_attributes(
            SubscriptionArn=arn,
            AttributeName="RedrivePolicy",
            AttributeValue=json.dumps({"deadLetterTargetArn": DLQ_ARN}),
        )

        client.publish(TopicArn=topic, Message="kept")

        settle(dead_lettering_sns)
    assert [json.loads(letter.body)["Message"] for letter in queues.letters] == ["kept"]
    attributes = client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ_ARN}


def test_a_raw_delivery_goes_to_the_queue_as_the_message_with_its_attributes(
    client: SNSClient, topic: str, dead_lettering_sns: LocalSns, queues: RecordingQueues
) -> None:
    with Receiver(default_status=500) as endpoint:
        endpoint.answer_next(200)
        _subscribe(
            client,
            topic,
            endpoint,
            RawMessageDelivery="true",
            RedrivePolicy=json.dumps({"deadLetterTargetArn": DLQ_ARN}),
        )

        client.publish(
            TopicArn=topic,
            Message="bare",
            MessageAttributes={
                "count": {"DataType": "Number", "StringValue": "3"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x02\x03"},
            },
        )

        settle(dead_lettering_sns)
    [letter] = queues.letters
    assert letter.body == "bare"
    assert letter.message_attributes == {
        "count": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x02\x03"},
    }


@pytest.mark.parametrize(
    "policy",
    [
        {"deadLetterTargetArn": "arn:aws:sns:us-east-1:000000000000:not-a-queue"},
        {"deadLetterTargetArn": "orders-dlq"},
        {"deadLetterTargetArn": 12},
    ],
)
def test_a_redrive_policy_must_name_a_queue_arn(
    client: SNSClient, topic: str, policy: dict[str, object]
) -> None:
    with Receiver() as endpoint, pytest.raises(ClientError) as refused:
        client.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=endpoint.url(),
            Attributes={"RedrivePolicy": json.dumps(policy)},
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"


def test_a_dead_letter_the_queue_refuses_is_lost_and_logged_as_not_sent(
    signing_identity: SigningIdentity,
) -> None:
    with (
        LocalSns(
            delay_scale=DELAY_SCALE,
            signing_identity=signing_identity,
            dead_letters=RecordingQueues(fail=True),
        ) as sns,
        Receiver(default_status=500) as endpoint,
    ):
        client = sns_client_for(sns)
        topic = client.create_topic(Name="orders")["TopicArn"]
        endpoint.answer_next(200)
        _subscribe(
            client, topic, endpoint, RedrivePolicy=json.dumps({"deadLetterTargetArn": DLQ_ARN})
        )

        client.publish(TopicArn=topic, Message="nowhere")

        settle(sns)
        last = sns.delivery_log()[-1]
    assert (last.outcome, last.dead_lettered) == (Outcome.FAILED, False)


@mock_aws
def test_sqs_dead_letter_queues_send_the_body_and_attributes_to_the_queue_of_the_arn() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    account = queue_url.rstrip("/").split("/")[-2]
    queues = SqsDeadLetterQueues(lambda: sqs)

    queues.send(
        DeadLetter(
            f"arn:aws:sqs:us-east-1:{account}:orders-dlq",
            '{"Type": "Notification"}',
            {"blob": {"DataType": "Binary", "BinaryValue": b"\x01"}},
        )
    )

    [message] = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    assert message["Body"] == '{"Type": "Notification"}'
    blob = message["MessageAttributes"]["blob"]
    assert (blob["DataType"], base64.b64encode(blob["BinaryValue"])) == ("Binary", b"AQ==")
