"""The delivery log: one item per handled delivery, one counter per refused kind and minute.

Only this module reads or writes the deliveries table (schema: ``DELIVERIES`` in
``snsflow.store.tables``). Partition keys are ``<workflowId>#<shard>`` for deliveries and
``<workflowId>#r<shard>`` for refusals, so no single key takes a busy workflow's every write;
sort keys start with the fixed-width stored time, so string order is time order and a query
reads newest first. Every item expires (``expiresAt``, DynamoDB TTL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from snsflow.store.dynamodb import dynamodb_errors, format_time

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

#: Fields of a logged entry (and of a refusal sample) that come from the request are cut to
#: this many characters, so that an item stays under 1 KB (one write unit).
MAX_FIELD_LENGTH = 256
_SHORT_FIELD_LENGTH = 100
#: Sorts after every character of a stored time and of the separators: ``<until>~`` is the
#: upper bound of every entry at or before ``until``.
_AFTER_ENTRIES = "~"


def delivery_partition(workflow_id: str, shard: int) -> str:
    return f"{workflow_id}#{shard}"


def refusal_partition(workflow_id: str, shard: int) -> str:
    return f"{workflow_id}#r{shard}"


def _cut(value: str | None, length: int = MAX_FIELD_LENGTH) -> str | None:
    return value[:length] if value else None


@dataclass(frozen=True)
class DeliveryEntry:
    """One handled delivery (accepted, duplicate, confirmed, unsubscribed)."""

    workflow_id: str
    outcome: str
    at: datetime
    #: Unique within the time's millisecond (the API request id, else a random id).
    unique: str
    topic_arn: str | None = None
    message_id: str | None = None
    request_id: str | None = None
    execution_id: str | None = None


@dataclass(frozen=True)
class RefusalSample:
    at: datetime
    request_id: str | None
    message_id: str | None
    key_name: str | None
    #: The topic the request named, when the counter's own topic is unknown.
    topic_arn: str | None = None
    message_type: str | None = None


@dataclass(frozen=True)
class Refusal:
    """One refused request, to be counted in its (workflow, code, topic, minute) counter."""

    workflow_id: str
    code: str
    #: The counter's topic: one of the workflow's own topics, or None (unknown, or a topic the
    #: workflow does not name: counting per such topic would let a sender make items at will).
    topic_arn: str | None
    sample: RefusalSample


class DeliveryLogStore:
    """The deliveries table (a boto3 DynamoDB ``Table`` is passed in)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, entry: DeliveryEntry, *, shard: int, expires_at: int) -> None:
        """Write one entry (about 300-600 bytes: one write unit)."""
        item: dict[str, Any] = {
            "partition": delivery_partition(entry.workflow_id, shard),
            "entry": f"{format_time(entry.at)}#{entry.unique[:_SHORT_FIELD_LENGTH]}",
            "outcome": entry.outcome,
            "expiresAt": expires_at,
        }
        optional = {
            "topicArn": _cut(entry.topic_arn),
            "messageId": _cut(entry.message_id, _SHORT_FIELD_LENGTH),
            "requestId": _cut(entry.request_id, _SHORT_FIELD_LENGTH),
            "executionId": _cut(entry.execution_id),
        }
        item.update({name: value for name, value in optional.items() if value})
        with dynamodb_errors("log the delivery"):
            self._table.put_item(Item=item)

    def count(
        self,
        refusal: Refusal,
        *,
        count: int,
        minute: datetime,
        shard: int,
        slot: int,
        expires_at: int,
    ) -> None:
        """Add ``count`` refusals to their minute's counter (one write; the item keeps at most
        one sample per slot, the first that landed in it, so its size is bounded)."""
        sample = refusal.sample
        stored_sample = {
            name: value
            for name, value in {
                "at": format_time(sample.at),
                "requestId": _cut(sample.request_id, _SHORT_FIELD_LENGTH),
                "messageId": _cut(sample.message_id, _SHORT_FIELD_LENGTH),
                "keyName": _cut(sample.key_name, _SHORT_FIELD_LENGTH),
                "topicArn": None if refusal.topic_arn else _cut(sample.topic_arn),
                "messageType": _cut(sample.message_type, 40),
            }.items()
            if value
        }
        values: dict[str, Any] = {
            ":refused": "refused",
            ":code": refusal.code,
            ":at": format_time(sample.at),
            ":expires": expires_at,
            ":count": count,
            ":sample": stored_sample,
        }
        assignments = [
            "outcome = :refused",
            "code = :code",
            "lastAt = :at",
            "expiresAt = :expires",
            f"sample{slot} = if_not_exists(sample{slot}, :sample)",
        ]
        if refusal.topic_arn:
            assignments.append("topicArn = :topic")
            values[":topic"] = refusal.topic_arn
        entry = f"{format_time(minute)}#{refusal.code}#{refusal.topic_arn or ''}"
        with dynamodb_errors("count the refusal"):
            self._table.update_item(
                Key={"partition": refusal_partition(refusal.workflow_id, shard), "entry": entry},
                UpdateExpression=f"SET {', '.join(assignments)} ADD #count :count",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues=values,
            )

    def newest_first(
        self,
        partition: str,
        *,
        since: datetime | None,
        until: datetime | None,
        after: str | None,
        limit: int,
        outcomes: tuple[str, ...] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` items of one partition between ``since`` and ``until`` (inclusive,
        to the millisecond), newest first, after the entry ``after``; and whether more follow.
        ``outcomes`` keeps only those outcomes (read, then filtered: DynamoDB bills what it
        reads)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("partition").eq(partition)
            & _entries_between(since, until),
            "ScanIndexForward": False,
        }
        if outcomes:
            kwargs["FilterExpression"] = Attr("outcome").is_in(list(outcomes))
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"partition": partition, "entry": after}
        items: list[dict[str, Any]] = []
        while len(items) <= limit:
            with dynamodb_errors("read the delivery log"):
                page = self._table.query(Limit=limit + 1 - len(items), **kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items[:limit], len(items) > limit

    def all_since(self, partition: str, since: datetime) -> list[dict[str, Any]]:
        """Every item of one partition since ``since`` (the refusal counters of a day)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("partition").eq(partition)
            & Key("entry").gte(format_time(since))
        }
        items: list[dict[str, Any]] = []
        while True:
            with dynamodb_errors("read the refusal counters"):
                page = self._table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _entries_between(since: datetime | None, until: datetime | None) -> ConditionBase:
    # Every stored time starts with a digit; DynamoDB refuses an empty key value.
    low = format_time(since) if since is not None else "0"
    high = (format_time(until) if until is not None else "9999") + _AFTER_ENTRIES
    return Key("entry").between(low, high)
