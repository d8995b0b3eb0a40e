"""Recovering what SNS gave up on: the notifications in a subscription's SQS dead-letter queue,
brought into their workflow exactly as a webhook delivery would be, each exactly once.

For each message of the queue, in this order (the webhook's, from the same parts):

1. parse the body strictly — SNS puts there the JSON envelope it failed to deliver;
2. only a ``Notification`` runs (confirmations are reported and left);
3. its topic must be one the workflow allows (the webhook's rule, :func:`workflow_trigger`);
4. its signature must verify (the certificate-URL policy and the signature as strict as the
   webhook's; only the freshness window is wider, as a queue keeps messages for days);
5. :meth:`ExecutionLauncher.accept` claims and starts it — a MessageId that already has a
   record is a duplicate and does not run again;
6. who recovered it and when is written on the record;
7. only then is the message deleted from the queue.

A message that fails a step is left in the queue, with the reason; the messages left are made
visible again when the run ends. Nothing here builds an AWS client: the queue, the verifier,
the launcher and the records come in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from snsflow.errors import DependencyUnavailableError, SnsflowError
from snsflow.executions import (
    Acceptance,
    Clock,
    ExecutionInputTooLargeError,
    ExecutionStartFailedError,
    execution_id,
)
from snsflow.sns import Notification, SnsVerificationError, parse_message
from snsflow.store.executions import ExecutionRecord, RecoveryNote
from snsflow.store.workflows import WorkflowRecord
from snsflow.webhook import Verifier, workflow_trigger

logger = logging.getLogger(__name__)

#: Seconds a received message stays invisible to other readers: long enough for one batch
#: (each message is a few AWS calls), short enough that a crashed run's messages come back soon.
VISIBILITY_TIMEOUT_SECONDS = 120
#: Long polling: SQS then asks all of its servers, so an empty answer means an empty queue.
WAIT_SECONDS = 2


class QueueMessage(BaseModel):
    """One message received from the dead-letter queue."""

    model_config = ConfigDict(frozen=True)

    sqs_message_id: str
    receipt_handle: str
    body: str
    #: Names of its SQS message attributes (SNS sets them only for raw deliveries).
    attribute_names: tuple[str, ...] = ()


class DeadLetterQueue(Protocol):
    """:class:`snsflow.sqs.SqsQueue`."""

    url: str

    def receive(
        self, *, max_messages: int, visibility_timeout: int, wait_seconds: int
    ) -> list[QueueMessage]: ...

    def delete(self, message: QueueMessage) -> None: ...

    def release(self, messages: Sequence[QueueMessage]) -> None: ...


class Launcher(Protocol):
    """:class:`snsflow.executions.ExecutionLauncher`."""

    def accept(self, workflow: WorkflowRecord, notification: Notification) -> Acceptance: ...


class RecoveryRecords(Protocol):
    """The part of :class:`snsflow.store.executions.ExecutionStore` used here."""

    def get(self, workflow_id: str, message_id: str) -> ExecutionRecord | None: ...

    def record_recovery(self, workflow_id: str, message_id: str, note: RecoveryNote) -> bool: ...


class Outcome(StrEnum):
    #: Recorded and started now (in a dry run: would be).
    RECOVERED = "recovered"
    #: Its MessageId already had an execution: not run again.
    DUPLICATE = "duplicate"
    #: Left in the queue; the reason says why.
    LEFT = "left"


class LeftReason(StrEnum):
    MALFORMED = "malformed"
    #: A raw delivery's bare message: without SNS's signature it cannot be authenticated.
    RAW_MESSAGE = "raw_message"
    NOT_A_NOTIFICATION = "not_a_notification"
    TOPIC_NOT_ALLOWED = "topic_not_allowed"
    SIGNATURE_INVALID = "signature_invalid"
    EXECUTION_INPUT_TOO_LARGE = "execution_input_too_large"
    #: Transient: the signing certificate could not be fetched.
    CERTIFICATE_UNAVAILABLE = "certificate_unavailable"
    #: Transient: DynamoDB did not take the claim or the recovery note.
    RECORD_FAILED = "record_failed"

    @property
    def transient(self) -> bool:
        """True where running recover again later can succeed."""
        return self in (LeftReason.CERTIFICATE_UNAVAILABLE, LeftReason.RECORD_FAILED)


class MessageReport(BaseModel):
    """What became of one message of the queue."""

    model_config = ConfigDict(frozen=True)

    sqs_message_id: str
    outcome: Outcome
    message_id: str | None = None
    topic_arn: str | None = None
    execution_id: str | None = None
    reason: LeftReason | None = None
    detail: str | None = None
    #: False when the record is written but its start failed (the reconciler starts it).
    started: bool = True
    #: True once the message is gone from the queue.
    deleted: bool = False


class RecoveryReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_id: str
    queue_url: str
    operator: str
    dry_run: bool
    messages: tuple[MessageReport, ...]
    #: Why the run stopped before the queue was empty, if it did (the queue failed).
    stopped_by: str | None = None

    def count(self, outcome: Outcome) -> int:
        return sum(message.outcome is outcome for message in self.messages)

    @property
    def needs_another_run(self) -> bool:
        """True when a message stays for a reason a later run can overcome, or the run
        stopped early, or a recovered message could not be deleted."""
        return self.stopped_by is not None or any(
            (message.reason is not None and message.reason.transient)
            or (message.outcome is not Outcome.LEFT and not message.deleted and not self.dry_run)
            for message in self.messages
        )


class Recovery:
    """Brings the notifications of one dead-letter queue into one workflow."""

    def __init__(
        self,
        *,
        queue: DeadLetterQueue,
        verifier: Verifier,
        launcher: Launcher,
        records: RecoveryRecords,
        operator: str,
        clock: Clock,
    ) -> None:
        self._queue = queue
        self._verifier = verifier
        self._launcher = launcher
        self._records = records
        self._operator = operator
        self._clock = clock

    def run(
        self, workflow: WorkflowRecord, *, max_messages: int, dry_run: bool = False
    ) -> RecoveryReport:
        """Process up to ``max_messages`` messages, until the queue has none left to give.

        A dry run writes and deletes nothing: it says what would happen.
        """
        reports: list[MessageReport] = []
        left: list[QueueMessage] = []
        seen: set[str] = set()
        stopped_by: str | None = None
        try:
            while len(reports) < max_messages:
                try:
                    batch = self._queue.receive(
                        max_messages=max_messages - len(reports),
                        visibility_timeout=VISIBILITY_TIMEOUT_SECONDS,
                        wait_seconds=WAIT_SECONDS,
                    )
                except SnsflowError as error:
                    stopped_by = error.message
                    break
                fresh = [message for message in batch if message.sqs_message_id not in seen]
                if not fresh:
                    break
                for message in fresh:
                    seen.add(message.sqs_message_id)
                    report = self._one(workflow, message, dry_run=dry_run)
                    reports.append(report)
                    if not report.deleted:
                        left.append(message)
        finally:
            self._release(left)
        return RecoveryReport(
            workflow_id=workflow.workflow_id,
            queue_url=self._queue.url,
            operator=self._operator,
            dry_run=dry_run,
            messages=tuple(reports),
            stopped_by=stopped_by,
        )

    def _one(
        self, workflow: WorkflowRecord, message: QueueMessage, *, dry_run: bool
    ) -> MessageReport:
        try:
            unverified = parse_message(message.body)
        except SnsVerificationError as error:
            if '"SignatureVersion"' not in message.body:
                return _left(
                    message,
                    LeftReason.RAW_MESSAGE,
                    "not an SNS envelope: a raw delivery's message has no signature to verify",
                )
            return _left(message, LeftReason.MALFORMED, f"{error.code}: {error.message}")
        ids = unverified.message_id, unverified.topic_arn
        if unverified.type != "Notification":
            return _left(message, LeftReason.NOT_A_NOTIFICATION, f"a {unverified.type}", ids)
        if not workflow_trigger(workflow).allows_topic(unverified.topic_arn):
            detail = f"workflow {workflow.workflow_id!r} does not accept topic {ids[1]}"
            return _left(message, LeftReason.TOPIC_NOT_ALLOWED, detail, ids)
        try:
            notification = self._verifier.verify(unverified)
        except SnsVerificationError as error:
            reason = (
                LeftReason.CERTIFICATE_UNAVAILABLE
                if error.retryable
                else LeftReason.SIGNATURE_INVALID
            )
            return _left(message, reason, f"{error.code}: {error.message}", ids)
        assert isinstance(notification, Notification)  # its verified Type is the parsed one
        if dry_run:
            return self._would(workflow, message, notification)
        return self._recover(workflow, message, notification)

    def _would(
        self, workflow: WorkflowRecord, message: QueueMessage, notification: Notification
    ) -> MessageReport:
        existing = self._records.get(workflow.workflow_id, notification.message_id)
        return MessageReport(
            sqs_message_id=message.sqs_message_id,
            outcome=Outcome.DUPLICATE if existing else Outcome.RECOVERED,
            message_id=notification.message_id,
            topic_arn=notification.topic_arn,
            execution_id=execution_id(workflow.workflow_id, notification.message_id),
            started=False,
        )

    def _recover(
        self,
        workflow: WorkflowRecord,
        message: QueueMessage,
        notification: Notification,
    ) -> MessageReport:
        ids = notification.message_id, notification.topic_arn
        started = True
        try:
            first = self._launcher.accept(workflow, notification).outcome == "accepted"
        except ExecutionInputTooLargeError as error:
            return _left(message, LeftReason.EXECUTION_INPUT_TOO_LARGE, error.message, ids)
        except ExecutionStartFailedError as error:
            # The claim is durable: the reconciler starts it, as it does for the webhook.
            logger.warning("recovered, but the start failed: %s", error.message)
            started = False
            record = self._records.get(workflow.workflow_id, notification.message_id)
            first = record is not None and record.deliveries == 1
        except DependencyUnavailableError as error:
            return _left(message, LeftReason.RECORD_FAILED, error.message, ids)
        outcome = Outcome.RECOVERED if first else Outcome.DUPLICATE
        note = RecoveryNote(
            by=self._operator,
            at=self._clock(),
            outcome="recovered" if first else "duplicate",
            queue=self._queue.url,
            sqs_message_id=message.sqs_message_id,
        )
        try:
            self._records.record_recovery(workflow.workflow_id, notification.message_id, note)
        except DependencyUnavailableError as error:
            # Kept in the queue: the next run finds the record and notes the recovery then.
            detail = f"recorded, but not who recovered it: {error.message}"
            return _left(message, LeftReason.RECORD_FAILED, detail, ids)
        report = MessageReport(
            sqs_message_id=message.sqs_message_id,
            outcome=outcome,
            message_id=notification.message_id,
            topic_arn=notification.topic_arn,
            execution_id=execution_id(workflow.workflow_id, notification.message_id),
            started=started,
        )
        try:
            self._queue.delete(message)
        except SnsflowError as error:
            return report.model_copy(update={"detail": f"not deleted: {error.message}"})
        return report.model_copy(update={"deleted": True})

    def _release(self, messages: Sequence[QueueMessage]) -> None:
        if not messages:
            return
        try:
            self._queue.release(messages)
        except SnsflowError as error:
            # They come back by themselves once their visibility timeout runs out.
            logger.warning("could not release the messages left in the queue: %s", error.message)


def _left(
    message: QueueMessage,
    reason: LeftReason,
    detail: str,
    ids: tuple[str | None, str | None] = (None, None),
) -> MessageReport:
    """The report of a message left in the queue (``ids``: its MessageId and TopicArn)."""
    return MessageReport(
        sqs_message_id=message.sqs_message_id,
        outcome=Outcome.LEFT,
        message_id=ids[0],
        topic_arn=ids[1],
        reason=reason,
        detail=detail[:500],
    )
