"""The delivery log's reading side: a workflow's deliveries newest first, and the health of its
subscriptions derived from the log when it is read (the webhook writes nothing more per
delivery for it).

Listing merges one newest-first stream per partition (the shards of deliveries, of refusal
counters, or both) like the executions listing merges its status streams; the page token keeps,
per partition, the last entry taken from it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import TypeAdapter, ValidationError

from snsflow.deliveries import DeliveryLogShape, DeliveryOutcome
from snsflow.pagination import PageTokenError, PageTokens
from snsflow.query import (
    ApiModel,
    ExecutionFilters,
    InvalidParameterError,
    UtcTime,
)
from snsflow.store.deliveries import delivery_partition, refusal_partition
from snsflow.store.dynamodb import format_time, parse_time
from snsflow.store.subscriptions import (
    SnsCheckResult,
    SubscriptionRecord,
    SubscriptionStatus,
)

#: Entries per delivery shard the health read looks at (newest first): enough to see every
#: topic of a workflow that delivers less than this per shard in the log's retention.
HEALTH_ENTRIES_PER_SHARD = 100
_ACCEPTED = frozenset({DeliveryOutcome.ACCEPTED.value, DeliveryOutcome.DUPLICATE.value})
_CONFIRMATION_TYPE = "SubscriptionConfirmation"

Health = Literal["pending", "confirmed", "failing", "unsubscribed", "refused", "silent"]

#: Why a health is not what the webhook saw: SNS said otherwise (:mod:`snsflow.sns_check`).
_SNS_REASONS = {
    SnsCheckResult.NOT_FOUND: "checked against SNS: the subscription no longer exists",
    SnsCheckResult.OTHER_ENDPOINT: "checked against SNS: subscribed to another endpoint",
    SnsCheckResult.PENDING: "checked against SNS: pending confirmation",
}


class RefusalSampleView(ApiModel):
    at: UtcTime
    request_id: str | None = None
    message_id: str | None = None
    key_name: str | None = None
    topic_arn: str | None = None
    message_type: str | None = None


class Delivery(ApiModel):
    """One row of the log: a delivery, or a refusal counter (``count`` requests of one code in
    the minute starting at ``at``; the ids are its first sample's, ``sampled`` when it stands
    for more requests than that)."""

    at: UtcTime
    outcome: DeliveryOutcome
    code: str | None = None
    topic_arn: str | None = None
    message_id: str | None = None
    request_id: str | None = None
    execution_id: str | None = None
    key_name: str | None = None
    count: int = 1
    sampled: bool = False
    #: Refusal counters only: the latest refusal counted, and the samples kept.
    last_at: UtcTime | None = None
    samples: list[RefusalSampleView] | None = None


class DeliveryPage(ApiModel):
    items: list[Delivery]
    next_token: str | None


class SubscriptionHealth(ApiModel):
    health: Health
    #: Set when SNS's answer decided ``health`` against what the webhook saw.
    health_reason: str | None = None
    last_delivery_at: UtcTime | None = None
    last_accepted_at: UtcTime | None = None
    refusals_last_hour: int = 0
    refusals_last_day: int = 0
    last_refusal_code: str | None = None


@dataclass(frozen=True)
class DeliveryFilters:
    outcome: DeliveryOutcome | None
    since: datetime | None
    until: datetime | None

    @classmethod
    def from_parameters(
        cls, outcome: str | None, since: datetime | None, until: datetime | None
    ) -> DeliveryFilters:
        times = ExecutionFilters.from_parameters(None, since, until)
        wanted = None
        if outcome is not None and outcome.strip():
            try:
                wanted = DeliveryOutcome(outcome.strip().lower())
            except ValueError:
                allowed = ", ".join(o.value for o in DeliveryOutcome)
                raise InvalidParameterError(
                    "outcome", f"has an unknown outcome '{outcome.strip()[:40]}' (one of {allowed})"
                ) from None
        return cls(outcome=wanted, since=times.since, until=times.until)

    def token_scope(self, workflow_id: str) -> dict[str, Any]:
        return {
            "deliveriesOf": workflow_id,
            "outcome": self.outcome.value if self.outcome else None,
            "since": format_time(self.since) if self.since else None,
            "until": format_time(self.until) if self.until else None,
        }


class DeliveryLogSource(Protocol):
    """:class:`snsflow.store.deliveries.DeliveryLogStore`'s reads."""

    def newest_first(
        self,
        partition: str,
        *,
        since: datetime | None,
        until: datetime | None,
        after: str | None,
        limit: int,
        outcomes: tuple[str, ...] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]: ...

    def all_since(self, partition: str, since: datetime) -> list[dict[str, Any]]: ...


_Cursor = dict[str, str]
_CURSOR = TypeAdapter(_Cursor)
_END = "end"


class DeliveryReader:
    def __init__(
        self,
        store: DeliveryLogSource,
        shape: DeliveryLogShape,
        *,
        tokens: PageTokens,
        clock: Callable[[], datetime],
        silent_after: timedelta,
    ) -> None:
        self._store = store
        self._shape = shape
        self._tokens = tokens
        self._clock = clock
        self._silent_after = silent_after

    # -- listing -----------------------------------------------------------------------------

    def page(
        self, workflow_id: str, filters: DeliveryFilters, *, limit: int, next_token: str | None
    ) -> DeliveryPage:
        scope = filters.token_scope(workflow_id)
        cursor = self._open(next_token, scope) if next_token else {}
        refused_only = filters.outcome is DeliveryOutcome.REFUSED
        streams = [] if refused_only else self._delivery_partitions(workflow_id)
        if filters.outcome is None or refused_only:
            streams += self._refusal_partitions(workflow_id)
        outcomes = (filters.outcome.value,) if filters.outcome and not refused_only else None
        fetched: dict[str, tuple[list[dict[str, Any]], bool]] = {}
        for stream in streams:
            resume = cursor.get(stream)
            if resume == _END:
                continue
            fetched[stream] = self._store.newest_first(
                stream,
                since=filters.since,
                until=filters.until,
                after=resume,
                limit=limit,
                outcomes=outcomes,
            )
        tagged = ([(stream, item) for item in items] for stream, (items, _) in fetched.items())
        merged = heapq.merge(*tagged, key=lambda pair: str(pair[1]["entry"]), reverse=True)
        taken = [pair for pair, _ in zip(merged, range(limit), strict=False)]
        for stream, (items, more) in fetched.items():
            used = [item for s, item in taken if s == stream]
            if len(used) == len(items) and not more:
                cursor[stream] = _END
            elif used:
                cursor[stream] = str(used[-1]["entry"])
        exhausted = all(cursor.get(stream) == _END for stream in streams)
        return DeliveryPage(
            items=[row(item) for _, item in taken],
            next_token=None if exhausted else self._tokens.issue(scope, cursor),
        )

    def _open(self, token: str, scope: dict[str, Any]) -> _Cursor:
        try:
            return _CURSOR.validate_python(self._tokens.open(token, scope))
        except PageTokenError as error:
            raise InvalidParameterError("nextToken", str(error)) from None
        except ValidationError:
            raise InvalidParameterError("nextToken", "is not a token this API issued") from None

    def _delivery_partitions(self, workflow_id: str) -> list[str]:
        return [delivery_partition(workflow_id, shard) for shard in range(self._shape.shards)]

    def _refusal_partitions(self, workflow_id: str) -> list[str]:
        return [refusal_partition(workflow_id, shard) for shard in range(self._shape.shards)]

    # -- health ------------------------------------------------------------------------------

    def health(
        self, workflow_id: str, records: Iterable[SubscriptionRecord]
    ) -> tuple[dict[str, SubscriptionHealth], list[SubscriptionRecord]]:
        """Each subscription's health, by topic; and a record for each topic whose
        confirmation was refused in the last day without ever being recorded (e.g. a topic the
        workflow does not allow)."""
        now = self._clock()
        counters = [
            row(item)
            for partition in self._refusal_partitions(workflow_id)
            for item in self._store.all_since(partition, now - timedelta(days=1))
        ]
        entries: list[dict[str, Any]] = []
        complete = True
        for partition in self._delivery_partitions(workflow_id):
            items, more = self._store.newest_first(
                partition,
                since=now - self._shape.retention,
                until=None,
                after=None,
                limit=HEALTH_ENTRIES_PER_SHARD,
            )
            entries.extend(items)
            complete = complete and not more
        records = list(records)
        known = {record.topic_arn for record in records}
        unrecorded = _refused_confirmations(counters, known, workflow_id)
        healths = {
            record.topic_arn: self._health(record, counters, entries, now, complete=complete)
            for record in [*records, *unrecorded]
        }
        return healths, unrecorded

    def _health(
        self,
        record: SubscriptionRecord,
        counters: list[Delivery],
        entries: list[dict[str, Any]],
        now: datetime,
        *,
        complete: bool,
    ) -> SubscriptionHealth:
        topic = record.topic_arn
        refusals = [c for c in counters if _concerns(c, topic)]
        mine = [e for e in entries if e.get("topicArn") == topic]
        accepted = [_entry_time(e) for e in mine if e.get("outcome") in _ACCEPTED]
        last_accepted = max(accepted, default=None)
        latest_refusal = max(refusals, key=lambda c: c.last_at or c.at, default=None)
        last_refusal_at = (latest_refusal.last_at or latest_refusal.at) if latest_refusal else None
        last_delivery = max(
            [*(_entry_time(e) for e in mine), *([last_refusal_at] if last_refusal_at else [])],
            default=None,
        )
        hour = sum(c.count for c in refusals if c.at >= now - timedelta(hours=1))
        health, reason = _sns_verdict(record, last_accepted) or (
            _judge(
                _as_sns_has_it(record),
                last_accepted=last_accepted,
                last_delivery=last_delivery,
                last_refusal_at=last_refusal_at,
                refusals_last_hour=hour,
                refused_confirmation=any(_is_confirmation(c) for c in refusals),
                silent_since=now - self._silent_after if complete else None,
            ),
            None,
        )
        return SubscriptionHealth(
            health=health,
            health_reason=reason,
            last_delivery_at=last_delivery,
            last_accepted_at=last_accepted,
            refusals_last_hour=hour,
            refusals_last_day=sum(c.count for c in refusals),
            last_refusal_code=latest_refusal.code if latest_refusal else record.last_error_code,
        )


def _sns_verdict(
    record: SubscriptionRecord, last_accepted: datetime | None
) -> tuple[Health, str] | None:
    """Rule 0 of docs/deliveries.md: what SNS said when the reconciler last checked wins over
    what the webhook saw, unless a notification was accepted since (what arrives wins)."""
    check = record.sns_check
    if check is None or (last_accepted is not None and last_accepted > check.checked_at):
        return None
    if check.result in (SnsCheckResult.NOT_FOUND, SnsCheckResult.OTHER_ENDPOINT):
        return "unsubscribed", _SNS_REASONS[check.result]
    if check.result is SnsCheckResult.PENDING:
        return "pending", _SNS_REASONS[check.result]
    return None


def _as_sns_has_it(record: SubscriptionRecord) -> SubscriptionRecord:
    """An unsubscribed record that SNS found subscribed here after its UnsubscribeConfirmation
    arrived (a relayed or replayed one) goes on as confirmed."""
    check = record.sns_check
    if (
        check is not None
        and check.result is SnsCheckResult.SUBSCRIBED
        and record.status is SubscriptionStatus.UNSUBSCRIBED
        and record.unsubscribed_at is not None
        and check.checked_at > record.unsubscribed_at
    ):
        return record.model_copy(update={"status": SubscriptionStatus.CONFIRMED})
    return record


def _judge(
    record: SubscriptionRecord,
    *,
    last_accepted: datetime | None,
    last_delivery: datetime | None,
    last_refusal_at: datetime | None,
    refusals_last_hour: int,
    refused_confirmation: bool,
    silent_since: datetime | None,
) -> Health:
    """The rules of docs/deliveries.md, in order."""
    status = record.status
    if status is SubscriptionStatus.UNSUBSCRIBED:
        # A relayed or late UnsubscribeConfirmation: deliveries accepted after it prove the
        # subscription still delivers.
        still_delivering = (
            last_accepted is not None
            and record.unsubscribed_at is not None
            and last_accepted > record.unsubscribed_at
        )
        if not still_delivering:
            return "unsubscribed"
        status = SubscriptionStatus.CONFIRMED
    if status is SubscriptionStatus.PENDING:
        if last_accepted is not None:
            status = SubscriptionStatus.CONFIRMED
        elif record.last_error or refused_confirmation:
            return "refused"
        else:
            return "pending"
    if (
        refusals_last_hour
        and last_refusal_at is not None
        and (last_accepted is None or last_accepted < last_refusal_at)
    ):
        return "failing"
    since_confirmed = record.confirmed_at or record.status_since or record.updated_at
    if (
        silent_since is not None
        and since_confirmed < silent_since
        and (last_delivery is None or last_delivery < silent_since)
    ):
        return "silent"
    return "confirmed"


def _entry_time(item: dict[str, Any]) -> datetime:
    return parse_time(str(item["entry"]).partition("#")[0])


def _is_confirmation(counter: Delivery) -> bool:
    return any(s.message_type == _CONFIRMATION_TYPE for s in counter.samples or ())


def _concerns(counter: Delivery, topic: str) -> bool:
    """Whether a refusal counter is about ``topic``: its own topic, else its samples' topics;
    a counter that names no topic at all (no SNS headers) concerns every topic."""
    if counter.topic_arn is not None:
        return counter.topic_arn == topic
    topics = {s.topic_arn for s in counter.samples or () if s.topic_arn}
    return topic in topics or not topics


def _refused_confirmations(
    counters: list[Delivery], known: set[str], workflow_id: str
) -> list[SubscriptionRecord]:
    found: dict[str, datetime] = {}
    for counter in counters:
        for sample in counter.samples or ():
            topic = sample.topic_arn or counter.topic_arn
            if sample.message_type == _CONFIRMATION_TYPE and topic and topic not in known:
                found[topic] = max(found.get(topic, sample.at), sample.at)
    return [
        SubscriptionRecord(
            workflow_id=workflow_id,
            topic_arn=topic,
            status=SubscriptionStatus.PENDING,
            updated_at=at,
        )
        for topic, at in sorted(found.items())
    ]


def row(item: dict[str, Any]) -> Delivery:
    """A stored item as a row of the API."""
    at = _entry_time(item)
    if item.get("outcome") != DeliveryOutcome.REFUSED.value:
        return Delivery(
            at=at,
            outcome=DeliveryOutcome(item["outcome"]),
            topic_arn=item.get("topicArn"),
            message_id=item.get("messageId"),
            request_id=item.get("requestId"),
            execution_id=item.get("executionId"),
        )
    samples = sorted(
        (
            RefusalSampleView.model_validate(value)
            for name, value in item.items()
            if name.startswith("sample") and isinstance(value, dict)
        ),
        key=lambda sample: sample.at,
    )
    first = samples[0] if samples else None
    count = int(item.get("count", 1))
    return Delivery(
        at=at,
        outcome=DeliveryOutcome.REFUSED,
        code=item.get("code"),
        topic_arn=item.get("topicArn") or (first.topic_arn if first else None),
        message_id=first.message_id if first else None,
        request_id=first.request_id if first else None,
        key_name=first.key_name if first else None,
        count=count,
        sampled=count > 1,
        last_at=parse_time(item["lastAt"]) if item.get("lastAt") else None,
        samples=samples,
    )
