"""The two AWS sides of recovery, on moto: the note on the execution record, and the queue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from snsflow import aws
from snsflow.recovery import QueueMessage
from snsflow.sqs import QueueUnavailableError, SqsQueue, queue_url
from snsflow.store.executions import ExecutionClaim, ExecutionStore, RecoveryNote
from snsflow.subscribe import parse_queue
from tests.unit.executions.fakes import T0

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq"


@pytest.fixture
def store(dynamodb_tables: dict[str, str]) -> ExecutionStore:
    return ExecutionStore(aws.dynamodb_resource().Table(dynamodb_tables["Executions"]))


def _claim() -> ExecutionClaim:
    return ExecutionClaim(
        workflow_id="w",
        message_id="msg-1",
        execution_id="w.msg-1",
        execution_name="msg-1",
        topic_arn="arn:aws:sns:us-east-1:123456789012:t",
        subject=None,
        message_timestamp="2026-03-01T09:00:00.000Z",
        input="{}",
        received_at=T0,
        expires_at=T0 + timedelta(days=30),
    )


def _note(outcome: str, minutes: int) -> RecoveryNote:
    return RecoveryNote.model_validate(
        {
            "by": "arn:aws:iam::123456789012:user/ops",
            "at": T0 + timedelta(minutes=minutes),
            "outcome": outcome,
            "queue": QUEUE,
            "sqs_message_id": f"sqs-{minutes}",
        }
    )


def test_recovery_notes_are_appended_to_the_record_in_order(store: ExecutionStore) -> None:
    store.claim(_claim())

    assert store.record_recovery("w", "msg-1", _note("recovered", 1))
    assert store.record_recovery("w", "msg-1", _note("duplicate", 2))

    record = store.get("w", "msg-1")
    assert record is not None
    assert record.recoveries == (_note("recovered", 1), _note("duplicate", 2))
    assert record.deliveries == 1  # a note is not a delivery


def test_no_note_is_written_without_a_record(store: ExecutionStore) -> None:
    assert not store.record_recovery("w", "missing", _note("recovered", 1))
    assert store.get("w", "missing") is None


@pytest.fixture
def sqs(dynamodb_tables: dict[str, str]) -> SqsQueue:
    client = aws.sqs_client()
    url = client.create_queue(QueueName="orders-dlq")["QueueUrl"]
    return SqsQueue(client, url)


def test_the_queue_is_found_by_its_arn(sqs: SqsQueue) -> None:
    account = sqs.url.rstrip("/").split("/")[-2]
    address = parse_queue(f"arn:aws:sqs:us-east-1:{account}:orders-dlq", default_region="x")

    assert queue_url(aws.sqs_client(), address) == sqs.url


def test_a_missing_queue_is_a_clear_error(dynamodb_tables: dict[str, str]) -> None:
    address = parse_queue("arn:aws:sqs:us-east-1:123456789012:nowhere", default_region="x")

    with pytest.raises(QueueUnavailableError, match="nowhere"):
        queue_url(aws.sqs_client(), address)


def test_received_messages_are_hidden_released_and_deleted(sqs: SqsQueue) -> None:
    client = aws.sqs_client()
    for body in ("a", "b"):
        client.send_message(
            QueueUrl=sqs.url,
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "raw"}},
        )

    received = sqs.receive(max_messages=10, visibility_timeout=60, wait_seconds=0)
    hidden = sqs.receive(max_messages=10, visibility_timeout=60, wait_seconds=0)
    sqs.release([m for m in received if m.body == "a"])
    sqs.delete(next(m for m in received if m.body == "b"))
    again = sqs.receive(max_messages=10, visibility_timeout=60, wait_seconds=0)

    assert sorted(m.body for m in received) == ["a", "b"]
    assert received[0].attribute_names == ("kind",)
    assert hidden == []
    assert [m.body for m in again] == ["a"]


def test_deleting_from_a_missing_queue_is_a_clear_error(sqs: SqsQueue) -> None:
    gone = QueueMessage(sqs_message_id="x", receipt_handle="not-a-handle", body="")
    missing = SqsQueue(aws.sqs_client(), sqs.url.replace("orders-dlq", "nowhere"))

    with pytest.raises(QueueUnavailableError):
        missing.delete(gone)
