"""Amazon SQS adapter: reading a dead-letter queue (``snsflow recover``'s port).

Every SQS failure — a missing queue, no permission, throttling, the network — becomes a
:class:`QueueUnavailableError` carrying SQS's own message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from snsflow.errors import DependencyUnavailableError
from snsflow.recovery import QueueMessage
from snsflow.subscribe import QueueAddress

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: SQS's largest batch (ReceiveMessage, ChangeMessageVisibilityBatch).
MAX_BATCH = 10


class QueueUnavailableError(DependencyUnavailableError):
    code = "queue_unavailable"


@contextmanager
def _sqs_errors(action: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        detail = error.response.get("Error", {})
        raise QueueUnavailableError(
            f"cannot {action}: {detail.get('Message') or detail.get('Code')}"
        ) from error
    except BotoCoreError as error:
        raise QueueUnavailableError(f"cannot {action}: {error}") from error


def queue_url(client: SQSClient, address: QueueAddress) -> str:
    """The URL of the queue: as given, or looked up by its name and account."""
    if address.url is not None:
        return address.url
    with _sqs_errors(f"find the queue {address.arn}"):
        return client.get_queue_url(
            QueueName=address.arn.resource, QueueOwnerAWSAccountId=address.arn.account
        )["QueueUrl"]


class SqsQueue:
    """One queue, through an SQS client."""

    def __init__(self, client: SQSClient, url: str) -> None:
        self._client = client
        self.url = url

    def receive(
        self, *, max_messages: int, visibility_timeout: int, wait_seconds: int
    ) -> list[QueueMessage]:
        with _sqs_errors(f"read the queue {self.url}"):
            answer = self._client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(max_messages, MAX_BATCH),
                VisibilityTimeout=visibility_timeout,
                WaitTimeSeconds=wait_seconds,
                MessageAttributeNames=["All"],
            )
        return [
            QueueMessage(
                sqs_message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                body=message.get("Body", ""),
                attribute_names=tuple(sorted(message.get("MessageAttributes", {}))),
            )
            for message in answer.get("Messages", [])
        ]

    def delete(self, message: QueueMessage) -> None:
        with _sqs_errors(f"delete message {message.sqs_message_id} from {self.url}"):
            self._client.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)

    def release(self, messages: Sequence[QueueMessage]) -> None:
        """Make the messages visible again at once (they were left in the queue)."""
        for start in range(0, len(messages), MAX_BATCH):
            batch = messages[start : start + MAX_BATCH]
            with _sqs_errors(f"release messages in {self.url}"):
                self._client.change_message_visibility_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {
                            "Id": str(n),
                            "ReceiptHandle": message.receipt_handle,
                            "VisibilityTimeout": 0,
                        }
                        for n, message in enumerate(batch)
                    ],
                )
