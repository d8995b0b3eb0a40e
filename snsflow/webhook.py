"""``POST /webhooks/{workflowId}``: one SNS delivery in, one answer out.

The order of the checks is the point: refuse raw delivery, parse strictly, find the workflow,
refuse a topic the workflow does not allow — all before any network I/O — then verify the
signature (which may fetch the certificate), and only then act on the message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from snsflow.deliveries import DeliveryLog, DeliveryOutcome, SnsHeaders
from snsflow.errors import DependencyUnavailableError, ForbiddenError, NotFoundError, SnsflowError
from snsflow.executions import Clock, ExecutionLauncher
from snsflow.sns import (
    MalformedMessageError,
    MessageTooLargeError,
    Notification,
    RawDeliveryError,
    SnsMessage,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
    UnverifiedMessage,
    parse_message,
    reject_raw_delivery,
)
from snsflow.store.subscriptions import SubscriptionRecord, SubscriptionStatus
from snsflow.store.workflows import WorkflowRecord
from snsflow.workflows import SnsTrigger, is_workflow_id

logger = logging.getLogger(__name__)


class WorkflowNotFoundError(NotFoundError):
    code = "workflow_not_found"


class TopicNotAllowedError(ForbiddenError):
    code = "topic_not_allowed"


class WorkflowLookup(Protocol):
    def get(self, workflow_id: str) -> WorkflowRecord | None: ...


class Verifier(Protocol):
    """:class:`snsflow.sns.MessageVerifier`."""

    def verify(self, message: UnverifiedMessage) -> SnsMessage: ...


class SubscriptionConfirmer(Protocol):
    """:class:`snsflow.subscriptions.SubscribeUrlConfirmer`."""

    def confirm(self, confirmation: SubscriptionConfirmation) -> str | None: ...


class SubscriptionRecords(Protocol):
    """The part of :class:`snsflow.store.subscriptions.SubscriptionStore` used here."""

    def mark_confirmed(
        self,
        workflow_id: str,
        topic_arn: str,
        *,
        subscription_arn: str | None,
        message_time: datetime,
        at: datetime,
    ) -> bool: ...

    def mark_unsubscribed(
        self, workflow_id: str, topic_arn: str, *, message_time: datetime, at: datetime
    ) -> bool: ...

    def record_error(
        self, workflow_id: str, topic_arn: str, *, error: str, at: datetime, code: str = ...
    ) -> None: ...

    def get(self, workflow_id: str, topic_arn: str) -> SubscriptionRecord | None: ...


@functools.lru_cache(maxsize=256)
def workflow_trigger(workflow: WorkflowRecord) -> SnsTrigger:
    # The workflow file's own trigger model holds the topic-matching rule (with wildcards).
    return SnsTrigger(
        type="amazon-sns",
        api_key_name=workflow.api_key_name,
        allowed_topic_arns=workflow.allowed_topic_arns,
    )


def _parse(body: bytes) -> UnverifiedMessage:
    try:
        return parse_message(body)
    except MessageTooLargeError:
        raise
    except MalformedMessageError as error:
        if b'"SignatureVersion"' not in body:
            # Not an SNS envelope at all: most likely raw message delivery without its header.
            raise RawDeliveryError(
                "the body is not a signed SNS message; if raw message delivery is on for this "
                "subscription, turn RawMessageDelivery off"
            ) from error
        raise


class Webhook:
    """Handles one delivery; returns the 200 body or raises an :class:`SnsflowError`."""

    def __init__(
        self,
        *,
        workflows: WorkflowLookup,
        verifier: Verifier,
        executions: ExecutionLauncher,
        subscriptions: SubscriptionRecords,
        confirmer: SubscriptionConfirmer,
        clock: Clock,
        log: DeliveryLog | None = None,
    ) -> None:
        self._workflows = workflows
        self._verifier = verifier
        self._executions = executions
        self._subscriptions = subscriptions
        self._confirmer = confirmer
        self._clock = clock
        self._log = log

    def handle(
        self,
        workflow_id: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """The 200 body; every outcome of an existing workflow goes to the delivery log, after
        the work (a log failure never changes the answer)."""
        try:
            answer, topic_arn = self._handle(workflow_id, body, headers)
        except SnsflowError as error:
            if self._log is not None and error.http_status < 500:
                self._log_refusal(workflow_id, error.code, headers, request_id)
            raise
        if self._log is not None:
            self._log.delivered(
                workflow_id,
                DeliveryOutcome(answer["status"]),
                request_id=request_id,
                topic_arn=topic_arn,
                message_id=answer.get("messageId"),
                execution_id=answer.get("executionId"),
            )
        return answer

    def _log_refusal(
        self, workflow_id: str, code: str, headers: Mapping[str, str], request_id: str | None
    ) -> None:
        assert self._log is not None
        try:
            workflow = self._workflows.get(workflow_id) if is_workflow_id(workflow_id) else None
        except SnsflowError:
            return  # the registry is unreachable: the refusal is in the function's log only
        if workflow is not None:
            self._log.refused(workflow, code, SnsHeaders.of(headers), request_id=request_id)

    def _handle(
        self, workflow_id: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[dict[str, Any], str]:
        """The answer, and the topic of the verified message."""
        reject_raw_delivery(headers)
        unverified = _parse(body)
        # An id the registry cannot hold is answered like an unknown one, without asking it.
        workflow = self._workflows.get(workflow_id) if is_workflow_id(workflow_id) else None
        if workflow is None:
            raise WorkflowNotFoundError(f"there is no workflow {workflow_id!r}")
        if not workflow_trigger(workflow).allows_topic(unverified.topic_arn):
            raise TopicNotAllowedError(
                f"workflow {workflow_id!r} does not accept messages from topic "
                f"{unverified.topic_arn}"
            )
        message = self._verifier.verify(unverified)
        if isinstance(message, Notification):
            return self._run(workflow, message), message.topic_arn
        if isinstance(message, SubscriptionConfirmation):
            return self._confirm(workflow, message), message.topic_arn
        return self._unsubscribed(workflow, message), message.topic_arn

    def _run(self, workflow: WorkflowRecord, notification: Notification) -> dict[str, Any]:
        acceptance = self._executions.accept(workflow, notification)
        record = acceptance.record
        body: dict[str, Any] = {
            "status": acceptance.outcome,
            "executionId": record.execution_id,
            "messageId": record.message_id,
        }
        if acceptance.outcome == "duplicate":
            body["deliveries"] = record.deliveries
        return body

    def _confirm(
        self, workflow: WorkflowRecord, confirmation: SubscriptionConfirmation
    ) -> dict[str, Any]:
        if self._superseded_by_unsubscribe(workflow, confirmation):
            # A late retry of a confirmation older than the unsubscribe: confirming it now
            # would subscribe the endpoint again.
            return {
                "status": "unsubscribed",
                "topicArn": confirmation.topic_arn,
                "note": "this SubscriptionConfirmation predates the unsubscribe: not confirmed",
            }
        try:
            subscription_arn = self._confirmer.confirm(confirmation)
        except SnsflowError as error:
            self._note_confirmation_error(workflow, confirmation, error)
            raise
        self._subscriptions.mark_confirmed(
            workflow.workflow_id,
            confirmation.topic_arn,
            subscription_arn=subscription_arn,
            message_time=confirmation.timestamp,
            at=self._clock(),
        )
        return {
            "status": "confirmed",
            "topicArn": confirmation.topic_arn,
            "subscriptionArn": subscription_arn,
        }

    def _superseded_by_unsubscribe(
        self, workflow: WorkflowRecord, confirmation: SubscriptionConfirmation
    ) -> bool:
        current = self._subscriptions.get(workflow.workflow_id, confirmation.topic_arn)
        return (
            current is not None
            and current.status is SubscriptionStatus.UNSUBSCRIBED
            and current.status_since is not None
            and current.status_since > confirmation.timestamp
        )

    def _note_confirmation_error(
        self, workflow: WorkflowRecord, confirmation: SubscriptionConfirmation, error: SnsflowError
    ) -> None:
        try:
            self._subscriptions.record_error(
                workflow.workflow_id,
                confirmation.topic_arn,
                error=error.message,
                at=self._clock(),
                code=error.code,
            )
        except DependencyUnavailableError:
            logger.warning("could not record the confirmation error", exc_info=True)

    def _unsubscribed(
        self, workflow: WorkflowRecord, confirmation: UnsubscribeConfirmation
    ) -> dict[str, Any]:
        # Its SubscribeURL would subscribe the endpoint again: it is never visited.
        self._subscriptions.mark_unsubscribed(
            workflow.workflow_id,
            confirmation.topic_arn,
            message_time=confirmation.timestamp,
            at=self._clock(),
        )
        return {"status": "unsubscribed", "topicArn": confirmation.topic_arn}
