"""The local SNS delivers over HTTP exactly like SNS: handshake, signatures, headers, retries."""

from __future__ import annotations

import itertools
import json
import re
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from mypy_boto3_sns import SNSClient

from snsflow.local.sns import LocalSns, Outcome, SigningIdentity
from snsflow.local.sns.delivery import MAX_LOGGED_RESPONSE_BYTES
from snsflow.sns import MessageVerifier, SnsMessage, load_signing_certificate, parse_message
from snsflow.sns.messages import Notification, SubscriptionConfirmation, UnsubscribeConfirmation
from tests.unit.local.conftest import DELAY_SCALE, sns_client_for
from tests.unit.local.helpers import (
    delivered_notifications,
    http_get,
    settle,
    signature_is_valid,
    subscribe_and_confirm,
)
from tests.unit.local.receiver import Receiver

SNS_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def verify(verifier: MessageVerifier, body: bytes) -> SnsMessage:
    return verifier.verify(parse_message(body))


# -- the confirmation handshake --------------------------------------------------------------------


def test_subscribe_sends_a_signed_subscription_confirmation(
    sns_client: SNSClient,
    topic_arn: str,
    receiver: Receiver,
    local_sns: LocalSns,
    verifier: MessageVerifier,
) -> None:
    sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url())

    (request,) = receiver.wait_for(1)

    body = json.loads(request.body)
    assert list(body) == [
        "Type",
        "MessageId",
        "Token",
        "TopicArn",
        "Message",
        "SubscribeURL",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ]
    assert body["Type"] == "SubscriptionConfirmation"
    assert body["TopicArn"] == topic_arn
    assert re.fullmatch(r"[0-9a-f]{128}", body["Token"])
    assert body["SubscribeURL"] == (
        f"{local_sns.endpoint_url}/?Action=ConfirmSubscription&TopicArn={topic_arn}"
        f"&Token={body['Token']}"
    )
    assert SNS_TIMESTAMP.fullmatch(body["Timestamp"])
    assert body["SignatureVersion"] == "1"
    assert body["SigningCertURL"] == local_sns.certificate_url
    assert signature_is_valid(body, local_sns.signing_identity.certificate_pem, "1")
    assert isinstance(verify(verifier, request.body), SubscriptionConfirmation)
    assert request.method == "POST"
    assert request.header("x-amz-sns-message-type") == "SubscriptionConfirmation"
    assert request.header("x-amz-sns-message-id") == body["MessageId"]
    assert request.header("x-amz-sns-topic-arn") == topic_arn
    assert request.header("x-amz-sns-subscription-arn") is None
    assert request.header("Content-Type") == "text/plain; charset=UTF-8"
    assert request.header("User-Agent") == "Amazon Simple Notification Service Agent"


def test_visiting_the_subscribe_url_confirms_the_subscription(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    arn = sns_client.subscribe(
        TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url(), ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    confirmation = json.loads(receiver.wait_for(1)[0].body)

    response = http_get(confirmation["SubscribeURL"])

    assert response.status == 200
    assert f"<SubscriptionArn>{arn}</SubscriptionArn>".encode() in response.data
    attributes = sns_client.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "false"


def test_a_pending_subscription_receives_no_notifications(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=receiver.url())
    receiver.wait_for(1)

    sns_client.publish(TopicArn=topic_arn, Message="not for you yet")

    settle(local_sns)
    assert delivered_notifications(receiver) == []


def test_the_confirmation_is_retried_when_the_endpoint_fails(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    with Receiver(statuses=[503]) as flaky:
        sns_client.subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=flaky.url())

        first, second = flaky.wait_for(2)

    assert first.body == second.body
    assert json.loads(second.body)["Type"] == "SubscriptionConfirmation"
    settle(local_sns)


def test_the_signing_certificate_is_served_at_the_signing_cert_url(local_sns: LocalSns) -> None:
    response = http_get(local_sns.certificate_url)

    assert response.status == 200
    assert re.fullmatch(
        r"http://127\.0\.0\.1:\d+/SimpleNotificationService-[0-9a-f]{32}\.pem",
        local_sns.certificate_url,
    )
    certificate = x509.load_pem_x509_certificate(response.data)
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == "sns.amazonaws.com"
    assert certificate.public_key().key_size == 2048  # type: ignore[union-attr]
    # snsflow's strict loader (exactly one PEM block, RSA key) accepts it.
    assert load_signing_certificate(response.data).names == {"sns.amazonaws.com"}


def test_each_local_sns_makes_its_own_key_unless_given_one() -> None:
    first, second = LocalSns(), LocalSns()

    assert first.signing_identity.certificate_pem != second.signing_identity.certificate_pem
    assert first.signing_identity.certificate_file_name.startswith("SimpleNotificationService-")


# -- notifications -------------------------------------------------------------------------------


def test_a_notification_has_the_sns_fields_headers_and_a_valid_v1_signature(
    sns_client: SNSClient,
    topic_arn: str,
    receiver: Receiver,
    local_sns: LocalSns,
    verifier: MessageVerifier,
) -> None:
    subscription_arn = subscribe_and_confirm(sns_client, topic_arn, receiver)

    message_id = sns_client.publish(
        TopicArn=topic_arn,
        Message='{"order": 42, "note": "café"}',
        Subject="New order",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "created"},
            "count": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    )["MessageId"]

    request = receiver.wait_for(2)[1]
    body = json.loads(request.body)
    assert list(body) == [
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
        "MessageAttributes",
    ]
    assert body["Type"] == "Notification"
    assert body["MessageId"] == message_id
    assert body["TopicArn"] == topic_arn
    assert body["Subject"] == "New order"
    assert body["Message"] == '{"order": 42, "note": "café"}'
    assert SNS_TIMESTAMP.fullmatch(body["Timestamp"])
    assert body["UnsubscribeURL"] == (
        f"{local_sns.endpoint_url}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
    )
    assert body["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "created"},
        "count": {"Type": "Number", "Value": "3"},
        "blob": {"Type": "Binary", "Value": "AP8="},
    }
    assert request.header("x-amz-sns-message-type") == "Notification"
    assert request.header("x-amz-sns-message-id") == message_id
    assert request.header("x-amz-sns-topic-arn") == topic_arn
    assert request.header("x-amz-sns-subscription-arn") == subscription_arn
    assert request.header("x-amz-sns-rawdelivery") is None
    assert request.header("Content-Type") == "text/plain; charset=UTF-8"
    assert request.header("User-Agent") == "Amazon Simple Notification Service Agent"
    certificate = local_sns.signing_identity.certificate_pem
    assert signature_is_valid(body, certificate, "1")
    assert not signature_is_valid(body, certificate, "2")
    verified = verify(verifier, request.body)
    assert isinstance(verified, Notification)
    assert verified.subject == "New order"


def test_a_notification_without_subject_has_no_subject_field(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, verifier: MessageVerifier
) -> None:
    subscribe_and_confirm(sns_client, topic_arn, receiver)

    sns_client.publish(TopicArn=topic_arn, Message="plain")

    request = receiver.wait_for(2)[1]
    body = json.loads(request.body)
    assert "Subject" not in body
    assert "MessageAttributes" not in body
    assert isinstance(verify(verifier, request.body), Notification)


def test_a_topic_with_signature_version_2_signs_with_sha256(
    sns_client: SNSClient, receiver: Receiver, local_sns: LocalSns, verifier: MessageVerifier
) -> None:
    topic_arn = sns_client.create_topic(Name="v2", Attributes={"SignatureVersion": "2"})["TopicArn"]
    subscribe_and_confirm(sns_client, topic_arn, receiver)

    sns_client.publish(TopicArn=topic_arn, Message="signed with SHA-256", Subject="v2")

    confirmation, notification = (json.loads(r.body) for r in receiver.wait_for(2))
    certificate = local_sns.signing_identity.certificate_pem
    for body in (confirmation, notification):
        assert body["SignatureVersion"] == "2"
        assert signature_is_valid(body, certificate, "2")
        assert not signature_is_valid(body, certificate, "1")
    assert isinstance(verify(verifier, receiver.requests[1].body), Notification)


def test_raw_message_delivery_posts_the_bare_message_flagged_and_unsigned(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    subscription_arn = subscribe_and_confirm(
        sns_client, topic_arn, receiver, attributes={"RawMessageDelivery": "true"}
    )

    message_id = sns_client.publish(
        TopicArn=topic_arn,
        Message='{"raw": true}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "dropped"}},
    )["MessageId"]

    request = receiver.wait_for(2)[1]
    assert request.body == b'{"raw": true}'
    assert request.header("x-amz-sns-rawdelivery") == "true"
    assert request.header("x-amz-sns-message-type") == "Notification"
    assert request.header("x-amz-sns-message-id") == message_id
    assert request.header("x-amz-sns-subscription-arn") == subscription_arn


def test_message_structure_json_sends_the_http_specific_message(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    subscribe_and_confirm(sns_client, topic_arn, receiver)

    sns_client.publish(
        TopicArn=topic_arn,
        Message=json.dumps({"default": "for everyone", "http": "for http endpoints"}),
        MessageStructure="json",
    )

    assert json.loads(receiver.wait_for(2)[1].body)["Message"] == "for http endpoints"


def test_a_delivery_policy_can_set_the_content_type(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver
) -> None:
    policy = {"requestPolicy": {"headerContentType": "application/json"}}
    subscribe_and_confirm(
        sns_client, topic_arn, receiver, attributes={"DeliveryPolicy": json.dumps(policy)}
    )

    sns_client.publish(TopicArn=topic_arn, Message="typed")

    assert receiver.wait_for(2)[1].header("Content-Type") == "application/json"


def test_every_confirmed_subscription_of_the_topic_gets_the_message(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    with Receiver() as second:
        subscribe_and_confirm(sns_client, topic_arn, receiver)
        subscribe_and_confirm(sns_client, topic_arn, second)

        message_id = sns_client.publish(TopicArn=topic_arn, Message="fan out")["MessageId"]

        settle(local_sns)
        assert [n["MessageId"] for n in delivered_notifications(receiver)] == [message_id]
        assert [n["MessageId"] for n in delivered_notifications(second)] == [message_id]


def test_many_concurrent_publishes_are_each_delivered_once(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    subscribe_and_confirm(sns_client, topic_arn, receiver)
    published: list[str] = []
    lock = threading.Lock()

    def publish_ten(worker: int) -> None:
        client = sns_client_for(local_sns)
        for n in range(10):
            message_id = client.publish(TopicArn=topic_arn, Message=f"{worker}-{n}")["MessageId"]
            with lock:
                published.append(message_id)

    threads = [threading.Thread(target=publish_ten, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    settle(local_sns)
    delivered = [n["MessageId"] for n in delivered_notifications(receiver)]
    assert sorted(delivered) == sorted(published)
    assert len(set(delivered)) == 40


def test_deliveries_run_on_a_bounded_pool_of_workers(
    receiver: Receiver, signing_identity: SigningIdentity
) -> None:
    sns = LocalSns(delay_scale=DELAY_SCALE, delivery_workers=2, signing_identity=signing_identity)
    with sns:
        client = sns_client_for(sns)
        topic = client.create_topic(Name="bounded")["TopicArn"]
        subscribe_and_confirm(client, topic, receiver)
        workers = delivery_threads(sns)
        receiver.hold()

        for n in range(6):
            client.publish(TopicArn=topic, Message=f"m{n}")
        receiver.wait_until_in_flight(2)
        receiver.release()

        settle(sns)
        assert len(delivered_notifications(receiver)) == 6
        assert receiver.max_in_flight == 2
    assert len(workers) == 2
    assert delivery_threads(sns) == []


def delivery_threads(sns: LocalSns) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"local-sns:{sns.port}-")]


def test_a_throttle_policy_spaces_out_deliveries(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    policy = {"throttlePolicy": {"maxReceivesPerSecond": 20}}
    subscription_arn = subscribe_and_confirm(
        sns_client, topic_arn, receiver, attributes={"DeliveryPolicy": json.dumps(policy)}
    )

    for n in range(5):
        sns_client.publish(TopicArn=topic_arn, Message=f"m{n}")

    settle(local_sns)
    times = [
        a.at
        for a in local_sns.delivery_log()
        if a.subscription_arn == subscription_arn and a.message_type == "Notification"
    ]
    assert len(times) == 5
    # Four gaps of 1/20 s at least (less a little for when each attempt is logged).
    assert (max(times) - min(times)).total_seconds() >= 0.9 * 4 / 20


# -- retries ---------------------------------------------------------------------------------------


def test_a_5xx_answer_is_retried_with_the_same_message_until_it_succeeds(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    with Receiver() as endpoint:
        subscription_arn = subscribe_and_confirm(sns_client, topic_arn, endpoint)
        endpoint.answer_next(500, 500)

        message_id = sns_client.publish(TopicArn=topic_arn, Message="try again")["MessageId"]

        settle(local_sns)
        attempts = endpoint.requests[1:]
    assert len(attempts) == 3
    assert len({a.body for a in attempts}) == 1  # byte for byte the same, signature included
    assert {a.header("x-amz-sns-message-id") for a in attempts} == {message_id}
    log = [a for a in local_sns.delivery_log() if a.message_id == message_id]
    assert [(a.attempt, a.status_code, a.outcome) for a in log] == [
        (1, 500, Outcome.RETRYING),
        (2, 500, Outcome.RETRYING),
        (3, 200, Outcome.DELIVERED),
    ]
    assert {a.subscription_arn for a in log} == {subscription_arn}


def test_a_4xx_answer_ends_the_delivery(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    with Receiver() as endpoint:
        subscribe_and_confirm(sns_client, topic_arn, endpoint)
        endpoint.answer_next(403)

        message_id = sns_client.publish(TopicArn=topic_arn, Message="forbidden")["MessageId"]

        settle(local_sns)
        assert len(endpoint.requests) == 2  # the confirmation and one attempt
    log = [a for a in local_sns.delivery_log() if a.message_id == message_id]
    assert [(a.status_code, a.outcome) for a in log] == [(403, Outcome.REJECTED)]


def test_the_log_keeps_the_start_of_each_answer(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    answer = json.dumps({"error": {"code": "revoked_api_key", "message": "m" * 1000}})
    with Receiver() as endpoint:
        subscribe_and_confirm(sns_client, topic_arn, endpoint)
        endpoint.answer_next(403)
        endpoint.answer_body = answer.encode()

        message_id = sns_client.publish(TopicArn=topic_arn, Message="refused")["MessageId"]

        settle(local_sns)
    (attempt,) = [a for a in local_sns.delivery_log() if a.message_id == message_id]
    assert attempt.status_code == 403
    assert attempt.response == answer[:MAX_LOGGED_RESPONSE_BYTES]


def test_the_default_policy_gives_up_after_three_retries(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    with Receiver() as endpoint:
        subscribe_and_confirm(sns_client, topic_arn, endpoint)
        endpoint.answer_next(*[500] * 10)

        message_id = sns_client.publish(TopicArn=topic_arn, Message="doomed")["MessageId"]

        settle(local_sns)
    log = [a for a in local_sns.delivery_log() if a.message_id == message_id]
    assert [a.outcome for a in log] == [Outcome.RETRYING] * 3 + [Outcome.FAILED]


def test_retry_delays_follow_the_policy_scaled_down(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    with Receiver() as endpoint:
        subscribe_and_confirm(sns_client, topic_arn, endpoint)
        endpoint.answer_next(500, 500, 500)

        message_id = sns_client.publish(TopicArn=topic_arn, Message="patience")["MessageId"]

        settle(local_sns)
    times = [a.at for a in local_sns.delivery_log() if a.message_id == message_id]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    # 20 s apart, scaled by DELAY_SCALE; nothing slower than that scale makes it back to back.
    assert len(gaps) == 3
    assert all(gap >= 20 * DELAY_SCALE for gap in gaps)


def test_a_subscription_delivery_policy_sets_the_number_of_retries(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    policy = {"healthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}}
    with Receiver(default_status=502) as endpoint:
        endpoint.answer_next(200)  # the confirmation
        subscribe_and_confirm(
            sns_client, topic_arn, endpoint, attributes={"DeliveryPolicy": json.dumps(policy)}
        )

        message_id = sns_client.publish(TopicArn=topic_arn, Message="once more")["MessageId"]

        settle(local_sns)
    log = [a for a in local_sns.delivery_log() if a.message_id == message_id]
    assert [a.outcome for a in log] == [Outcome.RETRYING, Outcome.FAILED]


def test_a_timeout_is_retried(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, signing_identity: SigningIdentity
) -> None:
    with LocalSns(
        delay_scale=DELAY_SCALE, delivery_timeout=0.2, signing_identity=signing_identity
    ) as sns:
        client = sns_client_for(sns)
        topic = client.create_topic(Name="slow")["TopicArn"]
        subscribe_and_confirm(client, topic, receiver)
        receiver.hold()

        message_id = client.publish(TopicArn=topic, Message="slowly")["MessageId"]
        receiver.wait_for(3)  # the confirmation, the attempt that timed out, its retry
        receiver.release()

        settle(sns)
        log = [a for a in sns.delivery_log() if a.message_id == message_id]
    assert log[0].outcome is Outcome.RETRYING
    assert log[0].error == "timeout"
    assert (log[0].status_code, log[0].response) == (None, None)
    assert log[-1].outcome is Outcome.DELIVERED


def test_a_connection_error_is_retried(
    sns_client: SNSClient, topic_arn: str, local_sns: LocalSns
) -> None:
    endpoint = Receiver()
    with endpoint:
        subscribe_and_confirm(sns_client, topic_arn, endpoint)
    # The endpoint is gone: nothing listens on its port any more.

    message_id = sns_client.publish(TopicArn=topic_arn, Message="anyone?")["MessageId"]

    settle(local_sns)
    log = [a for a in local_sns.delivery_log() if a.message_id == message_id]
    assert len(log) == 4
    assert all(a.error is not None and a.error.startswith("connection error") for a in log)
    assert log[-1].outcome is Outcome.FAILED


# -- redelivery and unsubscribing ----------------------------------------------------------------


def test_redeliver_sends_the_same_signed_body_again(
    sns_client: SNSClient,
    topic_arn: str,
    receiver: Receiver,
    local_sns: LocalSns,
    verifier: MessageVerifier,
) -> None:
    subscribe_and_confirm(sns_client, topic_arn, receiver)
    message_id = sns_client.publish(TopicArn=topic_arn, Message="twice")["MessageId"]
    settle(local_sns)

    assert local_sns.redeliver(message_id) == 1

    first, again = receiver.wait_for(3)[1:]
    assert again.body == first.body
    assert again.header("x-amz-sns-message-id") == message_id
    assert isinstance(verify(verifier, again.body), Notification)
    settle(local_sns)
    log = [a for a in local_sns.delivery_log() if a.message_id == message_id]
    assert [(a.attempt, a.redelivery) for a in log] == [(1, False), (2, True)]


def test_redeliver_of_an_unknown_message_is_a_lookup_error(local_sns: LocalSns) -> None:
    with pytest.raises(LookupError):
        local_sns.redeliver("00000000-0000-4000-8000-000000000000")


def test_unsubscribe_sends_a_signed_unsubscribe_confirmation(
    sns_client: SNSClient,
    topic_arn: str,
    receiver: Receiver,
    local_sns: LocalSns,
    verifier: MessageVerifier,
) -> None:
    subscription_arn = subscribe_and_confirm(sns_client, topic_arn, receiver)

    sns_client.unsubscribe(SubscriptionArn=subscription_arn)

    request = receiver.wait_for(2)[1]
    body = json.loads(request.body)
    assert body["Type"] == "UnsubscribeConfirmation"
    assert body["TopicArn"] == topic_arn
    assert "Subject" not in body
    assert body["SubscribeURL"] == (
        f"{local_sns.endpoint_url}/?Action=ConfirmSubscription&TopicArn={topic_arn}"
        f"&Token={body['Token']}"
    )
    assert request.header("x-amz-sns-message-type") == "UnsubscribeConfirmation"
    assert request.header("x-amz-sns-subscription-arn") == subscription_arn
    assert signature_is_valid(body, local_sns.signing_identity.certificate_pem, "1")
    assert isinstance(verify(verifier, request.body), UnsubscribeConfirmation)


def test_no_notification_reaches_an_unsubscribed_endpoint(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    subscription_arn = subscribe_and_confirm(sns_client, topic_arn, receiver)
    sns_client.unsubscribe(SubscriptionArn=subscription_arn)

    sns_client.publish(TopicArn=topic_arn, Message="too late")

    settle(local_sns)
    assert delivered_notifications(receiver) == []


def test_the_unsubscribe_confirmation_link_restores_the_subscription(
    sns_client: SNSClient, topic_arn: str, receiver: Receiver, local_sns: LocalSns
) -> None:
    subscription_arn = subscribe_and_confirm(sns_client, topic_arn, receiver)
    sns_client.unsubscribe(SubscriptionArn=subscription_arn)
    unsubscribe_confirmation = json.loads(receiver.wait_for(2)[1].body)

    response = http_get(unsubscribe_confirmation["SubscribeURL"])

    assert response.status == 200
    (listed,) = sns_client.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert listed["SubscriptionArn"] == subscription_arn
    sns_client.publish(TopicArn=topic_arn, Message="welcome back")
    settle(local_sns)
    assert len(delivered_notifications(receiver)) == 1
