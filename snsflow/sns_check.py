"""Checking subscription records against SNS (a pass of the scheduled reconciler).

SNS signs no endpoint into a confirmation, so the webhook cannot tell a relayed
``SubscriptionConfirmation`` (another endpoint's) from its own, and an unsubscribe whose
``UnsubscribeConfirmation`` never arrived leaves the record confirmed. Where SNS can be asked —
the topic is in the stack's own account and partition, and the record holds the subscription
ARN SNS answered the confirmation with — ``GetSubscriptionAttributes`` says what is true:

* the subscription is gone (``NotFound``);
* it delivers to another endpoint: its ``Endpoint``'s URL path does not end with this
  workflow's webhook path. Only the path is compared, never the host, so that a custom domain
  or a proxy in front of the API does not make every subscription look foreign;
* it is still pending confirmation;
* or it is subscribed here.

Anything else (access denied, throttled, unreachable) leaves the record as it was: not checked.
Each run checks at most ``max_checks`` subscriptions, taking the next ones in turn (a warm
instance goes on where its last run stopped; a new one starts at a random place), and writes a
record only when its result changed. An ARN SNS said it does not have is not asked about again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from snsflow.errors import DependencyUnavailableError
from snsflow.query import webhook_path
from snsflow.store.dynamodb import error_code
from snsflow.store.subscriptions import SnsCheck, SnsCheckResult, SubscriptionRecord
from snsflow.store.workflows import WorkflowRecord
from snsflow.subscribe import Arn, SubscribeRequestError, parse_arn

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger(__name__)

#: SNS's error code for a subscription ARN it does not know.
_NOT_FOUND = "NotFound"


class SubscriptionGoneError(Exception):
    """SNS has no subscription of that ARN."""


class SnsNotAskedError(Exception):
    """SNS could not be asked, or would not say (access denied, throttled, unreachable)."""


class SubscriptionAttributes(Protocol):
    def attributes(self, subscription_arn: str, region: str) -> dict[str, str]:
        """``GetSubscriptionAttributes`` in ``region``; raises :class:`SubscriptionGoneError`
        or :class:`SnsNotAskedError`."""
        ...


class SnsSubscriptionAttributes:
    """:class:`SubscriptionAttributes` with boto3: one client per region, built when first
    needed (``snsflow.aws.sns_client``)."""

    def __init__(self, client_for_region: Callable[[str], SNSClient]) -> None:
        self._client_for_region = client_for_region

    def attributes(self, subscription_arn: str, region: str) -> dict[str, str]:
        try:
            client = self._client_for_region(region)
            answer = client.get_subscription_attributes(SubscriptionArn=subscription_arn)
        except ClientError as error:
            code = error_code(error)
            if code == _NOT_FOUND:
                raise SubscriptionGoneError(subscription_arn) from None
            raise SnsNotAskedError(code or "ClientError") from None
        except BotoCoreError as error:  # unreachable, timed out, no credentials
            raise SnsNotAskedError(type(error).__name__) from None
        return dict(answer.get("Attributes", {}))


@dataclass(frozen=True)
class AccountScope:
    """The stack's own partition and account: the topics whose subscriptions its role may
    read (the grant of ``infra/permissions.py``)."""

    partition: str
    account: str

    @classmethod
    def of_function(cls, function_arn: str) -> AccountScope:
        """From the running function's ARN (``arn:<partition>:lambda:<region>:<account>:...``)."""
        parts = function_arn.split(":")
        if len(parts) < 5 or parts[0] != "arn" or not parts[4]:
            raise ValueError(f"not a function ARN: {function_arn[:200]}")
        return cls(partition=parts[1], account=parts[4])

    def topic(self, topic_arn: str) -> Arn | None:
        """The topic's parsed ARN if it is in this account and partition, else None."""
        try:
            topic = parse_arn(topic_arn, service="sns", what="SNS topic")
        except SubscribeRequestError:
            return None
        return topic if (topic.partition, topic.account) == (self.partition, self.account) else None


def classify(attributes: dict[str, str], workflow_id: str) -> SnsCheckResult:
    """What a subscription's attributes say of it, for the workflow whose record holds it."""
    path = urlsplit(attributes.get("Endpoint", "")).path.rstrip("/")
    if not path.endswith(webhook_path(workflow_id)):
        return SnsCheckResult.OTHER_ENDPOINT
    if attributes.get("PendingConfirmation", "false").lower() == "true":
        return SnsCheckResult.PENDING
    return SnsCheckResult.SUBSCRIBED


def _gone(record: SubscriptionRecord) -> bool:
    """SNS said the ARN does not exist: it never will again, so it is not asked about again
    (a new confirmation of the record removes the check)."""
    return record.sns_check is not None and record.sns_check.result is SnsCheckResult.NOT_FOUND


class SubscriptionRecords(Protocol):
    """The part of :class:`~snsflow.store.subscriptions.SubscriptionStore` used here."""

    def list_for_workflow(self, workflow_id: str) -> list[SubscriptionRecord]: ...

    def record_sns_check(
        self, workflow_id: str, topic_arn: str, subscription_arn: str, check: SnsCheck
    ) -> bool: ...


class SnsCheckReport(BaseModel):
    #: Subscriptions SNS was asked about (one GetSubscriptionAttributes each).
    sns_checked: int = 0
    #: Records whose result changed, and so were written.
    sns_check_changes: int = 0
    #: SNS could not be asked, or would not say; or the write failed.
    sns_check_failures: int = 0


class SubscriptionChecker:
    def __init__(
        self,
        *,
        records: SubscriptionRecords,
        sns: SubscriptionAttributes,
        scope: AccountScope,
        clock: Callable[[], datetime],
        max_checks: int,
        start: int | None = None,
    ) -> None:
        self._records = records
        self._sns = sns
        self._scope = scope
        self._clock = clock
        self._max_checks = max_checks
        # Where the next run starts in the list of checkable subscriptions.
        self._next = random.randrange(1 << 30) if start is None else start  # noqa: S311 - not security

    def run(self, workflows: list[WorkflowRecord]) -> SnsCheckReport:
        report = SnsCheckReport()
        if self._max_checks < 1:
            return report
        checkable = [
            (workflow, record, arn, region)
            for workflow in sorted(workflows, key=lambda w: w.workflow_id)
            for record in self._subscriptions_of(workflow, report)
            if (arn := record.subscription_arn)
            and not _gone(record)
            and (region := self._region(record.topic_arn)) is not None
        ]
        if not checkable:
            return report
        first = self._next % len(checkable)
        count = min(self._max_checks, len(checkable))
        self._next = first + count
        for i in range(count):
            self._check(*checkable[(first + i) % len(checkable)], report)
        return report

    def _subscriptions_of(
        self, workflow: WorkflowRecord, report: SnsCheckReport
    ) -> list[SubscriptionRecord]:
        try:
            records = self._records.list_for_workflow(workflow.workflow_id)
        except DependencyUnavailableError as error:
            report.sns_check_failures += 1
            logger.warning(
                "could not read the subscriptions to check against SNS",
                extra={"workflowId": workflow.workflow_id, "reason": error.message},
            )
            return []
        return sorted(records, key=lambda r: r.topic_arn)

    def _region(self, topic_arn: str) -> str | None:
        topic = self._scope.topic(topic_arn)
        return topic.region if topic is not None else None

    def _check(
        self,
        workflow: WorkflowRecord,
        record: SubscriptionRecord,
        arn: str,
        region: str,
        report: SnsCheckReport,
    ) -> None:
        report.sns_checked += 1
        try:
            result = classify(self._sns.attributes(arn, region), workflow.workflow_id)
        except SubscriptionGoneError:
            result = SnsCheckResult.NOT_FOUND
        except SnsNotAskedError as error:
            report.sns_check_failures += 1
            logger.warning(
                "could not check a subscription against SNS",
                extra={
                    "workflowId": workflow.workflow_id,
                    "topicArn": record.topic_arn,
                    "reason": str(error),
                },
            )
            return
        if record.sns_check is not None and record.sns_check.result is result:
            return  # unchanged: nothing to write
        check = SnsCheck(result=result, checked_at=self._clock())
        try:
            written = self._records.record_sns_check(
                workflow.workflow_id, record.topic_arn, arn, check
            )
        except DependencyUnavailableError as error:
            report.sns_check_failures += 1
            logger.warning(
                "could not record a subscription's check against SNS",
                extra={"workflowId": workflow.workflow_id, "reason": error.message},
            )
            return
        if written:
            report.sns_check_changes += 1
