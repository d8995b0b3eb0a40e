"""``snsflow recover`` against a deployed stack in moto: where it finds things, what it prints,
and how it exits — 2 for usage, 1 for a runtime failure, one line and never a traceback."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from snsflow import aws
from snsflow.cli import recover
from snsflow.cli.main import main
from snsflow.clock import utc_now
from snsflow.store.executions import ExecutionClaim, ExecutionStore
from snsflow.store.workflows import WorkflowRegistry
from tests.support.legacy_executions import move_to_legacy_table
from tests.support.sns import FakeCertificateFetcher, SnsTestSigner
from tests.unit.executions.fakes import workflow

ORDERS = "arn:aws:sns:us-east-1:123456789012:orders"


@pytest.fixture
def queue(dynamodb_tables: dict[str, str]) -> str:
    """A deployed stack (its table outputs), the order-events workflow allowing one topic, and
    an empty dead-letter queue; its URL."""
    outputs = {
        f"{logical}TableName": {"Value": name}
        for logical, name in dynamodb_tables.items()
        if logical in ("Executions", "Workflows")
    }
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
    boto3.client("cloudformation").create_stack(
        StackName="snsflow", TemplateBody=json.dumps(template)
    )
    registry = WorkflowRegistry(aws.dynamodb_resource().Table(dynamodb_tables["Workflows"]))
    registry.put(workflow("order-events", allowed_topic_arns=(ORDERS,)))
    return boto3.client("sqs").create_queue(QueueName="orders-dlq")["QueueUrl"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["recover", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["Order_Events", "--dlq", "arn:aws:sqs:us-east-1:123456789012:dlq", "--stack", "s"],
        ["order-events", "--dlq", "https://example.com/123456789012/dlq", "--stack", "s"],
        ["order-events", "--stack", "s"],
        ["order-events", "--dlq", "arn:aws:sqs:us-east-1:123456789012:dlq", "--max-messages", "0"],
        ["order-events", "--dlq", "arn:aws:sqs:us-east-1:123456789012:dlq", "--operator", "snsf_x"],
        ["order-events", "--dlq", "arn:aws:sqs:us-east-1:123456789012:dlq"],
    ],
)
def test_bad_usage_exits_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["recover", *argv])
    except SystemExit as exit_:  # argparse refuses bad values itself
        code = int(exit_.code or 0)
    _out, err = capsys.readouterr()

    assert code == 2
    assert "Traceback" not in err
    assert "error:" in err


def test_messages_not_for_the_workflow_are_left_and_reported(
    queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs")
    foreign = SnsTestSigner(topic_arn="arn:aws:sns:us-east-1:123456789012:payments")
    sqs.send_message(QueueUrl=queue, MessageBody=foreign.notification("not ours"))
    sqs.send_message(QueueUrl=queue, MessageBody="a raw delivery")

    code, out, err = _run(
        capsys, "order-events", "--dlq", queue, "--stack", "snsflow", "--operator", "ops"
    )

    assert code == 0, err
    assert "topic_not_allowed" in out
    assert "raw_message" in out
    assert out.splitlines()[-1] == (
        "Recovered 0, already had an execution 0, left in the queue 2 "
        "(raw_message 1, topic_not_allowed 1)"
    )
    visible = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert visible == "2"  # released at the end of the run, as found


def test_an_unknown_workflow_is_a_runtime_error(
    queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = _run(capsys, "payments", "--dlq", queue, "--stack", "snsflow")

    assert code == 1
    assert err.strip().endswith("the stack has no workflow 'payments'")


def test_a_missing_queue_is_a_runtime_error_in_one_line(
    queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "arn:aws:sqs:us-east-1:123456789012:nowhere"

    code, out, err = _run(capsys, "order-events", "--dlq", missing, "--stack", "snsflow")

    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "nowhere" in err


def test_a_missing_stack_is_a_runtime_error(queue: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, "order-events", "--dlq", queue, "--stack", "elsewhere")

    assert code == 1
    assert "elsewhere" in err


def test_a_message_whose_record_is_still_in_the_old_executions_table_is_a_duplicate(
    dynamodb_tables: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A stack upgraded from before issue 15, whose old table still holds the message's record.
    signer = SnsTestSigner(topic_arn=ORDERS)
    body = signer.notification("paid")
    message_id = json.loads(body)["MessageId"]
    executions = aws.dynamodb_resource().Table(dynamodb_tables["Executions"])
    ExecutionStore(executions).claim(
        ExecutionClaim(
            workflow_id="order-events",
            message_id=message_id,
            execution_id=f"order-events.{message_id}",
            execution_name=message_id,
            topic_arn=ORDERS,
            subject=None,
            message_timestamp=json.loads(body)["Timestamp"],
            input="{}",
            received_at=utc_now(),
            expires_at=utc_now() + timedelta(days=30),
        )
    )
    legacy = move_to_legacy_table(executions, "snsflow-test-legacy-executions")
    outputs = {
        f"{logical}TableName": {"Value": name}
        for logical, name in {**dynamodb_tables, "LegacyExecutions": legacy.name}.items()
        if logical in ("Executions", "Workflows", "LegacyExecutions")
    }
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
    boto3.client("cloudformation").create_stack(
        StackName="snsflow", TemplateBody=json.dumps(template)
    )
    registry = WorkflowRegistry(aws.dynamodb_resource().Table(dynamodb_tables["Workflows"]))
    registry.put(workflow("order-events", allowed_topic_arns=(ORDERS,)))
    queue = boto3.client("sqs").create_queue(QueueName="orders-dlq")["QueueUrl"]
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=body)
    fetcher = FakeCertificateFetcher({signer.cert_url: signer.certificate_pem})
    monkeypatch.setattr(recover, "UrllibCertificateFetcher", lambda **_: fetcher)

    code, out, err = _run(
        capsys, "order-events", "--dlq", queue, "--stack", "snsflow", "--operator", "ops"
    )

    assert code == 0, err
    assert "already had an execution 1" in err + out
    record = ExecutionStore(executions).get("order-events", message_id)
    assert record is not None
    assert record.deliveries == 2
    assert legacy.scan(ConsistentRead=True)["Items"] == []
