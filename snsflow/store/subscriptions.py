"""Subscription records: per workflow and topic, ``pending``, ``confirmed`` or ``unsubscribed``.

Only this module reads or writes the subscriptions table. The confirmed / unsubscribed status
follows the SNS ``Timestamp`` of the message that set it, so a late retry of an older message
never overwrites a newer state. The reconciler adds what SNS itself says of the record's
subscription ARN (``snsCheck``, :mod:`snsflow.sns_check`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from snsflow.store.dynamodb import (
    dynamodb_errors,
    format_time,
    is_conditional_check_failure,
    parse_time,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class SubscriptionStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class SnsCheckResult(StrEnum):
    """What ``GetSubscriptionAttributes`` said of a record's subscription ARN."""

    #: It exists, is confirmed, and its endpoint is this workflow's webhook.
    SUBSCRIBED = "subscribed"
    #: It exists and delivers here, but SNS still waits for its confirmation.
    PENDING = "pending"
    #: SNS has no such subscription (unsubscribed, or its topic deleted).
    NOT_FOUND = "not_found"
    #: It delivers to another endpoint: the confirmation was relayed from there.
    OTHER_ENDPOINT = "other_endpoint"


class SnsCheck(BaseModel):
    """The latest result of checking a record's subscription ARN against SNS, and since when it
    holds (it is written when the result changes, not at every check; a new confirmation of the
    record removes it)."""

    model_config = ConfigDict(frozen=True)

    result: SnsCheckResult
    checked_at: datetime

    def to_item(self) -> dict[str, str]:
        return {"result": self.result.value, "checkedAt": format_time(self.checked_at)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> SnsCheck:
        return cls(result=SnsCheckResult(item["result"]), checked_at=parse_time(item["checkedAt"]))


class SubscriptionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_id: str
    topic_arn: str
    status: SubscriptionStatus
    subscription_arn: str | None = None
    #: SNS Timestamp of the message that set ``status``.
    status_since: datetime | None = None
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    updated_at: datetime
    last_error: str | None = None
    last_error_at: datetime | None = None
    #: The error code of ``last_error`` (e.g. ``subscribe_url_failed``).
    last_error_code: str | None = None
    #: What SNS said of ``subscription_arn`` (None: not checked since the last confirmation).
    sns_check: SnsCheck | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> SubscriptionRecord:
        def optional_time(name: str) -> datetime | None:
            value = item.get(name)
            return parse_time(value) if value else None

        return cls(
            workflow_id=item["workflowId"],
            topic_arn=item["topicArn"],
            status=SubscriptionStatus(item["status"]),
            subscription_arn=item.get("subscriptionArn"),
            status_since=optional_time("statusSince"),
            confirmed_at=optional_time("confirmedAt"),
            unsubscribed_at=optional_time("unsubscribedAt"),
            updated_at=parse_time(item["updatedAt"]),
            last_error=item.get("lastError"),
            last_error_at=optional_time("lastErrorAt"),
            last_error_code=item.get("lastErrorCode"),
            sns_check=SnsCheck.from_item(item["snsCheck"]) if item.get("snsCheck") else None,
        )


class SubscriptionStore:
    """The subscriptions table (a boto3 DynamoDB ``Table`` is passed in)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def mark_confirmed(
        self,
        workflow_id: str,
        topic_arn: str,
        *,
        subscription_arn: str | None,
        message_time: datetime,
        at: datetime,
    ) -> bool:
        """Record a confirmed subscription; False if a newer message already set the status."""
        values: dict[str, Any] = {"confirmedAt": format_time(at)}
        if subscription_arn is not None:
            values["subscriptionArn"] = subscription_arn
        return self._set_status(
            workflow_id,
            topic_arn,
            SubscriptionStatus.CONFIRMED,
            values,
            message_time=message_time,
            at=at,
            # A new confirmation: what SNS said of the subscription before says nothing of it.
            removed=("snsCheck",),
        )

    def mark_unsubscribed(
        self, workflow_id: str, topic_arn: str, *, message_time: datetime, at: datetime
    ) -> bool:
        """Record an unsubscribed subscription; False if a newer message already set the status."""
        return self._set_status(
            workflow_id,
            topic_arn,
            SubscriptionStatus.UNSUBSCRIBED,
            {"unsubscribedAt": format_time(at)},
            message_time=message_time,
            at=at,
        )

    def record_error(
        self,
        workflow_id: str,
        topic_arn: str,
        *,
        error: str,
        at: datetime,
        code: str = "confirmation_failed",
    ) -> None:
        """Note a failed confirmation (a record not seen before becomes ``pending``)."""
        with dynamodb_errors("record the subscription error"):
            self._table.update_item(
                Key={"workflowId": workflow_id, "topicArn": topic_arn},
                UpdateExpression=(
                    "SET #status = if_not_exists(#status, :pending), lastError = :error, "
                    "lastErrorAt = :at, lastErrorCode = :code, updatedAt = :at"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":pending": SubscriptionStatus.PENDING.value,
                    ":error": error[:1000],
                    ":code": code[:100],
                    ":at": format_time(at),
                },
            )

    def record_sns_check(
        self, workflow_id: str, topic_arn: str, subscription_arn: str, check: SnsCheck
    ) -> bool:
        """Write what SNS said of ``subscription_arn``; False (nothing written) if the record no
        longer holds that ARN (confirmed again meanwhile) or is gone."""
        try:
            with dynamodb_errors("record the subscription's check against SNS"):
                self._table.update_item(
                    Key={"workflowId": workflow_id, "topicArn": topic_arn},
                    UpdateExpression="SET snsCheck = :check",
                    ConditionExpression="subscriptionArn = :arn",
                    ExpressionAttributeValues={
                        ":check": check.to_item(),
                        ":arn": subscription_arn,
                    },
                )
        except ClientError as error:
            if is_conditional_check_failure(error):
                return False
            raise
        return True

    def get(self, workflow_id: str, topic_arn: str) -> SubscriptionRecord | None:
        with dynamodb_errors("read the subscription"):
            response = self._table.get_item(
                Key={"workflowId": workflow_id, "topicArn": topic_arn}, ConsistentRead=True
            )
        item = response.get("Item")
        return SubscriptionRecord.from_item(item) if item else None

    def list_for_workflow(self, workflow_id: str) -> list[SubscriptionRecord]:
        """Every subscription record of a workflow, by topic ARN."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("workflowId").eq(workflow_id)}
        while True:
            with dynamodb_errors("list subscriptions"):
                page = self._table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return [SubscriptionRecord.from_item(item) for item in items]
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _set_status(
        self,
        workflow_id: str,
        topic_arn: str,
        status: SubscriptionStatus,
        values: dict[str, Any],
        *,
        message_time: datetime,
        at: datetime,
        removed: tuple[str, ...] = (),
    ) -> bool:
        assignments = ["#status = :status", "statusSince = :since", "updatedAt = :at"]
        removals = ", ".join(("lastError", "lastErrorAt", "lastErrorCode", *removed))
        assignments += [f"{name} = :{name}" for name in values]
        newer_or_same = "attribute_not_exists(statusSince) OR statusSince <= :since"
        try:
            with dynamodb_errors("record the subscription"):
                self._table.update_item(
                    Key={"workflowId": workflow_id, "topicArn": topic_arn},
                    UpdateExpression=(f"SET {', '.join(assignments)} REMOVE {removals}"),
                    ConditionExpression=newer_or_same,
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":status": status.value,
                        ":since": format_time(message_time),
                        ":at": format_time(at),
                        **{f":{name}": value for name, value in values.items()},
                    },
                )
        except ClientError as error:
            if is_conditional_check_failure(error):
                return False
            raise
        return True
