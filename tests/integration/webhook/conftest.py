"""A moto stack for the webhook, status and reconciler handlers.

Step Functions really runs the example workflows (``execute_state_machine``); DynamoDB holds
every table; the signing certificate and the SNS confirmation endpoint are in-memory fakes, so
no test touches the network. AWS calls are observed (and failures injected) with botocore event
hooks on the very clients the handlers use.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto import mock_aws

from functions.reconciler import handler as reconciler_handler
from functions.status import handler as status_handler
from functions.webhook import handler as webhook_handler
from snsflow import aws
from snsflow.definitions import deployed_definition
from snsflow.http import HttpAnswer
from snsflow.sns.verifier import utc_now
from snsflow.store.executions import ExecutionRecord, ExecutionStore
from snsflow.store.subscriptions import SubscriptionStore
from snsflow.store.workflows import WorkflowRecord, WorkflowRegistry
from snsflow.subscriptions import SubscriptionConfirmationFailedError
from snsflow.workflows import load_workflows
from tests.support.apigw import LambdaContext, execution_status_event, sns_delivery_event
from tests.support.legacy_executions import move_to_legacy_table
from tests.support.sns import FakeCertificateFetcher, SnsTestSigner

WORKFLOWS_DIR = Path(__file__).resolve().parents[3] / "workflows"
ORDERS_TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"
AUDIT_TOPIC = "arn:aws:sns:eu-west-1:123456789012:audit-trail"
#: How long a test waits for moto to finish running an execution.
EXECUTION_DEADLINE_SECONDS = 15.0


@dataclass
class FakeSnsConfirmationEndpoint:
    """Stands in for ``https://sns.<region>.amazonaws.com/?Action=ConfirmSubscription...``."""

    visited: list[str] = field(default_factory=list)
    #: HTTP status to answer with; None: the connection fails.
    status: int | None = 200

    def get(self, url: str) -> HttpAnswer:
        self.visited.append(url)
        if self.status is None:
            raise SubscriptionConfirmationFailedError("connection refused")
        if self.status != 200:
            body = b"<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>"
            return HttpAnswer(self.status, body)
        topic = url.split("TopicArn=")[1].split("&")[0]
        return HttpAnswer(
            200,
            b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>"
            + f"{topic}:0b5d3c3e-6f4d-4b7c-9d4e-0c1f2a3b4c5d".encode()
            + b"</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>",
        )


@dataclass
class AwsCalls:
    """Every AWS API operation the handlers call (``service.Operation``), in order."""

    names: list[str] = field(default_factory=list)

    def record(self, event_name: str, **_: Any) -> None:
        _hook, service, operation = event_name.split(".")
        self.names.append(f"{service}.{operation}")

    def clear(self) -> None:
        self.names.clear()


@dataclass
class Reply:
    status: int
    body: dict[str, Any]


@dataclass
class Stack:
    signer: SnsTestSigner
    audit_signer: SnsTestSigner
    certificates: FakeCertificateFetcher
    sns: FakeSnsConfirmationEndpoint
    calls: AwsCalls
    workflows: dict[str, WorkflowRecord]
    executions: ExecutionStore
    subscriptions: SubscriptionStore

    def deliver(self, workflow_id: str, body: str | bytes, **options: Any) -> Reply:
        event = sns_delivery_event(workflow_id, body, **options)
        response = webhook_handler.lambda_handler(event, LambdaContext())
        assert response["headers"]["Content-Type"] == "application/json"
        return Reply(response["statusCode"], json.loads(response["body"]))

    def record(self, workflow_id: str, message_id: str) -> ExecutionRecord:
        record = self.executions.get(workflow_id, message_id)
        assert record is not None, f"no record for {workflow_id}/{message_id}"
        return record

    def outcome(self, workflow_id: str, message_id: str) -> ExecutionRecord:
        """The record once the run that took it has ended (EXPRESS runs record themselves).

        Waits for the run, not only for the status: moto applies the parts of an UpdateItem one
        after the other, so a record read during a write may show only some of them."""
        deadline = time.monotonic() + EXECUTION_DEADLINE_SECONDS
        while (arn := self.record(workflow_id, message_id).execution_arn) is None:
            assert time.monotonic() < deadline, f"no run took {workflow_id}/{message_id}"
            time.sleep(0.02)
        self.finished_execution(arn)
        return self.record(workflow_id, message_id)

    def executions_of(self, workflow_id: str) -> list[dict[str, Any]]:
        arn = self.workflows[workflow_id].state_machine_arn
        listing = aws.stepfunctions_client().list_executions(stateMachineArn=arn)
        return [dict(execution) for execution in listing["executions"]]

    def finished_execution(self, execution_arn: str) -> dict[str, Any]:
        """DescribeExecution once the run has ended (polled, with a deadline)."""
        client = aws.stepfunctions_client()
        deadline = time.monotonic() + EXECUTION_DEADLINE_SECONDS
        while True:
            description = client.describe_execution(executionArn=execution_arn)
            if description["status"] != "RUNNING":
                return dict(description)
            assert time.monotonic() < deadline, f"{execution_arn} still running"
            time.sleep(0.02)

    def send_status_event(self, event: dict[str, Any]) -> dict[str, Any]:
        return status_handler.lambda_handler(event, LambdaContext())  # type: ignore[no-any-return]

    def settle(self, execution_arn: str) -> dict[str, Any]:
        """Wait for the run to end and deliver its status event, as EventBridge would."""
        description = self.finished_execution(execution_arn)
        outcome = self.send_status_event(execution_status_event(description))
        assert outcome["result"] == "updated"
        return description

    def reconcile(self, at: datetime, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        monkeypatch.setattr(reconciler_handler, "utc_now", lambda: at)
        reconciler_handler._reconciler.cache_clear()
        return reconciler_handler.lambda_handler({}, LambdaContext())  # type: ignore[no-any-return]

    def upgrade(self, monkeypatch: pytest.MonkeyPatch) -> Any:
        """A stack upgraded from before issue 15: every record goes into a table of the old
        layout, which the functions are told of. Returns that table."""
        executions = aws.dynamodb_resource().Table(os.environ["SNSFLOW_EXECUTIONS_TABLE_NAME"])
        legacy = move_to_legacy_table(executions, "snsflow-test-legacy-executions")
        monkeypatch.setenv("SNSFLOW_LEGACYEXECUTIONS_TABLE_NAME", legacy.name)
        webhook_handler._settings.cache_clear()
        webhook_handler._webhook.cache_clear()
        return legacy

    def fail(
        self,
        operation: str,
        code: str,
        *,
        http_status: int = 400,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Make ``times`` calls of ``service.Operation`` fail with ``code``, once ``after``
        calls have gone through."""
        service, name = operation.split(".")
        client = (
            aws.stepfunctions_client() if service == "sfn" else aws.dynamodb_resource().meta.client
        )
        plan = [False] * after + [True] * times

        def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            if not plan or not plan.pop(0):
                return None
            error = {"Error": {"Code": code, "Message": f"injected {code}"}}
            metadata = {"ResponseMetadata": {"HTTPStatusCode": http_status}}
            response = AWSResponse("https://injected", http_status, HTTPHeaders(), None)
            return response, error | metadata

        # A before-call hook that returns a response short-circuits the request.
        client.meta.events.register(f"before-call.{service}.{name}", refuse)  # type: ignore[arg-type]


def later(minutes: float) -> datetime:
    return utc_now() + timedelta(minutes=minutes)


@pytest.fixture
def workflows_dir() -> Path:
    """The workflows the stack deploys (a test module may override this fixture)."""
    return WORKFLOWS_DIR


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    aws_environment: None,
    monkeypatch: pytest.MonkeyPatch,
    workflows_dir: Path,
) -> Iterator[Stack]:
    # Started before the tables fixture builds its own mock, so that the state machines run.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        tables: dict[str, str] = request.getfixturevalue("dynamodb_tables")
        dynamodb = aws.dynamodb_resource()
        registry = WorkflowRegistry(dynamodb.Table(tables["Workflows"]))
        step_functions = aws.stepfunctions_client()
        workflows: dict[str, WorkflowRecord] = {}
        for workflow in load_workflows(workflows_dir):
            definition = deployed_definition(workflow, executions_table_name=tables["Executions"])
            machine = step_functions.create_state_machine(
                name=f"snsflow-{workflow.id}",
                definition=json.dumps(definition),
                roleArn="arn:aws:iam::123456789012:role/snsflow-workflows",
                type=workflow.state_machine.type,
            )
            record = WorkflowRecord.from_workflow(workflow, machine["stateMachineArn"])
            registry.put(record)
            workflows[workflow.id] = record

        signer = SnsTestSigner(topic_arn=ORDERS_TOPIC)
        audit_signer = SnsTestSigner(topic_arn=AUDIT_TOPIC)
        certificates = FakeCertificateFetcher(
            {
                signer.cert_url: signer.certificate_pem,
                audit_signer.cert_url: audit_signer.certificate_pem,
            }
        )
        sns = FakeSnsConfirmationEndpoint()
        make_fetcher: Callable[..., FakeCertificateFetcher] = lambda **_: certificates  # noqa: E731
        make_getter: Callable[..., FakeSnsConfirmationEndpoint] = lambda **_: sns  # noqa: E731
        monkeypatch.setattr(webhook_handler, "UrllibCertificateFetcher", make_fetcher)
        monkeypatch.setattr(webhook_handler, "UrllibHttpGetter", make_getter)
        for cached in (
            webhook_handler._settings,
            webhook_handler._webhook,
            status_handler._recorder,
            reconciler_handler._reconciler,
        ):
            cached.cache_clear()
        # Powertools keeps one metric set per process, shared by every Metrics object: start
        # from an empty one, as a fresh container does (a local-stack test may have left some).
        Metrics().clear_metrics()

        calls = AwsCalls()
        step_functions.meta.events.register("before-call", calls.record)
        dynamodb.meta.client.meta.events.register("before-call", calls.record)
        yield Stack(
            signer=signer,
            audit_signer=audit_signer,
            certificates=certificates,
            sns=sns,
            calls=calls,
            workflows=workflows,
            executions=ExecutionStore(dynamodb.Table(tables["Executions"])),
            subscriptions=SubscriptionStore(dynamodb.Table(tables["Subscriptions"])),
        )
        for cached in (
            webhook_handler._settings,
            webhook_handler._webhook,
            status_handler._recorder,
            reconciler_handler._reconciler,
        ):
            cached.cache_clear()
        # Powertools keeps one metric set per process, shared by every Metrics object: start
        # from an empty one, as a fresh container does (a local-stack test may have left some).
        Metrics().clear_metrics()
