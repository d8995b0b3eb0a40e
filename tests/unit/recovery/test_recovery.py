"""Recovery from a dead-letter queue, on in-memory fakes: each notification into its workflow
exactly once, the record saying who recovered it, and every other message left with a reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from snsflow.executions import ExecutionLauncher, execution_id
from snsflow.recovery import LeftReason, Outcome, QueueMessage, Recovery, RecoveryReport
from snsflow.sns import Notification, parse_message
from snsflow.sqs import QueueUnavailableError
from snsflow.store.executions import ExecutionClaim, ExecutionRecord, ExecutionStatus, RecoveryNote
from tests.support.sns import FakeCertificateFetcher, SnsTestSigner
from tests.unit.executions.fakes import (
    OUTAGE,
    Clock,
    FakeStarter,
    InMemoryExecutionRecords,
    workflow,
)

TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:payments"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"
OPERATOR = "arn:aws:iam::123456789012:user/ops"
WORKFLOW = workflow(allowed_topic_arns=(TOPIC,))


@dataclass
class InMemoryQueue:
    """A dead-letter queue: received messages are hidden until deleted or released."""

    url: str = QUEUE_URL
    visible: list[QueueMessage] = field(default_factory=list)
    hidden: list[QueueMessage] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    receive_failure: Exception | None = None
    delete_failure: Exception | None = None

    def put(self, body: str) -> QueueMessage:
        message = QueueMessage(
            sqs_message_id=f"sqs-{len(self.visible) + len(self.hidden) + len(self.deleted)}",
            receipt_handle=f"handle-{body[:8]}",
            body=body,
        )
        self.visible.append(message)
        return message

    def receive(
        self, *, max_messages: int, visibility_timeout: int, wait_seconds: int
    ) -> list[QueueMessage]:
        if self.receive_failure is not None:
            raise self.receive_failure
        count = min(max_messages, 10)
        batch, self.visible = self.visible[:count], self.visible[count:]
        self.hidden.extend(batch)
        return batch

    def delete(self, message: QueueMessage) -> None:
        if self.delete_failure is not None:
            raise self.delete_failure
        self.hidden.remove(message)
        self.deleted.append(message.sqs_message_id)

    def release(self, messages: Sequence[QueueMessage]) -> None:
        for message in messages:
            self.hidden.remove(message)
            self.visible.append(message)

    @property
    def remaining(self) -> int:
        return len(self.visible) + len(self.hidden)


@dataclass
class RecoverableRecords(InMemoryExecutionRecords):
    notes: dict[tuple[str, str], list[RecoveryNote]] = field(default_factory=dict)
    note_failure: Exception | None = None
    claim_failure: Exception | None = None

    def claim(self, claim: ExecutionClaim) -> ExecutionRecord:
        if self.claim_failure is not None:
            raise self.claim_failure
        return super().claim(claim)

    def get(self, workflow_id: str, message_id: str) -> ExecutionRecord | None:
        return self.records.get((workflow_id, message_id))

    def record_recovery(self, workflow_id: str, message_id: str, note: RecoveryNote) -> bool:
        if self.note_failure is not None:
            raise self.note_failure
        if (workflow_id, message_id) not in self.records:
            return False
        self.notes.setdefault((workflow_id, message_id), []).append(note)
        return True


@dataclass
class World:
    signer: SnsTestSigner
    queue: InMemoryQueue
    records: RecoverableRecords
    starter: FakeStarter
    clock: Clock
    recovery: Recovery

    def run(self, *, dry_run: bool = False, max_messages: int = 100) -> RecoveryReport:
        return self.recovery.run(WORKFLOW, max_messages=max_messages, dry_run=dry_run)

    def run_by_webhook(self, body: str) -> None:
        """What the webhook does with a delivery of ``body`` that got through."""
        notification = self.signer.verifier().verify(parse_message(body))
        assert isinstance(notification, Notification)
        launcher = ExecutionLauncher(
            self.records, self.starter, clock=self.clock, retention=timedelta(days=30)
        )
        launcher.accept(WORKFLOW, notification)


def _world(fetcher: FakeCertificateFetcher | None = None) -> World:
    signer = SnsTestSigner(topic_arn=TOPIC)
    queue = InMemoryQueue()
    records = RecoverableRecords()
    starter = FakeStarter()
    clock = Clock(datetime.now(UTC))
    launcher = ExecutionLauncher(records, starter, clock=clock, retention=timedelta(days=30))
    recovery = Recovery(
        queue=queue,
        verifier=signer.verifier(fetcher=fetcher, max_age=timedelta(days=15)),
        launcher=launcher,
        records=records,
        operator=OPERATOR,
        clock=clock,
    )
    return World(signer, queue, records, starter, clock, recovery)


@pytest.fixture
def world() -> World:
    return _world()


def _message_id(body: str) -> str:
    return str(json.loads(body)["MessageId"])


def test_a_dead_letter_is_recorded_started_noted_and_deleted(world: World) -> None:
    body = world.signer.notification('{"orderId": "R-1"}')
    world.queue.put(body)

    report = world.run()

    [message] = report.messages
    message_id = _message_id(body)
    assert (message.outcome, message.deleted, message.started) == (Outcome.RECOVERED, True, True)
    assert message.execution_id == execution_id(WORKFLOW.workflow_id, message_id)
    record = world.records.get(WORKFLOW.workflow_id, message_id)
    assert record is not None
    assert record.status is ExecutionStatus.RUNNING
    assert list(world.starter.started) == [message_id]
    [note] = world.records.notes[(WORKFLOW.workflow_id, message_id)]
    assert (note.by, note.at, note.outcome) == (OPERATOR, world.clock.now, "recovered")
    assert (note.queue, note.sqs_message_id) == (QUEUE_URL, message.sqs_message_id)
    assert world.queue.remaining == 0


def test_running_recover_twice_runs_nothing_twice(world: World) -> None:
    body = world.signer.notification("once")
    world.queue.put(body)
    world.run()
    # SNS may dead-letter the same message twice; the second copy is a duplicate.
    world.queue.put(body)

    second = world.run()
    third = world.run()

    assert [m.outcome for m in second.messages] == [Outcome.DUPLICATE]
    assert second.messages[0].deleted
    assert third.messages == ()
    assert world.starter.calls == 1
    notes = world.records.notes[(WORKFLOW.workflow_id, _message_id(body))]
    assert [n.outcome for n in notes] == ["recovered", "duplicate"]


def test_a_message_the_webhook_already_ran_is_reported_as_a_duplicate_and_not_run_again(
    world: World,
) -> None:
    body = world.signer.notification("seen before")
    world.run_by_webhook(body)
    calls = world.starter.calls
    world.queue.put(body)

    report = world.run()

    assert [(m.outcome, m.deleted) for m in report.messages] == [(Outcome.DUPLICATE, True)]
    assert world.starter.calls == calls
    record = world.records.get(WORKFLOW.workflow_id, _message_id(body))
    assert record is not None
    assert record.deliveries == 2


@pytest.mark.parametrize(
    ("make_body", "reason"),
    [
        (lambda s: s.notification("x", topic_arn=OTHER_TOPIC), LeftReason.TOPIC_NOT_ALLOWED),
        (lambda s: s.subscription_confirmation(), LeftReason.NOT_A_NOTIFICATION),
        (
            lambda s: s.notification("x").replace('"Message": "x"', '"Message": "y"'),
            LeftReason.SIGNATURE_INVALID,
        ),
        (lambda s: '{"Type": "Notification", "SignatureVersion": "1"}', LeftReason.MALFORMED),
        (lambda s: "a raw delivery's bare message", LeftReason.RAW_MESSAGE),
        (
            lambda s: s.notification("x", timestamp=datetime.now(UTC) - timedelta(days=16)),
            LeftReason.SIGNATURE_INVALID,
        ),
    ],
)
def test_a_message_that_cannot_be_recovered_is_left_in_the_queue_with_the_reason(
    world: World, make_body: object, reason: LeftReason
) -> None:
    world.queue.put(make_body(world.signer))  # type: ignore[operator]

    report = world.run()

    [message] = report.messages
    assert (message.outcome, message.reason, message.deleted) == (Outcome.LEFT, reason, False)
    assert message.detail
    assert world.records.records == {}
    assert world.starter.calls == 0
    assert len(world.queue.visible) == 1  # released: visible again at once
    assert not report.needs_another_run


def test_the_freshness_window_is_days_not_hours(world: World) -> None:
    world.queue.put(
        world.signer.notification("late", timestamp=datetime.now(UTC) - timedelta(days=13))
    )

    [message] = world.run().messages

    assert message.outcome is Outcome.RECOVERED


def test_a_dry_run_writes_nothing_deletes_nothing_and_says_what_would_happen(
    world: World,
) -> None:
    seen = world.signer.notification("seen")
    world.run_by_webhook(seen)
    before = dict(world.records.records)
    world.queue.put(world.signer.notification("new"))
    world.queue.put(seen)
    world.queue.put(world.signer.notification("elsewhere", topic_arn=OTHER_TOPIC))

    report = world.run(dry_run=True)

    assert report.dry_run
    assert [m.outcome for m in report.messages] == [
        Outcome.RECOVERED,
        Outcome.DUPLICATE,
        Outcome.LEFT,
    ]
    assert world.records.records == before
    assert world.records.notes == {}
    assert world.queue.deleted == []
    assert len(world.queue.visible) == 3


def test_a_failed_start_still_recovers_the_durable_claim_for_the_reconciler(world: World) -> None:
    world.starter.failure = "Step Functions is throttling"
    body = world.signer.notification("later")
    world.queue.put(body)

    [message] = world.run().messages

    assert (message.outcome, message.started, message.deleted) == (Outcome.RECOVERED, False, True)
    record = world.records.get(WORKFLOW.workflow_id, _message_id(body))
    assert record is not None
    assert record.status is ExecutionStatus.RECEIVED


def test_a_claim_dynamodb_refuses_stays_in_the_queue_for_another_run(world: World) -> None:
    world.records.claim_failure = OUTAGE
    world.queue.put(world.signer.notification("wait"))

    report = world.run()

    [message] = report.messages
    assert (message.outcome, message.reason) == (Outcome.LEFT, LeftReason.RECORD_FAILED)
    assert report.needs_another_run
    world.records.claim_failure = None
    assert [m.outcome for m in world.run().messages] == [Outcome.RECOVERED]


def test_a_recovery_note_dynamodb_refuses_keeps_the_message_and_the_next_run_notes_it(
    world: World,
) -> None:
    body = world.signer.notification("noted later")
    world.queue.put(body)
    world.records.note_failure = OUTAGE

    first = world.run()
    world.records.note_failure = None
    second = world.run()

    assert [(m.outcome, m.reason) for m in first.messages] == [
        (Outcome.LEFT, LeftReason.RECORD_FAILED)
    ]
    assert [(m.outcome, m.deleted) for m in second.messages] == [(Outcome.DUPLICATE, True)]
    assert world.starter.calls == 1
    notes = world.records.notes[(WORKFLOW.workflow_id, _message_id(body))]
    assert [n.outcome for n in notes] == ["duplicate"]


def test_a_message_that_cannot_be_deleted_is_reported_and_needs_another_run(
    world: World,
) -> None:
    world.queue.put(world.signer.notification("sticky"))
    world.queue.delete_failure = QueueUnavailableError("AccessDenied")

    report = world.run()

    [message] = report.messages
    assert (message.outcome, message.deleted) == (Outcome.RECOVERED, False)
    assert "AccessDenied" in (message.detail or "")
    assert report.needs_another_run


def test_an_unfetchable_certificate_leaves_the_message_for_a_later_run() -> None:
    world = _world(fetcher=FakeCertificateFetcher({}))
    world.queue.put(world.signer.notification("no certificate"))

    report = world.run()

    [message] = report.messages
    assert message.reason is LeftReason.CERTIFICATE_UNAVAILABLE
    assert report.needs_another_run


def test_a_queue_that_fails_stops_the_run_and_says_why(world: World) -> None:
    world.queue.receive_failure = QueueUnavailableError("cannot read the queue: gone")

    report = world.run()

    assert report.messages == ()
    assert report.stopped_by == "cannot read the queue: gone"
    assert report.needs_another_run


def test_max_messages_bounds_one_run(world: World) -> None:
    for n in range(25):
        world.queue.put(world.signer.notification(f"n{n}"))

    first = world.run(max_messages=12)
    rest = world.run()

    assert (len(first.messages), len(rest.messages)) == (12, 13)
    assert world.starter.calls == 25
    assert world.queue.remaining == 0
