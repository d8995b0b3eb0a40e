"""The SNS Query API: form parameters in, SNS's XML responses and XML errors out.

boto3 serialises maps as ``Attributes.entry.N.key`` / ``.value`` (message attributes as
``MessageAttributes.entry.N.Name`` / ``.Value.DataType`` ...) and parses the response shapes of
botocore's ``sns`` service model, which these builders follow.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# Only builds XML from our own values; untrusted XML is never parsed here.
from xml.etree.ElementTree import Element, SubElement, tostring

from snsflow.local.sns.backend import (
    LISTED_PENDING_ARN,
    MessageAttribute,
    SnsBackend,
    Subscription,
    message_attribute,
)
from snsflow.local.sns.errors import (
    InternalError,
    InvalidActionError,
    InvalidParameterError,
    MissingParameterError,
    SnsApiError,
)

NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"
LOGGER = logging.getLogger("snsflow.local.sns")


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """The decoded parameters of one call, and whether it was signed (SigV4)."""

    params: Mapping[str, str]
    authenticated: bool


@dataclass(frozen=True, slots=True)
class QueryResponse:
    status: int
    body: bytes


def handle_query(backend: SnsBackend, request: QueryRequest) -> QueryResponse:
    request_id = str(uuid.uuid4())
    action = request.params.get("Action", "")
    try:
        if not action:
            raise MissingParameterError("The request must contain the parameter Action.")
        perform = _ACTIONS.get(action)
        if perform is None:
            raise InvalidActionError(f"The action {action[:100]} is not valid for this endpoint.")
        result = perform(backend, request)
    except SnsApiError as error:
        return QueryResponse(error.http_status, _error_document(error, request_id))
    except Exception:
        LOGGER.exception("local SNS action %s failed", action)
        return QueryResponse(500, _error_document(InternalError("Internal error"), request_id))
    return QueryResponse(200, _response_document(action, result, request_id))


# -- actions ---------------------------------------------------------------------------------

_Result = Element | None


def _create_topic(backend: SnsBackend, request: QueryRequest) -> _Result:
    params = request.params
    arn = backend.create_topic(_required(params, "Name"), _attributes(params, "Attributes"))
    return _result("CreateTopic", TopicArn=arn)


def _delete_topic(backend: SnsBackend, request: QueryRequest) -> _Result:
    backend.delete_topic(_required(request.params, "TopicArn"))
    return None


def _list_topics(backend: SnsBackend, request: QueryRequest) -> _Result:
    arns, next_token = backend.list_topics(request.params.get("NextToken"))
    result = _result("ListTopics")
    topics = SubElement(result, "Topics")
    for arn in arns:
        _text(SubElement(topics, "member"), "TopicArn", arn)
    _text(result, "NextToken", next_token)
    return result


def _get_topic_attributes(backend: SnsBackend, request: QueryRequest) -> _Result:
    attributes = backend.get_topic_attributes(_required(request.params, "TopicArn"))
    return _attribute_map(_result("GetTopicAttributes"), attributes)


def _set_topic_attributes(backend: SnsBackend, request: QueryRequest) -> _Result:
    params = request.params
    backend.set_topic_attribute(
        _required(params, "TopicArn"),
        _required(params, "AttributeName"),
        params.get("AttributeValue", ""),
    )
    return None


def _subscribe(backend: SnsBackend, request: QueryRequest) -> _Result:
    params = request.params
    arn = backend.subscribe(
        _required(params, "TopicArn"),
        _required(params, "Protocol"),
        params.get("Endpoint"),
        _attributes(params, "Attributes"),
        return_subscription_arn=_boolean(params, "ReturnSubscriptionArn"),
    )
    return _result("Subscribe", SubscriptionArn=arn)


def _confirm_subscription(backend: SnsBackend, request: QueryRequest) -> _Result:
    params = request.params
    arn = backend.confirm_subscription(
        _required(params, "TopicArn"),
        _required(params, "Token"),
        authenticate_on_unsubscribe=_boolean(params, "AuthenticateOnUnsubscribe"),
        authenticated=request.authenticated,
    )
    return _result("ConfirmSubscription", SubscriptionArn=arn)


def _unsubscribe(backend: SnsBackend, request: QueryRequest) -> _Result:
    backend.unsubscribe(
        _required(request.params, "SubscriptionArn"), authenticated=request.authenticated
    )
    return None


def _publish(backend: SnsBackend, request: QueryRequest) -> _Result:
    params = request.params
    if "PhoneNumber" in params:
        raise InvalidParameterError("Invalid parameter: the local SNS does not send SMS")
    topic_arn = params.get("TopicArn") or params.get("TargetArn")
    if not topic_arn:
        raise InvalidParameterError("Invalid parameter: TopicArn or TargetArn Reason: no value")
    message_id = backend.publish(
        topic_arn,
        _required(params, "Message", allow_empty=True),
        subject=params.get("Subject"),
        message_structure=params.get("MessageStructure"),
        message_attributes=_message_attributes(params),
    )
    return _result("Publish", MessageId=message_id)


def _list_subscriptions(backend: SnsBackend, request: QueryRequest) -> _Result:
    return _subscription_list("ListSubscriptions", backend, request, topic_arn=None)


def _list_subscriptions_by_topic(backend: SnsBackend, request: QueryRequest) -> _Result:
    topic_arn = _required(request.params, "TopicArn")
    return _subscription_list("ListSubscriptionsByTopic", backend, request, topic_arn=topic_arn)


def _get_subscription_attributes(backend: SnsBackend, request: QueryRequest) -> _Result:
    attributes = backend.get_subscription_attributes(_required(request.params, "SubscriptionArn"))
    return _attribute_map(_result("GetSubscriptionAttributes"), attributes)


def _set_subscription_attributes(backend: SnsBackend, request: QueryRequest) -> _Result:
    params = request.params
    backend.set_subscription_attribute(
        _required(params, "SubscriptionArn"),
        _required(params, "AttributeName"),
        params.get("AttributeValue", ""),
    )
    return None


_ACTIONS: Mapping[str, Callable[[SnsBackend, QueryRequest], _Result]] = {
    "CreateTopic": _create_topic,
    "DeleteTopic": _delete_topic,
    "ListTopics": _list_topics,
    "GetTopicAttributes": _get_topic_attributes,
    "SetTopicAttributes": _set_topic_attributes,
    "Subscribe": _subscribe,
    "ConfirmSubscription": _confirm_subscription,
    "Unsubscribe": _unsubscribe,
    "Publish": _publish,
    "ListSubscriptions": _list_subscriptions,
    "ListSubscriptionsByTopic": _list_subscriptions_by_topic,
    "GetSubscriptionAttributes": _get_subscription_attributes,
    "SetSubscriptionAttributes": _set_subscription_attributes,
}


def _subscription_list(
    action: str, backend: SnsBackend, request: QueryRequest, *, topic_arn: str | None
) -> Element:
    subscriptions, next_token = backend.list_subscriptions(
        request.params.get("NextToken"), topic_arn
    )
    result = _result(action)
    members = SubElement(result, "Subscriptions")
    for subscription in subscriptions:
        _subscription_member(SubElement(members, "member"), subscription, backend.account_id)
    _text(result, "NextToken", next_token)
    return result


def _subscription_member(member: Element, subscription: Subscription, owner: str) -> None:
    _text(member, "TopicArn", subscription.topic_arn)
    _text(member, "Protocol", subscription.protocol)
    _text(
        member,
        "SubscriptionArn",
        subscription.arn if subscription.confirmed else LISTED_PENDING_ARN,
    )
    _text(member, "Owner", owner)
    _text(member, "Endpoint", subscription.endpoint)


# -- decoding parameters ---------------------------------------------------------------------


def _required(params: Mapping[str, str], name: str, *, allow_empty: bool = False) -> str:
    value = params.get(name)
    if value is None or (not value and not allow_empty):
        raise MissingParameterError(f"The request must contain the parameter {name}.")
    return value


def _boolean(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise InvalidParameterError(f"Invalid parameter: {name} must be true or false")
    return value == "true"


def _entries(params: Mapping[str, str], prefix: str, key_field: str) -> dict[str, str]:
    """Entry number → key, for ``<prefix>.entry.<N>.<key_field>`` parameters."""
    pattern = re.compile(rf"{re.escape(prefix)}\.entry\.([0-9]+)\.{re.escape(key_field)}")
    return {
        match[1]: value
        for name, value in params.items()
        if (match := pattern.fullmatch(name)) is not None
    }


def _attributes(params: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {
        key: params.get(f"{prefix}.entry.{number}.value", "")
        for number, key in _entries(params, prefix, "key").items()
    }


def _message_attributes(params: Mapping[str, str]) -> dict[str, MessageAttribute]:
    prefix = "MessageAttributes"
    return {
        name: message_attribute(
            name,
            params.get(f"{prefix}.entry.{number}.Value.DataType"),
            params.get(f"{prefix}.entry.{number}.Value.StringValue"),
            params.get(f"{prefix}.entry.{number}.Value.BinaryValue"),
        )
        for number, name in _entries(params, prefix, "Name").items()
    }


# -- XML -------------------------------------------------------------------------------------


def _result(action: str, **texts: str) -> Element:
    result = Element(f"{action}Result")
    for tag, value in texts.items():
        _text(result, tag, value)
    return result


def _text(parent: Element, tag: str, value: str | None) -> None:
    if value is not None:
        SubElement(parent, tag).text = value


def _attribute_map(result: Element, attributes: Mapping[str, str]) -> Element:
    container = SubElement(result, "Attributes")
    for key, value in attributes.items():
        entry = SubElement(container, "entry")
        _text(entry, "key", key)
        _text(entry, "value", value)
    return result


def _response_document(action: str, result: Element | None, request_id: str) -> bytes:
    root = Element(f"{action}Response", xmlns=NAMESPACE)
    if result is not None:
        root.append(result)
    _text(SubElement(root, "ResponseMetadata"), "RequestId", request_id)
    return _serialise(root)


def _error_document(error: SnsApiError, request_id: str) -> bytes:
    root = Element("ErrorResponse", xmlns=NAMESPACE)
    details = SubElement(root, "Error")
    _text(details, "Type", error.fault)
    _text(details, "Code", error.code)
    _text(details, "Message", error.message)
    _text(root, "RequestId", request_id)
    return _serialise(root)


def _serialise(root: Element) -> bytes:
    document: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document
