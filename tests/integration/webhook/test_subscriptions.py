"""Subscription handshakes: confirm what is allowed, never what is not, never re-subscribe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from snsflow.store.subscriptions import SubscriptionStatus
from tests.integration.webhook.conftest import AUDIT_TOPIC, ORDERS_TOPIC, Stack


def test_subscription_confirmation_is_confirmed_and_recorded(stack: Stack) -> None:
    body = stack.signer.subscription_confirmation(token="a1b2" * 16)
    before = datetime.now(UTC)

    reply = stack.deliver("order-events", body)

    assert reply.status == 200
    subscription_arn = f"{ORDERS_TOPIC}:0b5d3c3e-6f4d-4b7c-9d4e-0c1f2a3b4c5d"
    assert reply.body == {
        "status": "confirmed",
        "topicArn": ORDERS_TOPIC,
        "subscriptionArn": subscription_arn,
    }
    assert stack.sns.visited == [json.loads(body)["SubscribeURL"]]
    record = stack.subscriptions.get("order-events", ORDERS_TOPIC)
    assert record is not None
    assert record.status is SubscriptionStatus.CONFIRMED
    assert record.subscription_arn == subscription_arn
    assert record.confirmed_at is not None
    assert before - timedelta(seconds=1) <= record.confirmed_at <= datetime.now(UTC)
    assert stack.executions_of("order-events") == []


def test_confirmation_for_a_topic_the_workflow_does_not_allow_is_never_confirmed(
    stack: Stack,
) -> None:
    # audit-log accepts only topics named audit-*; this confirmation is for "orders".
    body = stack.signer.subscription_confirmation()

    reply = stack.deliver("audit-log", body)

    assert reply.status == 403
    assert reply.body["error"]["code"] == "topic_not_allowed"
    assert stack.sns.visited == []
    assert stack.certificates.calls == []  # refused before any network I/O
    assert stack.subscriptions.get("audit-log", ORDERS_TOPIC) is None


def test_confirmation_for_an_allowed_wildcard_topic_is_confirmed(stack: Stack) -> None:
    reply = stack.deliver("audit-log", stack.audit_signer.subscription_confirmation())

    assert reply.status == 200
    assert reply.body["status"] == "confirmed"
    record = stack.subscriptions.get("audit-log", AUDIT_TOPIC)
    assert record is not None
    assert record.status is SubscriptionStatus.CONFIRMED


def test_failed_confirmation_answers_503_and_the_retry_confirms(stack: Stack) -> None:
    body = stack.signer.subscription_confirmation()
    stack.sns.status = 500

    failed = stack.deliver("order-events", body)

    assert failed.status == 503
    assert failed.body["error"]["code"] == "subscription_confirmation_failed"
    pending = stack.subscriptions.get("order-events", ORDERS_TOPIC)
    assert pending is not None
    assert pending.status is SubscriptionStatus.PENDING
    assert "HTTP 500" in (pending.last_error or "")

    stack.sns.status = 200
    retried = stack.deliver("order-events", body)

    assert retried.status == 200
    confirmed = stack.subscriptions.get("order-events", ORDERS_TOPIC)
    assert confirmed is not None
    assert confirmed.status is SubscriptionStatus.CONFIRMED
    assert confirmed.last_error is None
    assert len(stack.sns.visited) == 2


def test_confirmation_sns_cannot_be_reached_for_answers_503(stack: Stack) -> None:
    stack.sns.status = None

    reply = stack.deliver("order-events", stack.signer.subscription_confirmation())

    assert reply.status == 503
    assert reply.body["error"]["code"] == "subscription_confirmation_failed"


def test_confirmation_sns_refuses_answers_400(stack: Stack) -> None:
    stack.sns.status = 403

    reply = stack.deliver("order-events", stack.signer.subscription_confirmation())

    assert reply.status == 400
    assert reply.body["error"]["code"] == "subscription_confirmation_rejected"


def test_confirmation_with_a_foreign_subscribe_url_is_refused_without_visiting_it(
    stack: Stack,
) -> None:
    body = stack.signer.subscription_confirmation(
        token="t" * 64,
        subscribe_url="https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription"
        f"&TopicArn={ORDERS_TOPIC}&Token={'t' * 64}",
    )

    reply = stack.deliver("order-events", body)

    assert reply.status == 403
    assert reply.body["error"]["code"] == "subscribe_url_rejected"
    assert stack.sns.visited == []


def test_unsubscribe_confirmation_is_recorded_and_its_url_never_visited(stack: Stack) -> None:
    stack.deliver("order-events", stack.signer.subscription_confirmation())
    stack.sns.visited.clear()

    reply = stack.deliver("order-events", stack.signer.unsubscribe_confirmation())

    assert reply.status == 200
    assert reply.body == {"status": "unsubscribed", "topicArn": ORDERS_TOPIC}
    assert stack.sns.visited == []
    record = stack.subscriptions.get("order-events", ORDERS_TOPIC)
    assert record is not None
    assert record.status is SubscriptionStatus.UNSUBSCRIBED
    assert record.unsubscribed_at is not None


def test_a_late_retry_of_a_confirmation_older_than_an_unsubscribe_is_not_confirmed(
    stack: Stack,
) -> None:
    now = datetime.now(UTC)
    old_confirmation = stack.signer.subscription_confirmation(timestamp=now - timedelta(minutes=5))
    stack.deliver("order-events", stack.signer.unsubscribe_confirmation(timestamp=now))

    reply = stack.deliver("order-events", old_confirmation)

    assert reply.status == 200
    assert reply.body["status"] == "unsubscribed"
    assert stack.sns.visited == []
    record = stack.subscriptions.get("order-events", ORDERS_TOPIC)
    assert record is not None
    assert record.status is SubscriptionStatus.UNSUBSCRIBED


def test_a_newer_confirmation_after_an_unsubscribe_subscribes_again(stack: Stack) -> None:
    now = datetime.now(UTC)
    stack.deliver("order-events", stack.signer.unsubscribe_confirmation(timestamp=now))

    reply = stack.deliver(
        "order-events",
        stack.signer.subscription_confirmation(timestamp=now + timedelta(seconds=1)),
    )

    assert reply.body["status"] == "confirmed"
    record = stack.subscriptions.get("order-events", ORDERS_TOPIC)
    assert record is not None
    assert record.status is SubscriptionStatus.CONFIRMED
