"""The delivery log against moto: entries, refusal counters, pages and derived health."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snsflow import aws
from snsflow.deliveries import DeliveryLog, DeliveryLogShape, DeliveryOutcome, SnsHeaders
from snsflow.delivery_reads import DeliveryFilters, DeliveryReader
from snsflow.pagination import PageTokens
from snsflow.query import InvalidParameterError
from snsflow.store.deliveries import DeliveryLogStore
from snsflow.store.subscriptions import (
    SnsCheck,
    SnsCheckResult,
    SubscriptionRecord,
    SubscriptionStore,
)
from tests.unit.executions.fakes import Clock

TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:elsewhere"
START = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
SHAPE = DeliveryLogShape(shards=4, retention=timedelta(days=7), samples=3)


@dataclass(frozen=True)
class Workflow:
    workflow_id: str = "order-events"
    allowed_topic_arns: tuple[str, ...] | None = (TOPIC,)


@dataclass
class Log:
    log: DeliveryLog
    reader: DeliveryReader
    clock: Clock
    table: Any
    subscriptions: SubscriptionStore
    failures: list[str]
    refused_notifications: list[str]


@pytest.fixture
def log(dynamodb_tables: dict[str, str]) -> Log:
    resource = aws.dynamodb_resource()
    table = resource.Table(dynamodb_tables["Deliveries"])
    store = DeliveryLogStore(table)
    clock = Clock(START)
    failures: list[str] = []
    refused: list[str] = []
    # Every refusal written at once here; the batching has tests of its own.
    return Log(
        log=DeliveryLog(
            store,
            SHAPE,
            clock=clock,
            on_failure=lambda: failures.append("failed"),
            on_refused_notifications=lambda workflow_id, n: refused.extend([workflow_id] * n),
            flush_interval=timedelta(0),
        ),
        reader=DeliveryReader(
            store,
            SHAPE,
            tokens=PageTokens(b"s" * 32),
            clock=clock,
            silent_after=timedelta(hours=24),
        ),
        clock=clock,
        table=table,
        subscriptions=SubscriptionStore(resource.Table(dynamodb_tables["Subscriptions"])),
        failures=failures,
        refused_notifications=refused,
    )


def _accept(log: Log, n: int, topic: str = TOPIC) -> None:
    for i in range(n):
        log.clock.now += timedelta(seconds=1)
        log.log.delivered(
            "order-events",
            DeliveryOutcome.ACCEPTED,
            request_id=f"req-{log.clock.now.timestamp()}-{i}",
            topic_arn=topic,
            message_id=f"m-{i}",
            execution_id=f"order-events.m-{i}",
        )


def _refuse(log: Log, n: int, code: str = "revoked_api_key", **headers: str) -> None:
    sns = SnsHeaders.of(headers or {"x-amz-sns-topic-arn": TOPIC})
    for i in range(n):
        log.clock.now += timedelta(milliseconds=10)
        log.log.refused(Workflow(), code, sns, request_id=f"r-{code}-{i}", key_name="prod-sns")


def _all_items(log: Log) -> list[dict[str, Any]]:
    return list(log.table.scan()["Items"])


def test_accepted_deliveries_spread_over_the_shards_and_page_newest_first(log: Log) -> None:
    _accept(log, 30)

    partitions = {item["partition"] for item in _all_items(log)}
    assert len(partitions) > 1  # not one hot key
    assert partitions <= {f"order-events#{shard}" for shard in range(SHAPE.shards)}

    seen: list[str] = []
    token = None
    while True:
        page = log.reader.page(
            "order-events", DeliveryFilters(None, None, None), limit=7, next_token=token
        )
        seen += [row.message_id or "" for row in page.items]
        assert all(row.outcome is DeliveryOutcome.ACCEPTED for row in page.items)
        token = page.next_token
        if token is None:
            break
    assert seen == [f"m-{i}" for i in reversed(range(30))]


def test_a_flood_of_refusals_writes_one_counter_per_code_and_minute(log: Log) -> None:
    _refuse(log, 500)  # 5 s of refusals, one minute
    _refuse(log, 200, code="missing_api_key")

    items = _all_items(log)
    assert len(items) == 2
    rows = log.reader.page(
        "order-events",
        DeliveryFilters(DeliveryOutcome.REFUSED, None, None),
        limit=10,
        next_token=None,
    ).items
    assert {(row.code, row.count) for row in rows} == {
        ("revoked_api_key", 500),
        ("missing_api_key", 200),
    }
    revoked = next(row for row in rows if row.code == "revoked_api_key")
    assert revoked.sampled
    assert revoked.topic_arn == TOPIC
    assert revoked.key_name == "prod-sns"
    assert revoked.samples is not None
    assert 1 <= len(revoked.samples) <= SHAPE.samples
    assert all(item["expiresAt"] > START.timestamp() for item in items)


def test_a_topic_the_workflow_does_not_name_makes_no_counter_of_its_own(log: Log) -> None:
    for i in range(50):
        _refuse(log, 1, code="topic_not_allowed", **{"x-amz-sns-topic-arn": f"{TOPIC}-{i}"})

    assert len(_all_items(log)) == 1


def test_refused_notifications_are_counted_for_the_alarm(log: Log) -> None:
    _refuse(log, 3, **{"x-amz-sns-topic-arn": TOPIC, "x-amz-sns-message-type": "Notification"})
    _refuse(log, 2)

    assert log.refused_notifications == ["order-events"] * 3


def test_a_confirmed_subscription_whose_deliveries_are_refused_is_failing(log: Log) -> None:
    log.subscriptions.mark_confirmed(
        "order-events", TOPIC, subscription_arn=None, message_time=START, at=START
    )
    _accept(log, 3)
    records = log.subscriptions.list_for_workflow("order-events")
    assert log.reader.health("order-events", records)[0][TOPIC].health == "confirmed"

    _refuse(log, 4)

    health = log.reader.health("order-events", records)[0][TOPIC]
    assert health.health == "failing"
    assert health.refusals_last_hour == 4
    assert health.last_refusal_code == "revoked_api_key"
    assert health.last_accepted_at is not None
    assert health.last_delivery_at is not None
    assert health.last_delivery_at > health.last_accepted_at

    _accept(log, 1)  # the key is fixed: deliveries are accepted again
    assert log.reader.health("order-events", records)[0][TOPIC].health == "confirmed"


def test_an_accepted_delivery_after_an_unsubscribe_corrects_it(log: Log) -> None:
    log.subscriptions.mark_unsubscribed("order-events", TOPIC, message_time=START, at=START)
    records = log.subscriptions.list_for_workflow("order-events")
    assert log.reader.health("order-events", records)[0][TOPIC].health == "unsubscribed"

    _accept(log, 1)

    assert log.reader.health("order-events", records)[0][TOPIC].health == "confirmed"


def test_a_confirmed_topic_that_never_delivers_turns_silent(log: Log) -> None:
    log.subscriptions.mark_confirmed(
        "order-events", TOPIC, subscription_arn=None, message_time=START, at=START
    )
    records = log.subscriptions.list_for_workflow("order-events")
    log.clock.now = START + timedelta(hours=25)

    assert log.reader.health("order-events", records)[0][TOPIC].health == "silent"


def test_a_refused_confirmation_of_an_unknown_topic_is_shown(log: Log) -> None:
    headers = {
        "x-amz-sns-topic-arn": OTHER_TOPIC,
        "x-amz-sns-message-type": "SubscriptionConfirmation",
    }
    _refuse(log, 1, code="topic_not_allowed", **headers)

    healths, unrecorded = log.reader.health("order-events", [])

    assert [record.topic_arn for record in unrecorded] == [OTHER_TOPIC]
    assert healths[OTHER_TOPIC].health == "refused"
    assert healths[OTHER_TOPIC].last_refusal_code == "topic_not_allowed"


def test_a_log_write_failure_is_counted_never_raised(log: Log) -> None:
    log.table.delete()

    _accept(log, 1)
    _refuse(log, 1)

    assert log.failures == ["failed", "failed"]


@pytest.mark.parametrize("outcome", ["nope", "ACCEPTED!", "x" * 50])
def test_an_unknown_outcome_is_a_400_naming_the_parameter(outcome: str) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        DeliveryFilters.from_parameters(outcome, None, None)
    assert refused.value.parameter == "outcome"


def test_a_flood_writes_each_counter_at_most_once_a_second_and_loses_no_count(
    log: Log,
) -> None:
    calls: list[int] = []
    store = DeliveryLogStore(log.table)

    class CountingStore:
        def put(self, *args: Any, **kwargs: Any) -> None:
            store.put(*args, **kwargs)

        def count(self, *args: Any, **kwargs: Any) -> None:
            calls.append(kwargs["count"])
            store.count(*args, **kwargs)

    batching = DeliveryLog(CountingStore(), SHAPE, clock=log.clock)
    sns = SnsHeaders.of({"x-amz-sns-topic-arn": TOPIC})
    for i in range(1000):  # 10 s of 100 refusals a second
        log.clock.now += timedelta(milliseconds=10)
        batching.refused(Workflow(), "missing_api_key", sns, request_id=f"r-{i}")
    log.clock.now += timedelta(seconds=1)
    batching.delivered("order-events", DeliveryOutcome.ACCEPTED, request_id="later")

    assert calls[0] == 1  # the first refusal is written at once
    assert len(calls) <= 12  # then about once a second
    [counter] = [item for item in _all_items(log) if item["outcome"] == "refused"]
    assert counter["count"] == 1000  # what was pending went out with the next request


def test_what_is_pending_goes_out_with_a_request_that_logs_nothing(log: Log) -> None:
    store = DeliveryLogStore(log.table)
    batching = DeliveryLog(store, SHAPE, clock=log.clock)
    sns = SnsHeaders.of({"x-amz-sns-topic-arn": TOPIC})
    for i in range(5):
        log.clock.now += timedelta(milliseconds=10)
        batching.refused(Workflow(), "revoked_api_key", sns, request_id=f"r-{i}")
    batching.write_due()  # within the second: nothing more is written
    [counter] = _all_items(log)
    assert counter["count"] == 1

    log.clock.now += timedelta(seconds=1)
    batching.write_due()  # e.g. the authorizer allowing a request

    [counter] = _all_items(log)
    assert counter["count"] == 5


SUBSCRIPTION_ARN = f"{TOPIC}:0b5d3c3e-6f4d-4b7c-9d4e-0c1f2a3b4c5d"


def _checked(log: Log, result: SnsCheckResult) -> list[SubscriptionRecord]:
    """The topic confirmed by the webhook, then checked against SNS with ``result`` now."""
    log.subscriptions.mark_confirmed(
        "order-events", TOPIC, subscription_arn=SUBSCRIPTION_ARN, message_time=START, at=START
    )
    check = SnsCheck(result=result, checked_at=log.clock.now)
    assert log.subscriptions.record_sns_check("order-events", TOPIC, SUBSCRIPTION_ARN, check)
    return log.subscriptions.list_for_workflow("order-events")


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (SnsCheckResult.NOT_FOUND, "checked against SNS: the subscription no longer exists"),
        (SnsCheckResult.OTHER_ENDPOINT, "checked against SNS: subscribed to another endpoint"),
    ],
)
def test_what_sns_says_wins_until_a_notification_is_accepted(
    log: Log, result: SnsCheckResult, reason: str
) -> None:
    _accept(log, 2)
    log.clock.now += timedelta(minutes=1)
    records = _checked(log, result)

    health = log.reader.health("order-events", records)[0][TOPIC]
    assert (health.health, health.health_reason) == ("unsubscribed", reason)

    _accept(log, 1)  # what arrives after the check wins, as for an UnsubscribeConfirmation
    health = log.reader.health("order-events", records)[0][TOPIC]
    assert (health.health, health.health_reason) == ("confirmed", None)


def test_a_subscription_pending_at_sns_reads_pending(log: Log) -> None:
    health = log.reader.health("order-events", _checked(log, SnsCheckResult.PENDING))[0][TOPIC]
    assert (health.health, health.health_reason) == (
        "pending",
        "checked against SNS: pending confirmation",
    )


def test_sns_still_subscribed_after_an_unsubscribe_confirmation_reads_confirmed(
    log: Log,
) -> None:
    log.subscriptions.mark_confirmed(
        "order-events", TOPIC, subscription_arn=SUBSCRIPTION_ARN, message_time=START, at=START
    )
    log.clock.now += timedelta(minutes=1)
    # A relayed UnsubscribeConfirmation (another endpoint's): the record says unsubscribed...
    log.subscriptions.mark_unsubscribed(
        "order-events", TOPIC, message_time=log.clock.now, at=log.clock.now
    )
    records = log.subscriptions.list_for_workflow("order-events")
    assert log.reader.health("order-events", records)[0][TOPIC].health == "unsubscribed"

    # ...and SNS, asked later, still has the subscription delivering here.
    log.clock.now += timedelta(minutes=5)
    check = SnsCheck(result=SnsCheckResult.SUBSCRIBED, checked_at=log.clock.now)
    assert log.subscriptions.record_sns_check("order-events", TOPIC, SUBSCRIPTION_ARN, check)
    records = log.subscriptions.list_for_workflow("order-events")

    assert log.reader.health("order-events", records)[0][TOPIC].health == "confirmed"


CODES = ("invalid_api_key", "missing_api_key", "revoked_api_key", "key_not_bound")


def test_threads_sharing_one_log_lose_no_refusal_and_never_fail() -> None:
    """The local stack's gateway serves requests on threads that share one function instance:
    two of them writing the same counter once raised KeyError in the authorizer."""
    counted: list[int] = []
    counting = threading.Lock()

    class SlowStore:
        def put(self, *args: Any, **kwargs: Any) -> None:
            pass

        def count(self, *args: Any, **kwargs: Any) -> None:
            time.sleep(0.0005)  # a write's round trip, so that threads overlap inside it
            with counting:
                counted.append(kwargs["count"])

    shared = DeliveryLog(SlowStore(), SHAPE, clock=lambda: START, flush_interval=timedelta(0))
    sns = SnsHeaders.of({"x-amz-sns-topic-arn": TOPIC})
    errors: list[BaseException] = []

    def refuse_many(thread: int) -> None:
        try:
            for i in range(200):
                code = CODES[(thread + i) % len(CODES)]  # several counters pending at once
                shared.refused(Workflow(), code, sns, request_id=f"t{thread}-{i}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=refuse_many, args=(n,)) for n in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, inside the counter's code
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    assert errors == []
    assert sum(counted) == 8 * 200
