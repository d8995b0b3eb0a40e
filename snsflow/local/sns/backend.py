"""The local SNS's topics and subscriptions, and what each API action does to them.

Plain Python, no HTTP: :mod:`snsflow.local.sns.query_api` decodes requests into these calls and
renders the results. Errors are :class:`~snsflow.local.sns.errors.SnsApiError` subclasses with
SNS's codes. One lock guards the state; deliveries are handed to
:class:`~snsflow.local.sns.delivery.DeliveryWorkers` and never run under it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from snsflow.local.sns.dead_letters import QUEUE_ARN, DeadLetter, sqs_message_attribute
from snsflow.local.sns.delivery import Delivery, DeliveryWorkers
from snsflow.local.sns.envelopes import (
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    UNSUBSCRIBE_CONFIRMATION,
    encode_body,
    signed_confirmation,
    signed_notification,
)
from snsflow.local.sns.errors import (
    AuthorizationError,
    InvalidParameterError,
    NotFoundError,
)
from snsflow.local.sns.policy import (
    EffectiveDeliveryPolicy,
    SubscriptionDeliveryPolicy,
    TopicDeliveryPolicy,
    effective_policy,
    effective_topic_policy_json,
    parse_subscription_policy,
    parse_topic_policy,
)
from snsflow.local.sns.signing import SIGNATURE_DIGESTS, SigningIdentity
from snsflow.net import is_loopback_host

USER_AGENT = "Amazon Simple Notification Service Agent"
PENDING_CONFIRMATION = "pending confirmation"
#: How ListSubscriptions shows a subscription that is not confirmed yet.
LISTED_PENDING_ARN = "PendingConfirmation"
PAGE_SIZE = 100
#: SNS's default (and, for HTTP/S, maximum) message size: message plus attributes.
MAX_MESSAGE_BYTES = 256 * 1024
#: Published messages kept for :meth:`SnsBackend.redeliver`.
MAX_REMEMBERED_MESSAGES = 1_000

_ItemT = TypeVar("_ItemT")

_TOPIC_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TOPIC_ARN = re.compile(r"arn:aws:sns:(?P<region>[^:]+):(?P<account>[0-9]{12}):(?P<name>[^:]+)")
_SUBSCRIPTION_ARN = re.compile(
    r"(?P<topic>arn:aws:sns:[^:]+:[0-9]{12}:[^:]+):[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"
)
# Characters SNS accepts in a message (those XML 1.0 allows).
_INVALID_MESSAGE_CHARACTER = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_ATTRIBUTE_DATA_TYPE = re.compile(r"(?P<base>String|Number|Binary)(?:\.[^\s]{1,250})?")

_TOPIC_ATTRIBUTES = ("DisplayName", "Policy", "DeliveryPolicy", "SignatureVersion")
_TOPIC_ATTRIBUTES_STORED_AS_IS = ("TracingConfig", "KmsMasterKeyId")
_SUBSCRIPTION_ATTRIBUTES = ("DeliveryPolicy", "RawMessageDelivery", "RedrivePolicy")
_UNSUPPORTED_SUBSCRIPTION_ATTRIBUTES = (
    "FilterPolicy",
    "FilterPolicyScope",
    "SubscriptionRoleArn",
    "ReplayPolicy",
)


@dataclass(frozen=True, slots=True)
class EndpointUrls:
    """Where the local SNS serves its certificate and its confirm/unsubscribe links."""

    base_url: str
    certificate_file_name: str

    @property
    def certificate_url(self) -> str:
        return f"{self.base_url}/{self.certificate_file_name}"

    def subscribe_url(self, topic_arn: str, token: str) -> str:
        query = urlencode(
            {"Action": "ConfirmSubscription", "TopicArn": topic_arn, "Token": token}, safe=":"
        )
        return f"{self.base_url}/?{query}"

    def unsubscribe_url(self, subscription_arn: str) -> str:
        query = urlencode({"Action": "Unsubscribe", "SubscriptionArn": subscription_arn}, safe=":")
        return f"{self.base_url}/?{query}"


@dataclass(slots=True)
class Topic:
    arn: str
    name: str
    #: Attributes set by the caller (DisplayName, Policy, DeliveryPolicy, SignatureVersion...).
    attributes: dict[str, str] = field(default_factory=dict)
    delivery_policy: TopicDeliveryPolicy | None = None
    subscriptions_deleted: int = 0

    @property
    def signature_version(self) -> str:
        return self.attributes.get("SignatureVersion", "1")


@dataclass(slots=True)
class Subscription:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    token: str
    #: Attributes set by the caller (DeliveryPolicy, RawMessageDelivery, RedrivePolicy).
    attributes: dict[str, str] = field(default_factory=dict)
    delivery_policy: SubscriptionDeliveryPolicy | None = None
    confirmed: bool = False
    confirmation_was_authenticated: bool = False

    @property
    def raw_message_delivery(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false") == "true"


@dataclass(frozen=True, slots=True)
class MessageAttribute:
    data_type: str
    #: The string value, or for Binary the base64 text (as both the API and SNS's JSON carry it).
    value: str

    def body_form(self) -> dict[str, str]:
        return {"Type": self.data_type, "Value": self.value}


class SnsBackend:
    """State and behaviour of one local SNS (one region, one account)."""

    def __init__(
        self,
        *,
        region: str,
        account_id: str,
        identity: SigningIdentity,
        urls: EndpointUrls,
        deliveries: DeliveryWorkers,
        allow_non_loopback_endpoints: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.region = region
        self.account_id = account_id
        self._identity = identity
        self._urls = urls
        self._deliveries = deliveries
        self._allow_non_loopback = allow_non_loopback_endpoints
        self._clock = clock
        self._lock = threading.RLock()
        self._topics: dict[str, Topic] = {}
        self._subscriptions: dict[str, Subscription] = {}
        #: Tokens from UnsubscribeConfirmations: confirming one restores the subscription.
        self._restore_tokens: dict[str, Subscription] = {}
        self._sent: OrderedDict[str, list[Delivery]] = OrderedDict()

    # -- topics -------------------------------------------------------------------------------

    def create_topic(self, name: str, attributes: Mapping[str, str]) -> str:
        if not _TOPIC_NAME.fullmatch(name):
            if name.endswith(".fifo"):
                raise InvalidParameterError("Invalid parameter: FIFO topics are not supported")
            raise InvalidParameterError(
                "Invalid parameter: Topic Name (1-256 letters, digits, '_' or '-')"
            )
        topic = Topic(arn=f"arn:aws:sns:{self.region}:{self.account_id}:{name}", name=name)
        for attribute, value in attributes.items():
            self._set_topic_attribute(topic, attribute, value)
        with self._lock:
            existing = self._topics.get(topic.arn)
            if existing is None:
                self._topics[topic.arn] = topic
            elif any(existing.attributes.get(k) != v for k, v in topic.attributes.items()):
                raise InvalidParameterError(
                    "Invalid parameter: Attributes Reason: Topic already exists with different "
                    "attributes"
                )
        return topic.arn

    def delete_topic(self, topic_arn: str) -> None:
        """Deletes the topic and its subscriptions; deleting a missing topic is not an error."""
        self._check_topic_arn(topic_arn)
        with self._lock:
            if self._topics.pop(topic_arn, None) is None:
                return
            for arn in [s.arn for s in self._subscriptions.values() if s.topic_arn == topic_arn]:
                del self._subscriptions[arn]

    def list_topics(self, next_token: str | None) -> tuple[list[str], str | None]:
        with self._lock:
            arns = sorted(self._topics)
        return _page(arns, next_token)

    def get_topic_attributes(self, topic_arn: str) -> dict[str, str]:
        with self._lock:
            topic = self._topic(topic_arn)
            subscriptions = [s for s in self._subscriptions.values() if s.topic_arn == topic_arn]
            attributes = {
                "TopicArn": topic.arn,
                "Owner": self.account_id,
                "Policy": self._default_topic_policy(topic.arn),
                "DisplayName": "",
                "SubscriptionsConfirmed": str(sum(s.confirmed for s in subscriptions)),
                "SubscriptionsPending": str(sum(not s.confirmed for s in subscriptions)),
                "SubscriptionsDeleted": str(topic.subscriptions_deleted),
                "EffectiveDeliveryPolicy": effective_topic_policy_json(topic.delivery_policy),
            }
            attributes.update(topic.attributes)
        return attributes

    def set_topic_attribute(self, topic_arn: str, name: str, value: str) -> None:
        with self._lock:
            self._set_topic_attribute(self._topic(topic_arn), name, value)

    def _set_topic_attribute(self, topic: Topic, name: str, value: str) -> None:
        if name == "DeliveryPolicy":
            topic.delivery_policy = parse_topic_policy(value) if value else None
        elif name == "SignatureVersion" and value not in SIGNATURE_DIGESTS:
            raise InvalidParameterError("Invalid parameter: SignatureVersion (must be '1' or '2')")
        elif name == "Policy" and value:
            _require_json_object(value, "Policy")
        elif name == "FifoTopic" and value.lower() == "true":
            raise InvalidParameterError("Invalid parameter: FIFO topics are not supported")
        elif name not in _TOPIC_ATTRIBUTES + _TOPIC_ATTRIBUTES_STORED_AS_IS:
            raise InvalidParameterError(f"Invalid parameter: AttributeName {name[:100]!r}")
        if value or name == "DisplayName":
            topic.attributes[name] = value
        else:
            topic.attributes.pop(name, None)

    def _default_topic_policy(self, topic_arn: str) -> str:
        return json.dumps(
            {
                "Version": "2008-10-17",
                "Id": "__default_policy_ID",
                "Statement": [
                    {
                        "Sid": "__default_statement_ID",
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": [
                            "SNS:GetTopicAttributes",
                            "SNS:SetTopicAttributes",
                            "SNS:AddPermission",
                            "SNS:RemovePermission",
                            "SNS:DeleteTopic",
                            "SNS:Subscribe",
                            "SNS:ListSubscriptionsByTopic",
                            "SNS:Publish",
                        ],
                        "Resource": topic_arn,
                        "Condition": {"StringEquals": {"AWS:SourceOwner": self.account_id}},
                    }
                ],
            },
            separators=(",", ":"),
        )

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(
        self,
        topic_arn: str,
        protocol: str,
        endpoint: str | None,
        attributes: Mapping[str, str],
        *,
        return_subscription_arn: bool,
    ) -> str:
        endpoint = self._check_endpoint(protocol, endpoint)
        candidate = Subscription(
            arn=f"{topic_arn}:{uuid.uuid4()}",
            topic_arn=topic_arn,
            protocol=protocol,
            endpoint=endpoint,
            token=secrets.token_hex(64),
        )
        for name, value in attributes.items():
            self._set_subscription_attribute(candidate, name, value)
        with self._lock:
            self._topic(topic_arn)
            subscription = self._find_subscription(topic_arn, protocol, endpoint)
            if subscription is None:
                subscription = candidate
                self._subscriptions[subscription.arn] = subscription
            elif attributes and subscription.attributes != candidate.attributes:
                raise InvalidParameterError(
                    "Invalid parameter: Attributes Reason: Subscription already exists with "
                    "different attributes"
                )
            confirmed = subscription.confirmed
        if not confirmed:
            # Like SNS, subscribing a pending endpoint again sends a new confirmation request.
            self._send_subscription_confirmation(subscription)
        if confirmed or return_subscription_arn:
            return subscription.arn
        return PENDING_CONFIRMATION

    def confirm_subscription(
        self, topic_arn: str, token: str, *, authenticate_on_unsubscribe: bool, authenticated: bool
    ) -> str:
        with self._lock:
            self._topic(topic_arn)
            subscription = next(
                (
                    s
                    for s in self._subscriptions.values()
                    if s.topic_arn == topic_arn and secrets.compare_digest(s.token, token)
                ),
                None,
            )
            if subscription is None:
                subscription = self._restore(topic_arn, token)
            subscription.confirmed = True
            if authenticate_on_unsubscribe and authenticated:
                subscription.confirmation_was_authenticated = True
            return subscription.arn

    def _restore(self, topic_arn: str, token: str) -> Subscription:
        """The subscription an UnsubscribeConfirmation's SubscribeURL brings back (lock held)."""
        removed = self._restore_tokens.get(token)
        if removed is None or removed.topic_arn != topic_arn:
            raise InvalidParameterError("Invalid parameter: Token")
        del self._restore_tokens[token]
        restored = dataclasses.replace(removed, confirmation_was_authenticated=False)
        self._subscriptions[restored.arn] = restored
        return restored

    def unsubscribe(self, subscription_arn: str, *, authenticated: bool) -> None:
        self._check_subscription_arn(subscription_arn)
        with self._lock:
            subscription = self._subscription(subscription_arn)
            if subscription.confirmation_was_authenticated and not authenticated:
                raise AuthorizationError(
                    "This subscription was confirmed with AuthenticateOnUnsubscribe: "
                    "unsubscribing needs a signed request"
                )
            del self._subscriptions[subscription_arn]
            topic = self._topics.get(subscription.topic_arn)
            if topic is not None:
                topic.subscriptions_deleted += 1
            if not subscription.confirmed:
                return
            restore_token = secrets.token_hex(64)
            self._restore_tokens[restore_token] = subscription
            signature_version = topic.signature_version if topic else "1"
        self._send_unsubscribe_confirmation(subscription, restore_token, signature_version)

    def list_subscriptions(
        self, next_token: str | None, topic_arn: str | None = None
    ) -> tuple[list[Subscription], str | None]:
        with self._lock:
            if topic_arn is not None:
                self._topic(topic_arn)
            subscriptions = sorted(
                (
                    dataclasses.replace(s)
                    for s in self._subscriptions.values()
                    if topic_arn is None or s.topic_arn == topic_arn
                ),
                key=lambda s: (s.topic_arn, s.arn),
            )
        return _page(subscriptions, next_token)

    def get_subscription_attributes(self, subscription_arn: str) -> dict[str, str]:
        self._check_subscription_arn(subscription_arn)
        with self._lock:
            subscription = self._subscription(subscription_arn)
            attributes = {
                "SubscriptionArn": subscription.arn,
                "TopicArn": subscription.topic_arn,
                "Owner": self.account_id,
                "Protocol": subscription.protocol,
                "Endpoint": subscription.endpoint,
                "PendingConfirmation": _bool(not subscription.confirmed),
                "ConfirmationWasAuthenticated": _bool(subscription.confirmation_was_authenticated),
                "RawMessageDelivery": "false",
                "EffectiveDeliveryPolicy": self._effective_policy(subscription).to_json(),
            }
            attributes.update(subscription.attributes)
        return attributes

    def set_subscription_attribute(self, subscription_arn: str, name: str, value: str) -> None:
        self._check_subscription_arn(subscription_arn)
        with self._lock:
            self._set_subscription_attribute(self._subscription(subscription_arn), name, value)

    def _set_subscription_attribute(
        self, subscription: Subscription, name: str, value: str
    ) -> None:
        if name in _UNSUPPORTED_SUBSCRIPTION_ATTRIBUTES:
            raise InvalidParameterError(
                f"Invalid parameter: {name} is not supported by the local SNS"
            )
        if name not in _SUBSCRIPTION_ATTRIBUTES:
            raise InvalidParameterError(f"Invalid parameter: AttributeName {name[:100]!r}")
        if name == "RawMessageDelivery":
            if value.lower() not in ("true", "false"):
                raise InvalidParameterError(
                    "Invalid parameter: RawMessageDelivery (must be true or false)"
                )
            value = value.lower()
        elif name == "DeliveryPolicy":
            subscription.delivery_policy = parse_subscription_policy(value) if value else None
        elif name == "RedrivePolicy" and value:
            document = _require_json_object(value, "RedrivePolicy")
            target = document.get("deadLetterTargetArn")
            if not isinstance(target, str):
                raise InvalidParameterError(
                    "Invalid parameter: RedrivePolicy: deadLetterTargetArn is required"
                )
            if not QUEUE_ARN.fullmatch(target):
                raise InvalidParameterError(
                    "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"
                )
        if value:
            subscription.attributes[name] = value
        else:
            subscription.attributes.pop(name, None)

    def _effective_policy(self, subscription: Subscription) -> EffectiveDeliveryPolicy:
        topic = self._topics.get(subscription.topic_arn)
        return effective_policy(
            topic.delivery_policy if topic else None, subscription.delivery_policy
        )

    # -- publishing and delivery -------------------------------------------------------------

    def publish(
        self,
        topic_arn: str,
        message: str,
        *,
        subject: str | None,
        message_structure: str | None,
        message_attributes: Mapping[str, MessageAttribute],
    ) -> str:
        _check_message(message, message_attributes)
        if subject is not None:
            _check_subject(subject)
        messages_by_protocol = _messages_by_protocol(message, message_structure)
        message_id = str(uuid.uuid4())
        timestamp = self._clock()
        with self._lock:
            topic = self._topic(topic_arn)
            targets = [
                (dataclasses.replace(s), self._effective_policy(s))
                for s in self._subscriptions.values()
                if s.topic_arn == topic_arn and s.confirmed
            ]
        deliveries = [
            self._notification(
                subscription,
                policy,
                topic=topic,
                message_id=message_id,
                message=messages_by_protocol.get(
                    subscription.protocol, messages_by_protocol["default"]
                ),
                subject=subject,
                timestamp=timestamp,
                attributes=message_attributes,
            )
            for subscription, policy in targets
        ]
        with self._lock:
            self._sent[message_id] = deliveries
            while len(self._sent) > MAX_REMEMBERED_MESSAGES:
                self._sent.popitem(last=False)
        for delivery in deliveries:
            self._deliveries.submit(delivery)
        return message_id

    def redeliver(self, message_id: str, subscription_arn: str | None = None) -> int:
        """Send a published message again, byte for byte (same MessageId, same signature).

        Stands in for SNS delivering a message twice, which it may do. Returns the number of
        deliveries started; raises LookupError if the message (or that subscription's copy)
        is not known.
        """
        with self._lock:
            deliveries = [
                d
                for d in self._sent.get(message_id, ())
                if subscription_arn is None or d.subscription_arn == subscription_arn
            ]
        if not deliveries:
            raise LookupError(f"no delivery of message {message_id} is known to redeliver")
        for delivery in deliveries:
            self._deliveries.submit(dataclasses.replace(delivery, redelivery=True))
        return len(deliveries)

    def _notification(
        self,
        subscription: Subscription,
        policy: EffectiveDeliveryPolicy,
        *,
        topic: Topic,
        message_id: str,
        message: str,
        subject: str | None,
        timestamp: datetime,
        attributes: Mapping[str, MessageAttribute],
    ) -> Delivery:
        headers = self._headers(NOTIFICATION, message_id, topic.arn, policy, subscription.arn)
        # What a dead letter carries besides the body: only a raw delivery's attributes.
        dead_letter_attributes: dict[str, dict[str, Any]] = {}
        if subscription.raw_message_delivery:
            headers["x-amz-sns-rawdelivery"] = "true"
            body = message.encode()
            dead_letter_attributes = {
                name: sqs_message_attribute(a.data_type, a.value) for name, a in attributes.items()
            }
        else:
            body = encode_body(
                signed_notification(
                    self._identity,
                    signature_version=topic.signature_version,
                    message_id=message_id,
                    topic_arn=topic.arn,
                    subject=subject,
                    message=message,
                    timestamp=timestamp,
                    certificate_url=self._urls.certificate_url,
                    unsubscribe_url=self._urls.unsubscribe_url(subscription.arn),
                    message_attributes={k: v.body_form() for k, v in attributes.items()},
                )
            )
        delivery = self._delivery(subscription, policy, NOTIFICATION, message_id, body, headers)
        arn = subscription.arn

        def dead_letter() -> DeadLetter | None:
            queue_arn = self._dead_letter_target(arn)
            if queue_arn is None:
                return None
            return DeadLetter(queue_arn, body.decode(), dead_letter_attributes)

        return dataclasses.replace(delivery, dead_letter=dead_letter)

    def _dead_letter_target(self, subscription_arn: str) -> str | None:
        """The queue of the subscription's ``RedrivePolicy`` now, if it has one."""
        with self._lock:
            subscription = self._subscriptions.get(subscription_arn)
            policy = subscription.attributes.get("RedrivePolicy") if subscription else None
        return str(json.loads(policy)["deadLetterTargetArn"]) if policy else None

    def _send_subscription_confirmation(self, subscription: Subscription) -> None:
        with self._lock:
            topic = self._topic(subscription.topic_arn)
            policy = self._effective_policy(subscription)
        message_id = str(uuid.uuid4())
        body = signed_confirmation(
            self._identity,
            message_type=SUBSCRIPTION_CONFIRMATION,
            signature_version=topic.signature_version,
            message_id=message_id,
            token=subscription.token,
            topic_arn=topic.arn,
            message=(
                f"You have chosen to subscribe to the topic {topic.arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            ),
            subscribe_url=self._urls.subscribe_url(topic.arn, subscription.token),
            timestamp=self._clock(),
            certificate_url=self._urls.certificate_url,
        )
        # SNS sends no x-amz-sns-subscription-arn header with a SubscriptionConfirmation.
        headers = self._headers(SUBSCRIPTION_CONFIRMATION, message_id, topic.arn, policy, None)
        self._deliveries.submit(
            self._delivery(
                subscription,
                policy,
                SUBSCRIPTION_CONFIRMATION,
                message_id,
                encode_body(body),
                headers,
                is_wanted=lambda: self._is_pending(subscription.arn),
            )
        )

    def _send_unsubscribe_confirmation(
        self, subscription: Subscription, restore_token: str, signature_version: str
    ) -> None:
        policy = self._effective_policy(subscription)
        message_id = str(uuid.uuid4())
        body = signed_confirmation(
            self._identity,
            message_type=UNSUBSCRIBE_CONFIRMATION,
            signature_version=signature_version,
            message_id=message_id,
            token=restore_token,
            topic_arn=subscription.topic_arn,
            message=(
                f"You have chosen to deactivate subscription {subscription.arn}.\n"
                "To cancel this operation and restore the subscription, visit the SubscribeURL "
                "included in this message."
            ),
            subscribe_url=self._urls.subscribe_url(subscription.topic_arn, restore_token),
            timestamp=self._clock(),
            certificate_url=self._urls.certificate_url,
        )
        headers = self._headers(
            UNSUBSCRIBE_CONFIRMATION, message_id, subscription.topic_arn, policy, subscription.arn
        )
        self._deliveries.submit(
            self._delivery(
                subscription,
                policy,
                UNSUBSCRIBE_CONFIRMATION,
                message_id,
                encode_body(body),
                headers,
                is_wanted=lambda: True,
            )
        )

    def _delivery(
        self,
        subscription: Subscription,
        policy: EffectiveDeliveryPolicy,
        message_type: str,
        message_id: str,
        body: bytes,
        headers: dict[str, str],
        is_wanted: Callable[[], bool] | None = None,
    ) -> Delivery:
        arn = subscription.arn
        return Delivery(
            subscription_arn=arn,
            message_id=message_id,
            message_type=message_type,
            endpoint=subscription.endpoint,
            body=body,
            headers=headers,
            retry_delays=policy.healthy_retry_policy.retry_delays(),
            max_receives_per_second=(
                policy.throttle_policy.max_receives_per_second if policy.throttle_policy else None
            ),
            is_wanted=is_wanted or (lambda: self._is_confirmed(arn)),
        )

    @staticmethod
    def _headers(
        message_type: str,
        message_id: str,
        topic_arn: str,
        policy: EffectiveDeliveryPolicy,
        subscription_arn: str | None,
    ) -> dict[str, str]:
        headers = {
            "x-amz-sns-message-type": message_type,
            "x-amz-sns-message-id": message_id,
            "x-amz-sns-topic-arn": topic_arn,
        }
        if subscription_arn is not None:
            headers["x-amz-sns-subscription-arn"] = subscription_arn
        headers["Content-Type"] = policy.request_policy.header_content_type
        headers["User-Agent"] = USER_AGENT
        return headers

    def _is_confirmed(self, subscription_arn: str) -> bool:
        with self._lock:
            subscription = self._subscriptions.get(subscription_arn)
            return subscription is not None and subscription.confirmed

    def _is_pending(self, subscription_arn: str) -> bool:
        with self._lock:
            subscription = self._subscriptions.get(subscription_arn)
            return subscription is not None and not subscription.confirmed

    # -- lookups and checks -----------------------------------------------------------------

    def _topic(self, topic_arn: str) -> Topic:
        self._check_topic_arn(topic_arn)
        topic = self._topics.get(topic_arn)
        if topic is None:
            raise NotFoundError("Topic does not exist")
        return topic

    def _subscription(self, subscription_arn: str) -> Subscription:
        subscription = self._subscriptions.get(subscription_arn)
        if subscription is None:
            raise NotFoundError("Subscription does not exist")
        return subscription

    def _find_subscription(
        self, topic_arn: str, protocol: str, endpoint: str
    ) -> Subscription | None:
        return next(
            (
                s
                for s in self._subscriptions.values()
                if (s.topic_arn, s.protocol, s.endpoint) == (topic_arn, protocol, endpoint)
            ),
            None,
        )

    @staticmethod
    def _check_topic_arn(topic_arn: str) -> None:
        if not _TOPIC_ARN.fullmatch(topic_arn):
            raise InvalidParameterError("Invalid parameter: TopicArn")

    @staticmethod
    def _check_subscription_arn(subscription_arn: str) -> None:
        if not _SUBSCRIPTION_ARN.fullmatch(subscription_arn):
            raise InvalidParameterError("Invalid parameter: SubscriptionArn")

    def _check_endpoint(self, protocol: str, endpoint: str | None) -> str:
        if protocol not in ("http", "https"):
            raise InvalidParameterError(
                f"Invalid parameter: Protocol {protocol[:20]!r} (the local SNS delivers over "
                "http and https only)"
            )
        if not endpoint:
            raise InvalidParameterError("Invalid parameter: Endpoint")
        try:
            parts = urlsplit(endpoint)
            host = parts.hostname
        except ValueError:
            host = None
            parts = None
        if parts is None or parts.scheme != protocol or not host:
            raise InvalidParameterError(
                "Invalid parameter: Endpoint must be an absolute URL matching the protocol"
            )
        if not self._allow_non_loopback and not is_loopback_host(host):
            raise InvalidParameterError(
                "Invalid parameter: Endpoint: the local SNS delivers only to loopback hosts "
                "(allow_non_loopback_endpoints=True lifts this)"
            )
        return endpoint


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _require_json_object(value: str, name: str) -> dict[str, Any]:
    try:
        document = json.loads(value)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise InvalidParameterError(f"Invalid parameter: {name} must be a JSON object")
    return document


def _page(items: list[_ItemT], next_token: str | None) -> tuple[list[_ItemT], str | None]:
    start = 0
    if next_token:
        try:
            start = int(base64.urlsafe_b64decode(next_token.encode()).decode())
        except (ValueError, binascii.Error):
            raise InvalidParameterError("Invalid parameter: NextToken") from None
    end = start + PAGE_SIZE
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


def _check_message(message: str, attributes: Mapping[str, MessageAttribute]) -> None:
    if not message:
        raise InvalidParameterError("Invalid parameter: Empty message")
    if _INVALID_MESSAGE_CHARACTER.search(message):
        raise InvalidParameterError("Invalid parameter: Message contains invalid characters")
    size = len(message.encode()) + sum(
        len(name.encode()) + len(a.data_type.encode()) + len(a.value.encode())
        for name, a in attributes.items()
    )
    if size > MAX_MESSAGE_BYTES:
        raise InvalidParameterError(
            f"Invalid parameter: Message too long ({size} bytes with attributes; at most "
            f"{MAX_MESSAGE_BYTES})"
        )


def _check_subject(subject: str) -> None:
    if (
        not subject
        or len(subject) > 100
        or subject[0].isspace()
        or any(ord(c) < 32 or ord(c) == 127 for c in subject)
    ):
        raise InvalidParameterError(
            "Invalid parameter: Subject (1-100 characters, no line breaks or control characters)"
        )


def _messages_by_protocol(message: str, structure: str | None) -> dict[str, str]:
    """``{"default": ...}`` plus per-protocol messages when ``MessageStructure`` is ``json``."""
    if structure is None:
        return {"default": message}
    if structure != "json":
        raise InvalidParameterError("Invalid parameter: MessageStructure (only 'json')")
    try:
        document = json.loads(message)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise InvalidParameterError(
            "Invalid parameter: Message Structure - JSON message body failed to parse"
        )
    if "default" not in document:
        raise InvalidParameterError(
            "Invalid parameter: Message Structure - No default entry in JSON message body"
        )
    return dict(document)


def message_attribute(
    name: str, data_type: str | None, string_value: str | None, binary_value: str | None
) -> MessageAttribute:
    """Validate one ``MessageAttributes`` entry as SNS does."""
    where = f"Invalid parameter: MessageAttributes: {name[:100]!r}"
    if (
        not _ATTRIBUTE_NAME.fullmatch(name)
        or name.startswith((".", "AWS.", "Amazon."))
        or name.endswith(".")
        or ".." in name
    ):
        raise InvalidParameterError(f"{where}: invalid name")
    match = _ATTRIBUTE_DATA_TYPE.fullmatch(data_type or "")
    if data_type is None or match is None:
        raise InvalidParameterError(f"{where}: DataType must be String, Number or Binary")
    if match["base"] == "Binary":
        if binary_value is None:
            raise InvalidParameterError(f"{where}: a Binary attribute needs a BinaryValue")
        try:
            base64.b64decode(binary_value, validate=True)
        except binascii.Error:
            raise InvalidParameterError(f"{where}: BinaryValue is not base64") from None
        return MessageAttribute(data_type, binary_value)
    if not string_value:
        raise InvalidParameterError(f"{where}: a {match['base']} attribute needs a StringValue")
    if match["base"] == "Number":
        try:
            Decimal(string_value)
        except InvalidOperation:
            raise InvalidParameterError(f"{where}: {string_value[:50]!r} is not a number") from None
    if data_type == "String.Array":
        try:
            array = json.loads(string_value)
        except ValueError:
            array = None
        if not isinstance(array, list):
            raise InvalidParameterError(f"{where}: a String.Array value must be a JSON array")
    return MessageAttribute(data_type, string_value)
