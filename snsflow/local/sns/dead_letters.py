"""What the local SNS puts in a subscription's dead-letter queue, and the SQS it puts it in.

What SNS sends there (see ``docs/recovery.md`` for the sources): the message as the subscription
would have received it — for an HTTP/S subscription the signed JSON envelope, byte for byte, with
no SQS message attributes (no error code or reason: those are Lambda's DLQ attributes, not
SNS's); with raw message delivery the bare message, its SNS message attributes carried as SQS
message attributes.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

LOGGER = logging.getLogger("snsflow.local.sns")

#: ``arn:aws:sqs:<region>:<account>:<queue>``: what a ``RedrivePolicy`` may name.
QUEUE_ARN = re.compile(
    r"arn:aws[a-z-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):(?P<name>[A-Za-z0-9_-]{1,80})"
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message for a dead-letter queue."""

    queue_arn: str
    body: str
    #: SQS ``MessageAttributes`` (only raw deliveries carry any).
    message_attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class DeadLetterQueues(Protocol):
    """Where dead letters go. Raises if the message could not be sent (SNS then loses it)."""

    def send(self, letter: DeadLetter) -> None: ...


def sqs_message_attribute(data_type: str, value: str) -> dict[str, Any]:
    """An SNS message attribute (``Binary`` values are base64 text) as an SQS one."""
    if data_type.startswith("Binary"):
        return {"DataType": data_type, "BinaryValue": base64.b64decode(value)}
    return {"DataType": data_type, "StringValue": value}


class SqsDeadLetterQueues:
    """Sends dead letters with an SQS client (the local stack's moto); the client is built on
    first use, when the stack has pointed the AWS client factory at moto."""

    def __init__(self, client: Callable[[], SQSClient]) -> None:
        self._client = client

    def send(self, letter: DeadLetter) -> None:
        match = QUEUE_ARN.fullmatch(letter.queue_arn)
        if match is None:
            raise ValueError(f"{letter.queue_arn!r} is not an SQS queue ARN")
        client = self._client()
        queue_url = client.get_queue_url(
            QueueName=match["name"], QueueOwnerAWSAccountId=match["account"]
        )["QueueUrl"]
        client.send_message(
            QueueUrl=queue_url,
            MessageBody=letter.body,
            MessageAttributes=dict(letter.message_attributes),  # type: ignore[arg-type]
        )
