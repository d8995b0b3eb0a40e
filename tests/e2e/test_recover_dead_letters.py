"""What SNS gave up on, recovered: the webhook is down past the retry policy, the local SNS moves
the message to the subscription's dead-letter queue (moto's SQS), and ``snsflow recover`` runs
it exactly once — twice recovering runs nothing twice."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import urllib3

from snsflow import aws
from snsflow.cli.main import main
from snsflow.executions import execution_id, execution_name
from snsflow.local.stack import LocalStack, wait_until
from snsflow.store.executions import ExecutionRecord, ExecutionStore
from tests.e2e.conftest import DEADLINE_SECONDS, Driver

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.e2e

WORKFLOW = "order-events"
#: Takes only topics named audit-*: an orders message is not for it.
AUDIT = "audit-log"
#: Two retries, 1 s apart (a hundredth of that on the local stack): quickly out of retries.
SHORT_POLICY = json.dumps(
    {"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}
)


@dataclass
class Relay:
    """The webhook as SNS sees it: forwards to the local API gateway while up, answers 503
    (an outage SNS retries) while down. Keeps the bodies it forwarded."""

    target: str
    up: threading.Event = field(default_factory=threading.Event)
    forwarded: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.up.set()
        self._http = urllib3.PoolManager(retries=False)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = 503, b'{"error": {"code": "down", "message": "down"}}'
                if relay.up.is_set():
                    response = relay._http.request(
                        "POST",
                        relay.target + self.path,
                        body=body,
                        headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    )
                    status, answer = response.status, response.data
                    relay.forwarded.append(body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def relay(local_stack: LocalStack) -> Iterator[Relay]:
    relay = Relay(local_stack.api_url)
    yield relay
    relay.stop()


@dataclass
class DeadLetters:
    stack: LocalStack
    sqs: SQSClient
    url: str
    info_file: Path

    @property
    def arn(self) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        return attributes["Attributes"]["QueueArn"]

    def count(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def recover(
        self, capsys: pytest.CaptureFixture[str], workflow: str, *options: str
    ) -> tuple[int, Any]:
        """``snsflow recover`` as an operator runs it; its exit code and JSON report."""
        capsys.readouterr()
        code = main(
            [
                "recover",
                workflow,
                "--dlq",
                self.url,
                "--info-file",
                str(self.info_file),
                "--json",
                *options,
            ]
        )
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, json.loads(out)


@pytest.fixture
def dead_letters(local_stack: LocalStack, tmp_path: Path) -> DeadLetters:
    sqs = boto3.client(
        "sqs", endpoint_url=local_stack.aws_endpoint, region_name=local_stack.config.region
    )
    url = sqs.create_queue(QueueName=f"orders-dlq-{tmp_path.name[-12:]}")["QueueUrl"]
    info_file = tmp_path / "local.json"
    local_stack.write_info_file(info_file)
    return DeadLetters(local_stack, sqs, url, info_file)


def _subscribe_through(driver: Driver, relay: Relay, workflow: str, dlq_arn: str) -> str:
    """A topic subscribed to ``workflow`` through the relay, with the short policy and the DLQ,
    confirmed."""
    topic = driver.new_topic("orders" if workflow == WORKFLOW else "audit")
    local = driver.stack.workflow(workflow)
    endpoint = relay.url + local.sns_endpoint.removeprefix(driver.stack.api_url)
    arn = driver.sns.subscribe(
        TopicArn=topic,
        Protocol="http",
        Endpoint=endpoint,
        ReturnSubscriptionArn=True,
        Attributes={
            "DeliveryPolicy": SHORT_POLICY,
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}),
        },
    )["SubscriptionArn"]
    wait_until(
        lambda: (
            driver.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"][
                "PendingConfirmation"
            ]
            == "false"
        ),
        timeout=DEADLINE_SECONDS,
        what=f"the subscription of {topic}",
    )
    return topic


def _dead_lettered(driver: Driver, message_id: str) -> bool:
    return any(attempt.dead_lettered for attempt in driver.attempts(message_id=message_id))


def _record(stack: LocalStack, workflow: str, message_id: str) -> ExecutionRecord | None:
    table = aws.dynamodb_resource().Table(stack.tables["Executions"])
    return ExecutionStore(table).get(workflow, message_id)


def test_a_message_sns_gave_up_on_is_recovered_into_exactly_one_execution(
    driver: Driver,
    relay: Relay,
    dead_letters: DeadLetters,
    capsys: pytest.CaptureFixture[str],
) -> None:
    audit = _subscribe_through(driver, relay, AUDIT, dead_letters.arn)
    orders = _subscribe_through(driver, relay, WORKFLOW, dead_letters.arn)
    relay.up.clear()  # the webhook is down for longer than the retry policy
    audit_id = driver.sns.publish(TopicArn=audit, Message='{"who": "ops"}')["MessageId"]
    order_id = driver.sns.publish(TopicArn=orders, Message='{"orderId": "DLQ-1"}')["MessageId"]
    wait_until(
        lambda: all(_dead_lettered(driver, m) for m in (audit_id, order_id)),
        timeout=DEADLINE_SECONDS,
        what="both messages in the dead-letter queue",
    )
    assert _record(driver.stack, AUDIT, audit_id) is None
    relay.up.set()

    dry_code, dry = dead_letters.recover(capsys, AUDIT, "--dry-run")
    code, first = dead_letters.recover(capsys, AUDIT, "--operator", "ops@example.com")

    assert dry_code == 0
    assert {(m["message_id"], m["outcome"]) for m in dry["messages"]} == {
        (audit_id, "recovered"),
        (order_id, "left"),
    }
    assert code == 0
    by_id = {m["message_id"]: m for m in first["messages"]}
    assert by_id[audit_id]["outcome"] == "recovered"
    assert by_id[audit_id]["execution_id"] == execution_id(AUDIT, audit_id)
    assert (by_id[order_id]["outcome"], by_id[order_id]["reason"]) == ("left", "topic_not_allowed")
    record = _record(driver.stack, AUDIT, audit_id)
    assert record is not None
    [note] = record.recoveries
    assert (note.by, note.outcome, note.queue) == ("ops@example.com", "recovered", dead_letters.url)
    wait_until(
        lambda: driver.finished_execution(execution_id(AUDIT, audit_id)),
        timeout=DEADLINE_SECONDS,
        what="the recovered execution to finish",
    )
    assert driver.step_functions_runs(AUDIT).count(execution_name(audit_id)) == 1
    assert dead_letters.count() == 1  # only the message left on purpose

    again_code, again = dead_letters.recover(capsys, AUDIT)

    assert again_code == 0
    assert [(m["message_id"], m["reason"]) for m in again["messages"]] == [
        (order_id, "topic_not_allowed")
    ]
    assert driver.step_functions_runs(AUDIT).count(execution_name(audit_id)) == 1


def test_a_dead_letter_whose_message_already_ran_is_reported_deleted_and_not_run_again(
    driver: Driver,
    relay: Relay,
    dead_letters: DeadLetters,
    capsys: pytest.CaptureFixture[str],
) -> None:
    orders = _subscribe_through(driver, relay, WORKFLOW, dead_letters.arn)
    message_id = driver.sns.publish(TopicArn=orders, Message='{"orderId": "DLQ-2"}')["MessageId"]
    wait_until(
        lambda: driver.finished_execution(execution_id(WORKFLOW, message_id)),
        timeout=DEADLINE_SECONDS,
        what="the execution to finish",
    )
    # SNS may still dead-letter a copy of a message the webhook took (a lost answer).
    [delivered] = [body for body in relay.forwarded if message_id.encode() in body]
    dead_letters.sqs.send_message(QueueUrl=dead_letters.url, MessageBody=delivered.decode())

    code, report = dead_letters.recover(capsys, WORKFLOW)

    assert code == 0
    assert [(m["message_id"], m["outcome"], m["deleted"]) for m in report["messages"]] == [
        (message_id, "duplicate", True)
    ]
    assert dead_letters.count() == 0
    assert driver.step_functions_runs(WORKFLOW).count(execution_name(message_id)) == 1
    record = _record(driver.stack, WORKFLOW, message_id)
    assert record is not None
    identity = boto3.client(
        "sts", endpoint_url=driver.stack.aws_endpoint, region_name=driver.stack.config.region
    ).get_caller_identity()["Arn"]
    assert [(n.by, n.outcome) for n in record.recoveries] == [(identity, "duplicate")]
