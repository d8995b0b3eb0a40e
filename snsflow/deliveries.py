"""The delivery log's writing side: what each request for an existing workflow came to.

The webhook logs every delivery it handles (accepted, duplicate, confirmed, unsubscribed) as
one item, and every request it refuses; the authorizer logs the requests it refuses for a
workflow (no key, a wrong, revoked or expired key, a key not bound to it). Two rules keep the
log from turning a flood into cost:

* a refusal is never an item of its own: it is counted in its (workflow, code, topic, minute)
  counter, which keeps a few samples in fixed slots. A flood writes one unit per request into
  a bounded number of items; the topic of a counter is one the workflow names, else none (a
  sender choosing topic names must not choose how many items exist);
* only existing workflows get a log (an unknown id in the path is answered, not logged).

Logging is best effort and comes after the work: a delivery is claimed and started before its
entry is written, and a failed log write is a warning and a metric, never a changed answer.
"""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from snsflow.settings import DeliveryLogSettings
from snsflow.store.deliveries import DeliveryEntry, Refusal, RefusalSample

logger = logging.getLogger(__name__)

#: Headers SNS puts on every HTTP delivery (unsigned: they name, they do not prove).
TOPIC_HEADER = "x-amz-sns-topic-arn"
MESSAGE_ID_HEADER = "x-amz-sns-message-id"
MESSAGE_TYPE_HEADER = "x-amz-sns-message-type"
NOTIFICATION_TYPE = "Notification"


class DeliveryOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    REFUSED = "refused"


@dataclass(frozen=True)
class SnsHeaders:
    """What a request's SNS headers name."""

    topic_arn: str | None = None
    message_id: str | None = None
    message_type: str | None = None

    @classmethod
    def of(cls, headers: Mapping[str, object] | None) -> SnsHeaders:
        found: dict[str, str] = {}
        for name, value in (headers or {}).items():
            if isinstance(name, str) and isinstance(value, str) and value:
                found[name.lower()] = value
        return cls(
            topic_arn=found.get(TOPIC_HEADER),
            message_id=found.get(MESSAGE_ID_HEADER),
            message_type=found.get(MESSAGE_TYPE_HEADER),
        )


class LoggedWorkflow(Protocol):
    """The part of a workflow record the log reads."""

    @property
    def workflow_id(self) -> str: ...

    @property
    def allowed_topic_arns(self) -> tuple[str, ...] | None: ...


class DeliveryLogWriter(Protocol):
    """:class:`snsflow.store.deliveries.DeliveryLogStore`'s writes."""

    def put(self, entry: DeliveryEntry, *, shard: int, expires_at: int) -> None: ...

    def count(
        self, refusal: Refusal, *, minute: datetime, shard: int, slot: int, expires_at: int
    ) -> None: ...


@dataclass(frozen=True)
class DeliveryLogShape:
    """The settings writers and readers must share (``DeliveryLogSettings``)."""

    shards: int
    retention: timedelta
    samples: int


def stable_hash(text: str) -> int:
    """The same number for the same text in every process (``hash`` is salted per process)."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def counter_topic(workflow: LoggedWorkflow, topic_arn: str | None) -> str | None:
    """The topic a refusal is counted under: one the workflow names literally, else None."""
    allowed = workflow.allowed_topic_arns or ()
    return topic_arn if topic_arn and "*" not in topic_arn and topic_arn in allowed else None


class DeliveryLog:
    """Writes the log; never raises (a failure calls ``on_failure`` and is logged)."""

    def __init__(
        self,
        store: DeliveryLogWriter,
        shape: DeliveryLogShape,
        *,
        clock: Callable[[], datetime],
        on_failure: Callable[[], None] = lambda: None,
        on_refused_notification: Callable[[str], None] = lambda _workflow_id: None,
    ) -> None:
        self._store = store
        self._shape = shape
        self._clock = clock
        self._on_failure = on_failure
        self._on_refused_notification = on_refused_notification

    def delivered(
        self,
        workflow_id: str,
        outcome: DeliveryOutcome,
        *,
        request_id: str | None,
        topic_arn: str | None = None,
        message_id: str | None = None,
        execution_id: str | None = None,
    ) -> None:
        at = self._clock()
        unique = request_id or uuid.uuid4().hex
        entry = DeliveryEntry(
            workflow_id=workflow_id,
            outcome=outcome.value,
            at=at,
            unique=unique,
            topic_arn=topic_arn,
            message_id=message_id,
            request_id=request_id,
            execution_id=execution_id,
        )
        try:
            self._store.put(
                entry,
                shard=stable_hash(unique) % self._shape.shards,
                expires_at=self._expiry(at),
            )
        except Exception:
            self._failed("could not log the delivery", workflow_id)

    def refused(
        self,
        workflow: LoggedWorkflow,
        code: str,
        sns: SnsHeaders,
        *,
        request_id: str | None,
        key_name: str | None = None,
    ) -> None:
        at = self._clock()
        topic = counter_topic(workflow, sns.topic_arn)
        refusal = Refusal(
            workflow_id=workflow.workflow_id,
            code=code,
            topic_arn=topic,
            sample=RefusalSample(
                at=at,
                request_id=request_id,
                message_id=sns.message_id,
                key_name=key_name,
                topic_arn=sns.topic_arn,
                message_type=sns.message_type,
            ),
        )
        if sns.message_type == NOTIFICATION_TYPE:
            # SNS sends notifications only on a confirmed subscription: the alarm's metric.
            self._on_refused_notification(workflow.workflow_id)
        try:
            self._store.count(
                refusal,
                minute=at.replace(second=0, microsecond=0),
                shard=stable_hash(f"{code}#{topic or ''}") % self._shape.shards,
                slot=stable_hash(request_id or uuid.uuid4().hex) % self._shape.samples,
                expires_at=self._expiry(at),
            )
        except Exception:
            self._failed("could not count the refusal", workflow.workflow_id)

    def _expiry(self, at: datetime) -> int:
        return int((at + self._shape.retention).timestamp())

    def _failed(self, what: str, workflow_id: str) -> None:
        logger.warning("%s of workflow %s", what, workflow_id, exc_info=True)
        try:
            self._on_failure()
        except Exception:
            logger.warning("could not count the log failure", exc_info=True)


def delivery_log_shape(settings: DeliveryLogSettings) -> DeliveryLogShape:
    """The shape every writer and reader of one stack shares, from its settings."""
    return DeliveryLogShape(
        shards=settings.delivery_log_shards,
        retention=timedelta(days=settings.delivery_log_retention_days),
        samples=settings.refusal_samples,
    )
