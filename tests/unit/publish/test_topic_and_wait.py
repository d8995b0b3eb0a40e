"""Which topic ``snsflow publish`` uses, and how it follows the execution to its end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snsflow.errors import SnsflowError
from snsflow.publish import NoTopicError, choose_topic, confirmed_topics, wait_for_execution
from snsflow.query import ExecutionDetail
from snsflow.store.executions import ExecutionStatus
from tests.unit.publish.builders import OTHER_TOPIC, TOPIC, execution, workflow

EXECUTION_ID = "order-events.m-1"


def test_the_one_confirmed_topic_is_chosen_whatever_else_is_pending() -> None:
    view = workflow({TOPIC: "confirmed", OTHER_TOPIC: "pending"})

    assert str(choose_topic(view)) == TOPIC


def test_several_confirmed_topics_ask_for_one_naming_them() -> None:
    view = workflow({OTHER_TOPIC: "confirmed", TOPIC: "confirmed"})

    with pytest.raises(NoTopicError) as refused:
        choose_topic(view)

    assert "2 confirmed subscriptions: name one with --topic ARN" in refused.value.message
    assert f"({TOPIC}, {OTHER_TOPIC})" in refused.value.message


def test_a_long_list_of_topics_is_cut_short() -> None:
    topics = {f"{TOPIC}-{n}": "confirmed" for n in range(8)}

    with pytest.raises(NoTopicError, match="and 3 more"):
        choose_topic(workflow(topics))


def test_no_subscription_says_how_to_subscribe() -> None:
    with pytest.raises(NoTopicError) as refused:
        choose_topic(workflow())

    assert refused.value.message == (
        "workflow 'order-events' has no confirmed subscription: subscribe a topic first "
        "(snsflow subscribe order-events TOPIC_ARN), or name one with --topic ARN"
    )


def test_subscriptions_not_confirmed_are_named_with_their_status() -> None:
    view = workflow({TOPIC: "pending", OTHER_TOPIC: "unsubscribed"})

    with pytest.raises(NoTopicError) as refused:
        choose_topic(view)

    assert f"(not confirmed: {TOPIC} (pending), {OTHER_TOPIC} (unsubscribed))" in (
        refused.value.message
    )
    assert confirmed_topics(view) == []


def test_a_confirmed_topic_that_is_no_topic_arn_is_a_failure_not_a_usage_error() -> None:
    view = workflow({"arn:aws:sns:eu-west-1:123456789012:orders.fifo": "confirmed"})

    with pytest.raises(SnsflowError, match="not usable") as refused:
        choose_topic(view)

    assert not isinstance(refused.value, NoTopicError)


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _reads(*answers: ExecutionDetail | None) -> Iterator[ExecutionDetail | None]:
    yield from answers
    raise AssertionError("read after the execution ended")


def test_waiting_reports_each_new_status_and_returns_the_end() -> None:
    clock = FakeClock()
    reads = _reads(
        None,
        execution(EXECUTION_ID, ExecutionStatus.RECEIVED),
        execution(EXECUTION_ID, ExecutionStatus.RUNNING),
        execution(EXECUTION_ID, ExecutionStatus.RUNNING),
        execution(EXECUTION_ID, ExecutionStatus.SUCCEEDED),
    )
    heard: list[tuple[ExecutionStatus, float]] = []

    detail = wait_for_execution(
        lambda: next(reads),
        timeout=60,
        interval=0.5,
        on_change=lambda d, elapsed: heard.append((d.status, elapsed)),
        clock=clock,
        sleep=clock.sleep,
    )

    assert detail is not None
    assert detail.status is ExecutionStatus.SUCCEEDED
    assert heard == [
        (ExecutionStatus.RECEIVED, 0.5),
        (ExecutionStatus.RUNNING, 1.0),
        (ExecutionStatus.SUCCEEDED, 2.0),
    ]


@pytest.mark.parametrize(
    "end", [ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED]
)
def test_any_end_stops_the_wait(end: ExecutionStatus) -> None:
    clock = FakeClock()
    reads = _reads(execution(EXECUTION_ID, end))

    detail = wait_for_execution(
        lambda: next(reads), timeout=60, interval=0.5, clock=clock, sleep=clock.sleep
    )

    assert detail is not None
    assert detail.status is end
    assert clock.sleeps == []


def test_without_a_record_the_wait_ends_at_the_deadline_with_nothing() -> None:
    clock = FakeClock()

    detail = wait_for_execution(
        lambda: None, timeout=2.2, interval=0.5, clock=clock, sleep=clock.sleep
    )

    assert detail is None
    assert clock.now == pytest.approx(2.2)
    assert clock.sleeps[-1] == pytest.approx(0.2)  # never past the deadline


def test_a_run_still_going_at_the_deadline_is_returned_as_last_seen() -> None:
    clock = FakeClock()
    running = execution(EXECUTION_ID, ExecutionStatus.RUNNING)

    detail = wait_for_execution(
        lambda: running, timeout=1.0, interval=0.5, clock=clock, sleep=clock.sleep
    )

    assert detail == running
