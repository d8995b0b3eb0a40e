"""Publishing a test message to a workflow's topic and following the execution it starts.

What SNS accepts is checked here, before any AWS call (the SNS API reference, Publish and
MessageAttributeValue): a message is UTF-8 text, not empty, at most 256 KiB together with its
attributes; a subject is under 100 characters with no line breaks or control characters; an
attribute name is letters, digits, ``_``, ``-`` and ``.``. The SNS client and the way to read an
execution come in; nothing here builds one.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from snsflow.errors import BadRequestError, SnsflowError
from snsflow.query import ExecutionDetail, WorkflowView
from snsflow.store.subscriptions import SubscriptionStatus
from snsflow.subscribe import Arn, SubscribeRequestError, parse_topic_arn

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

#: SNS's default limit on a published message, its attributes included; the most an HTTP/S
#: subscription delivers.
MAX_MESSAGE_BYTES = 256 * 1024
#: "Less than 100 characters long" (SNS API reference, Publish).
MAX_SUBJECT_CHARACTERS = 99
#: The attribute type this command sends (SNS's other types: Number, Binary, String.Array).
ATTRIBUTE_TYPE = "String"
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")
_RESERVED_ATTRIBUTE_PREFIXES = ("aws.", "amazon.")
#: How many topics an error lists before it counts the rest.
_LISTED_TOPICS = 5


class PublishRequestError(BadRequestError):
    """The message, subject, attribute or topic asked for cannot be published as given."""

    code = "invalid_publish_request"


class NoTopicError(PublishRequestError):
    """No topic is given and the workflow has not exactly one confirmed subscription."""

    code = "no_topic"


def _has_control_characters(text: str) -> bool:
    # SNS's "line breaks or control characters": Unicode's controls (Cc, which hold CR and LF)
    # and its line and paragraph separators (Zl, Zp).
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def check_subject(text: str) -> str:
    if not text or len(text) > MAX_SUBJECT_CHARACTERS or _has_control_characters(text):
        raise PublishRequestError(
            f"the subject must be 1 to {MAX_SUBJECT_CHARACTERS} characters with no line "
            f"breaks or control characters (it has {len(text)})"
        )
    return text


def parse_attribute(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` as a String message attribute, checked against SNS's naming rules."""
    name, equals, value = text.partition("=")
    if not equals or not value:
        raise PublishRequestError(f"the attribute {text[:100]!r} is not NAME=VALUE")
    if (
        not _ATTRIBUTE_NAME.fullmatch(name)
        or name.lower().startswith(_RESERVED_ATTRIBUTE_PREFIXES)
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
    ):
        raise PublishRequestError(
            f"the attribute name {name[:100]!r} is not one SNS accepts: 1-256 letters, digits, "
            "'_', '-' or '.', not starting or ending with '.', no '..', not starting with "
            "'AWS.' or 'Amazon.'"
        )
    return name, value


def default_message(now: datetime) -> str:
    """The test message sent when none is given: small, JSON, and recognisable."""
    return json.dumps({"test": True, "sentBy": "snsflow publish", "sentAt": now.isoformat()})


def is_json(message: str) -> bool:
    """Whether the workflow will see the message parsed (its ``$.message``) or as a string."""
    try:
        json.loads(message, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return False
    return True


def _not_json(name: str) -> None:
    raise ValueError(name)  # NaN and Infinity are not JSON


class OutgoingMessage(BaseModel):
    """What is published: the message, its subject and its String attributes."""

    model_config = ConfigDict(frozen=True)

    message: str
    subject: str | None = None
    attributes: dict[str, str] = {}

    @classmethod
    def build(
        cls, message: str, *, subject: str | None, attributes: Mapping[str, str]
    ) -> OutgoingMessage:
        """The message, checked: not empty, and not over SNS's size limit with its attributes
        (name, type and value count)."""
        if not message:
            raise PublishRequestError("the message is empty: SNS publishes no empty message")
        published = cls(
            message=message,
            subject=check_subject(subject) if subject is not None else None,
            attributes=dict(attributes),
        )
        if published.size_bytes > MAX_MESSAGE_BYTES:
            counted = " with its attributes" if attributes else ""
            raise PublishRequestError(
                f"the message is {published.size_bytes} bytes{counted}; SNS takes at most "
                f"{MAX_MESSAGE_BYTES} (256 KiB)"
            )
        return published

    @property
    def size_bytes(self) -> int:
        return len(self.message.encode("utf-8")) + sum(
            len(name.encode()) + len(ATTRIBUTE_TYPE) + len(value.encode("utf-8"))
            for name, value in self.attributes.items()
        )

    def publish(self, sns: SNSClient, topic: Arn) -> str:
        """Publish to ``topic``; the MessageId SNS gave it."""
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            name: {"DataType": ATTRIBUTE_TYPE, "StringValue": value}
            for name, value in self.attributes.items()
        }
        if self.subject is None:
            answer = sns.publish(
                TopicArn=str(topic), Message=self.message, MessageAttributes=attributes
            )
        else:
            answer = sns.publish(
                TopicArn=str(topic),
                Message=self.message,
                Subject=self.subject,
                MessageAttributes=attributes,
            )
        message_id = answer.get("MessageId")
        if not isinstance(message_id, str) or not message_id:
            raise SnsflowError("SNS answered the publish without a MessageId")
        return message_id


def _listed(topics: list[str]) -> str:
    shown = ", ".join(topics[:_LISTED_TOPICS])
    more = len(topics) - _LISTED_TOPICS
    return shown + (f" and {more} more" if more > 0 else "")


def confirmed_topics(workflow: WorkflowView) -> list[str]:
    """The topics whose subscription to the workflow snsflow saw confirmed, sorted."""
    return sorted(
        {s.topic_arn for s in workflow.subscriptions if s.status is SubscriptionStatus.CONFIRMED}
    )


def choose_topic(workflow: WorkflowView) -> Arn:
    """The workflow's one confirmed topic; :class:`NoTopicError` when it has none or several."""
    confirmed = confirmed_topics(workflow)
    if len(confirmed) > 1:
        raise NoTopicError(
            f"workflow '{workflow.id}' has {len(confirmed)} confirmed subscriptions: name one "
            f"with --topic ARN ({_listed(confirmed)})"
        )
    if not confirmed:
        others = sorted(
            f"{s.topic_arn} ({s.status.value})"
            for s in workflow.subscriptions
            if s.status is not SubscriptionStatus.CONFIRMED
        )
        known = f" (not confirmed: {_listed(others)})" if others else ""
        raise NoTopicError(
            f"workflow '{workflow.id}' has no confirmed subscription{known}: subscribe a topic "
            f"first (snsflow subscribe {workflow.id} TOPIC_ARN), or name one with --topic ARN"
        )
    try:
        return parse_topic_arn(confirmed[0])
    except SubscribeRequestError as error:  # the API's record names something else
        raise SnsflowError(f"the workflow's subscription is not usable: {error.message}") from None


#: Reads the execution: ``None`` while it has no record yet.
ExecutionReader = Callable[[], ExecutionDetail | None]


def wait_for_execution(
    read: ExecutionReader,
    *,
    timeout: float,
    interval: float,
    on_change: Callable[[ExecutionDetail, float], None] = lambda _detail, _elapsed: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ExecutionDetail | None:
    """Poll until the execution has ended or ``timeout`` seconds have passed; what was last
    read (``None``: no record yet). ``on_change`` hears each new status with the time taken."""
    start = clock()
    last: ExecutionDetail | None = None
    while True:
        detail = read()
        elapsed = clock() - start
        if detail is not None and (last is None or detail.status is not last.status):
            on_change(detail, elapsed)
        last = detail if detail is not None else last
        if (last is not None and last.status.is_terminal) or elapsed >= timeout:
            return last
        sleep(min(interval, max(timeout - elapsed, 0.0)))
