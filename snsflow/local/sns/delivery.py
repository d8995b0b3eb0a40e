"""HTTP delivery with SNS's retry rules, on a bounded pool of worker threads.

An attempt that gets 200-499 ends the delivery (SNS treats 3xx and 4xx as final too); a 5xx, a
timeout or a connection error schedules the next retry of the subscription's policy. Waiting
retries sit in a time-ordered queue, not in a sleeping thread, so a slow endpoint never blocks
the other deliveries. As with SNS, delivery order is not guaranteed. A delivery that ends
without success — refused, or out of retries — goes to the subscription's dead-letter queue if
it has one (``RedrivePolicy``), else it is dropped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import urllib3

from snsflow.local.sns.dead_letters import DeadLetter, DeadLetterQueues

LOGGER = logging.getLogger("snsflow.local.sns")
#: The delivery log keeps this many most recent attempts.
MAX_LOGGED_ATTEMPTS = 100_000
#: ... and of each answer this many bytes of its body.
MAX_LOGGED_RESPONSE_BYTES = 512


class Outcome(StrEnum):
    """What one attempt led to."""

    DELIVERED = "delivered"  # 2xx
    REJECTED = "rejected"  # 3xx or 4xx: final, SNS does not retry
    RETRYING = "retrying"  # 5xx, timeout or connection error; another attempt is scheduled
    FAILED = "failed"  # as RETRYING, but the policy has no retry left: dropped or dead-lettered


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message (exact bytes and headers) for one subscription, with its retry schedule."""

    subscription_arn: str
    message_id: str
    message_type: str
    endpoint: str
    body: bytes
    headers: Mapping[str, str]
    #: Seconds before each retry (unscaled); its length is the number of retries.
    retry_delays: tuple[float, ...]
    #: ``throttlePolicy.maxReceivesPerSecond`` of the subscription, if any.
    max_receives_per_second: int | None = None
    #: Asked before every attempt; False (e.g. the subscription was deleted) drops the delivery.
    is_wanted: Callable[[], bool] = field(default=lambda: True, compare=False)
    #: True when sent again on purpose (:meth:`DeliveryWorkers.redeliver`), not by a retry.
    redelivery: bool = False
    #: Asked when the delivery ends without success: what goes to the subscription's
    #: dead-letter queue as things stand then (the policy can change meanwhile), or None.
    dead_letter: Callable[[], DeadLetter | None] = field(default=lambda: None, compare=False)


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """A line of the delivery log."""

    subscription_arn: str
    message_id: str
    message_type: str
    #: 1 for the first POST of this message to this subscription; retries and redeliveries count on.
    attempt: int
    status_code: int | None
    error: str | None
    outcome: Outcome
    redelivery: bool
    at: datetime
    #: True when this attempt ended the delivery and the message went to a dead-letter queue.
    dead_lettered: bool = False
    #: The start of the endpoint's answer (as SNS's delivery status logs record the endpoint's
    #: response); None when there was no answer.
    response: str | None = None


@dataclass(order=True, slots=True)
class _Scheduled:
    due: float
    sequence: int
    delivery: Delivery = field(compare=False)
    retries_done: int = field(compare=False, default=0)


class DeliveryWorkers:
    """Runs deliveries on ``workers`` threads; ``delay_scale`` shrinks retry delays locally;
    ``dead_letters`` takes what ends without success (without it, such messages are dropped)."""

    def __init__(
        self,
        *,
        workers: int = 4,
        timeout: float = 15.0,
        delay_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        dead_letters: DeadLetterQueues | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if delay_scale < 0:
            raise ValueError("delay_scale must not be negative")
        self._worker_count = workers
        self._delay_scale = delay_scale
        self._clock = clock
        self._dead_letters = dead_letters
        self._http = urllib3.PoolManager(
            num_pools=16, maxsize=workers, retries=False, timeout=urllib3.Timeout(total=timeout)
        )
        self._condition = threading.Condition()
        self._queue: list[_Scheduled] = []
        self._sequence = itertools.count()
        self._in_flight = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._log: deque[DeliveryAttempt] = deque(maxlen=MAX_LOGGED_ATTEMPTS)
        self._attempt_numbers: dict[tuple[str, str], int] = {}
        self._next_slot: dict[str, float] = {}

    def start(self, name: str = "local-sns") -> None:
        """Start the worker threads, named ``<name>-delivery-<n>``."""
        with self._condition:
            if self._threads:
                raise RuntimeError("the delivery workers are already running")
            self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-delivery-{n}", daemon=True)
            for n in range(self._worker_count)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop after the attempts in progress; deliveries still waiting are dropped."""
        with self._condition:
            self._stopping = True
            dropped = len(self._queue)
            self._queue.clear()
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._http.clear()
        if dropped:
            LOGGER.info("local SNS stopped with %d deliveries still waiting", dropped)

    def submit(self, delivery: Delivery) -> None:
        self._schedule(delivery, due=self._clock(), retries_done=0)

    def wait_until_idle(self, timeout: float) -> bool:
        """Block until no delivery is waiting or in progress; False if ``timeout`` ran out."""
        with self._condition:
            return self._condition.wait_for(
                lambda: not self._queue and not self._in_flight, timeout=timeout
            )

    def attempts(self) -> list[DeliveryAttempt]:
        with self._condition:
            return list(self._log)

    def _schedule(self, delivery: Delivery, *, due: float, retries_done: int) -> None:
        with self._condition:
            if self._stopping:
                return
            item = _Scheduled(due, next(self._sequence), delivery, retries_done)
            heapq.heappush(self._queue, item)
            self._condition.notify_all()

    def _work(self) -> None:
        while True:
            item = self._next_due()
            if item is None:
                return
            try:
                self._attempt(item)
            except Exception:  # a bug here must not kill the worker or leave the queue busy
                LOGGER.exception("delivery of %s failed unexpectedly", item.delivery.message_id)
            finally:
                with self._condition:
                    self._in_flight -= 1
                    self._condition.notify_all()

    def _next_due(self) -> _Scheduled | None:
        """Take the next delivery that is due (and within its throttle), or None when stopping."""
        with self._condition:
            while True:
                if self._stopping:
                    return None
                now = self._clock()
                if self._queue and self._queue[0].due <= now:
                    item = heapq.heappop(self._queue)
                    slot = self._throttle_slot(item.delivery, now)
                    if slot > now:
                        item.due = slot
                        heapq.heappush(self._queue, item)
                        continue
                    self._in_flight += 1
                    return item
                wait = self._queue[0].due - now if self._queue else None
                self._condition.wait(timeout=wait)

    def _throttle_slot(self, delivery: Delivery, now: float) -> float:
        """When this delivery may go, reserving that slot if it is now (lock held)."""
        rate = delivery.max_receives_per_second
        if rate is None:
            return now
        slot = self._next_slot.get(delivery.subscription_arn, now)
        if slot <= now:
            self._next_slot[delivery.subscription_arn] = max(slot, now) + 1.0 / rate
            return now
        return slot

    def _attempt(self, item: _Scheduled) -> None:
        delivery = item.delivery
        if not delivery.is_wanted():
            LOGGER.info(
                "dropping %s %s: subscription %s is gone",
                delivery.message_type,
                delivery.message_id,
                delivery.subscription_arn,
            )
            return
        status, error, response = self._post(delivery)
        retryable = status is None or status >= 500
        has_retry = item.retries_done < len(delivery.retry_delays)
        if not retryable:
            outcome = Outcome.DELIVERED if status is not None and status < 300 else Outcome.REJECTED
        else:
            outcome = Outcome.RETRYING if has_retry else Outcome.FAILED
        dead_lettered = outcome in (Outcome.REJECTED, Outcome.FAILED) and self._dead_letter(
            delivery
        )
        self._record(
            delivery, status, error, outcome, dead_lettered=dead_lettered, response=response
        )
        if outcome is Outcome.RETRYING:
            delay = delivery.retry_delays[item.retries_done] * self._delay_scale
            self._schedule(delivery, due=self._clock() + delay, retries_done=item.retries_done + 1)

    def _dead_letter(self, delivery: Delivery) -> bool:
        """Send the message to the subscription's dead-letter queue; True if it went there."""
        letter = delivery.dead_letter()
        if letter is None or self._dead_letters is None:
            return False
        try:
            self._dead_letters.send(letter)
        except Exception:  # as with SNS (NumberOfNotificationsFailedToRedriveToDlq): it is lost
            LOGGER.warning(
                "%s %s could not be sent to the dead-letter queue %s",
                delivery.message_type,
                delivery.message_id,
                letter.queue_arn,
                exc_info=True,
            )
            return False
        return True

    def _post(self, delivery: Delivery) -> tuple[int | None, str | None, str | None]:
        """The answer's status, what went wrong when there was none, and its body's start."""
        try:
            response = self._http.request(
                "POST",
                delivery.endpoint,
                body=delivery.body,
                headers=dict(delivery.headers),
                redirect=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:
            # Checked first: urllib3 makes it a subclass of its timeout errors.
            return None, f"connection error: {type(exc).__name__}", None
        except urllib3.exceptions.TimeoutError:
            return None, "timeout", None
        except urllib3.exceptions.HTTPError as exc:
            return None, f"connection error: {type(exc).__name__}", None
        body = response.data[:MAX_LOGGED_RESPONSE_BYTES].decode("utf-8", "replace")
        return response.status, None, body

    def _record(
        self,
        delivery: Delivery,
        status: int | None,
        error: str | None,
        outcome: Outcome,
        *,
        dead_lettered: bool = False,
        response: str | None = None,
    ) -> None:
        key = (delivery.message_id, delivery.subscription_arn)
        with self._condition:
            number = self._attempt_numbers.get(key, 0) + 1
            self._attempt_numbers[key] = number
            self._log.append(
                DeliveryAttempt(
                    subscription_arn=delivery.subscription_arn,
                    message_id=delivery.message_id,
                    message_type=delivery.message_type,
                    attempt=number,
                    status_code=status,
                    error=error,
                    outcome=outcome,
                    redelivery=delivery.redelivery,
                    at=datetime.now(UTC),
                    dead_lettered=dead_lettered,
                    response=response,
                )
            )
        # The endpoint URL is not logged: it carries the API key in its query string.
        LOGGER.info(
            "%s %s to %s, attempt %d: %s (%s%s)",
            delivery.message_type,
            delivery.message_id,
            delivery.subscription_arn,
            number,
            status if status is not None else error,
            outcome.value,
            ", sent to the dead-letter queue" if dead_lettered else "",
        )
