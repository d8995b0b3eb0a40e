"""The delivery log's writing side: what each request for an existing workflow came to.

The webhook logs every delivery it handles (accepted, duplicate, confirmed, unsubscribed) as
one item, and every request it refuses; the authorizer logs the requests it refuses for a
workflow (no key, a wrong, revoked or expired key, a key not bound to it). Two rules keep the
log from turning a flood into cost:

* a refusal is never an item of its own: it is counted in its (workflow, code, topic, minute)
  counter, which keeps a few samples in fixed slots, and each function instance adds to a
  counter at most once a second (:class:`DeliveryLog`). A flood writes a bounded number of
  items at a bounded rate; the topic of a counter is one the workflow names, else none (a
  sender choosing topic names must not choose how many items exist);
* only existing workflows get a log (an unknown id in the path is answered, not logged).

Logging is best effort and comes after the work: a delivery is claimed and started before its
entry is written, and a failed log write is a warning and a metric, never a changed answer.
"""

from __future__ import annotations

import logging
import threading
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
        self,
        refusal: Refusal,
        *,
        count: int,
        minute: datetime,
        shard: int,
        slot: int,
        expires_at: int,
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


@dataclass
class _PendingRefusals:
    """Refusals of one counter not written yet: how many (notifications among them), and the
    first one's sample."""

    refusal: Refusal
    minute: datetime
    count: int = 0
    notifications: int = 0


class DeliveryLog:
    """Writes the log; never raises (a failure calls ``on_failure`` and is logged).

    Refusals are counted in memory and written at most once per ``flush_interval`` per counter
    (the first at once): a flood costs each function instance a write per counter and second,
    not one per request. What is counted after a counter's last write goes out with the
    instance's next request once the interval has passed; an instance that never gets another
    request takes at most that second's count with it (the counts are a lower bound, never an
    overcount)."""

    def __init__(
        self,
        store: DeliveryLogWriter,
        shape: DeliveryLogShape,
        *,
        clock: Callable[[], datetime],
        on_failure: Callable[[], None] = lambda: None,
        on_refused_notifications: Callable[[str, int], None] = lambda _workflow_id, _n: None,
        flush_interval: timedelta = timedelta(seconds=1),
    ) -> None:
        self._store = store
        self._shape = shape
        self._clock = clock
        self._on_failure = on_failure
        self._on_refused_notifications = on_refused_notifications
        self._flush_interval = flush_interval
        self._pending: dict[tuple[str, str, str | None, datetime], _PendingRefusals] = {}
        #: When each counter was last written by this instance (its current minute only).
        self._written_at: dict[tuple[str, str, str | None, datetime], datetime] = {}
        # Lambda (and the local stack, snsflow.local.stack.one_instance) gives an instance one
        # request at a time; a caller sharing one log between threads must still not have two
        # of them take the same counter (an uncontended lock costs next to nothing).
        self._lock = threading.Lock()

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
        self._write_due(at)

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
        minute = at.replace(second=0, microsecond=0)
        key = (workflow.workflow_id, code, topic, minute)
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
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
                pending = self._pending[key] = _PendingRefusals(refusal, minute)
            pending.count += 1
            if sns.message_type == NOTIFICATION_TYPE:
                # SNS sends notifications only on a confirmed subscription: the alarm's metric.
                pending.notifications += 1
        self._write_due(at)

    def write_due(self) -> None:
        """Write what is due; for a request that logs nothing (an allowed one), so that counts
        go out with the instance's next request of any kind. Free when nothing is pending."""
        if self._pending:
            self._write_due(self._clock())

    def _write_due(self, now: datetime) -> None:
        """Write every counter with refusals pending whose last write is an interval old."""
        due: list[_PendingRefusals] = []
        with self._lock:
            for key in list(self._pending):
                written = self._written_at.get(key)
                if written is None or now - written >= self._flush_interval:
                    due.append(self._pending.pop(key))
                    self._written_at[key] = now
            # A counter of an earlier minute is written at most once more: forget it.
            current = now.replace(second=0, microsecond=0)
            self._written_at = {
                key: at
                for key, at in self._written_at.items()
                if key[3] >= current or key in self._pending
            }
        for pending in due:
            self._write(pending, now)

    def _write(self, pending: _PendingRefusals, now: datetime) -> None:
        refusal = pending.refusal
        if pending.notifications:
            self._on_refused_notifications(refusal.workflow_id, pending.notifications)
        try:
            self._store.count(
                refusal,
                count=pending.count,
                minute=pending.minute,
                shard=stable_hash(f"{refusal.code}#{refusal.topic_arn or ''}") % self._shape.shards,
                slot=stable_hash(refusal.sample.request_id or uuid.uuid4().hex)
                % self._shape.samples,
                expires_at=self._expiry(now),
            )
        except Exception:
            self._failed("could not count the refusals", refusal.workflow_id)

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
