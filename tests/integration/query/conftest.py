"""The query Lambda against moto: records written by the real store, requests as API Gateway
sends them (``tests/support/apigw.py``), answers read back as the API's JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.query import handler
from snsflow import aws
from snsflow.executions import execution_id, execution_name
from snsflow.store.executions import ExecutionClaim, ExecutionStatus, ExecutionStore, StatusChange
from snsflow.store.subscriptions import SubscriptionStore
from snsflow.store.workflows import WorkflowRecord, WorkflowRegistry
from tests.support.apigw import LambdaContext, rest_request_event

ORDERS_TOPIC = "arn:aws:sns:us-east-1:123456789012:orders"
AUDIT_TOPIC = "arn:aws:sns:eu-west-1:123456789012:audit-trail"
PAGINATION_SECRET = "test-pagination-secret-0123456789abcdef"
#: What the authorizer passes on for a read key.
READ_GRANT = {
    "principalId": "dashboards",
    "keyName": "dashboards",
    "scope": "read",
    "workflowId": "",
    "keyPrefix": "snsf_Xy3kP0aB",
}
TERMINAL_STATUSES = [s for s in ExecutionStatus if s.is_terminal]


@dataclass(frozen=True)
class Seeded:
    execution_id: str
    status: ExecutionStatus
    received_at: datetime


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def body(self) -> Any:
        assert self.headers["Content-Type"].startswith("application/json"), self.headers
        return json.loads(self.text)

    @property
    def error_code(self) -> str:
        return str(self.body["error"]["code"])


def state_machine_arn(workflow_id: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:stateMachine:snsflow-{workflow_id}"


def message_id(index: int) -> str:
    return f"{index:08d}-5b1e-4d1c-9f2a-0c6e3b8d4a7f"


class QueryStack:
    def __init__(self, tables: dict[str, str]) -> None:
        dynamodb = aws.dynamodb_resource()
        self.table = dynamodb.Table(tables["Executions"])
        self.records = ExecutionStore(self.table)
        self.subscriptions = SubscriptionStore(dynamodb.Table(tables["Subscriptions"]))
        self.registry = WorkflowRegistry(dynamodb.Table(tables["Workflows"]))
        for workflow_id, name, key_name, topics in (
            ("order-events", "Order events", "prod-sns", (ORDERS_TOPIC,)),
            ("audit-log", "Audit log", "audit-sns", None),
        ):
            self.registry.put(
                WorkflowRecord(
                    workflow_id=workflow_id,
                    name=name,
                    api_key_name=key_name,
                    allowed_topic_arns=topics,
                    state_machine_arn=state_machine_arn(workflow_id),
                )
            )

    # -- requests ---------------------------------------------------------------------------

    def request(self, event: dict[str, Any]) -> Reply:
        response = handler.lambda_handler(event, LambdaContext())  # type: ignore[arg-type]
        headers = {name: str(value) for name, value in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(str(v) for v in values)
        return Reply(response["statusCode"], headers, response.get("body") or "")

    def get(
        self,
        resource: str,
        path_parameters: dict[str, str] | None = None,
        query: dict[str, str | list[str]] | None = None,
        **options: Any,
    ) -> Reply:
        options.setdefault("authorizer", READ_GRANT)
        return self.request(
            rest_request_event("GET", resource, path_parameters, query=query, **options)
        )

    def executions(self, workflow_id: str, **query: str | list[str]) -> Reply:
        return self.get(
            "/workflows/{workflowId}/executions", {"workflowId": workflow_id}, query=query
        )

    def walk(self, workflow_id: str, **query: str | list[str]) -> list[list[str]]:
        """The execution ids of every page, following ``nextToken`` to the end."""
        pages: list[list[str]] = []
        token: str | None = None
        while True:
            reply = self.executions(workflow_id, **query, **({"nextToken": token} if token else {}))
            assert reply.status == 200, reply.text
            pages.append([item["executionId"] for item in reply.body["items"]])
            token = reply.body["nextToken"]
            if token is None:
                return pages
            assert len(pages) < 100, "the pages never end"

    # -- records ----------------------------------------------------------------------------

    def seed(
        self,
        workflow_id: str,
        index: int,
        status: ExecutionStatus,
        received_at: datetime,
        *,
        topic_arn: str = ORDERS_TOPIC,
        subject: str | None = None,
        output: str | None = None,
        error: str | None = None,
        cause: str | None = None,
    ) -> str:
        """Write a record as the webhook and the status Lambda do; returns its execution id."""
        message = message_id(index)
        document = {
            "workflowId": workflow_id,
            "messageId": message,
            "topicArn": topic_arn,
            "subject": subject,
            "timestamp": "2026-11-28T12:00:00.000Z",
            "message": {"orderId": index},
            "rawMessage": json.dumps({"orderId": index}),
            "messageAttributes": {"tenant": {"Type": "String", "Value": "acme"}},
        }
        self.records.claim(
            ExecutionClaim(
                workflow_id=workflow_id,
                message_id=message,
                execution_id=execution_id(workflow_id, message),
                execution_name=execution_name(message),
                topic_arn=topic_arn,
                subject=subject,
                message_timestamp="2026-11-28T12:00:00.000Z",
                input=json.dumps(document),
                received_at=received_at,
                expires_at=received_at + timedelta(days=30),
            )
        )
        if status is not ExecutionStatus.RECEIVED:
            arn = (
                f"arn:aws:states:us-east-1:123456789012:execution:snsflow-{workflow_id}:"
                f"{execution_name(message)}"
            )
            started = received_at + timedelta(milliseconds=40)
            self.records.change_status(
                workflow_id,
                message,
                StatusChange(status=ExecutionStatus.RUNNING, execution_arn=arn, started_at=started),
            )
            if status.is_terminal:
                self.records.change_status(
                    workflow_id,
                    message,
                    StatusChange(
                        status=status,
                        execution_arn=arn,
                        started_at=started,
                        stopped_at=started + timedelta(seconds=2, milliseconds=500),
                        output=output,
                        error=error,
                        cause=cause,
                    ),
                )
        return execution_id(workflow_id, message)

    def seed_many(self, workflow_id: str, count: int, base: datetime) -> dict[str, Seeded]:
        """``count`` records over every status, one second apart, except that three share a
        millisecond in three statuses and two share one in the same status (ties in the
        indexes). By execution id.

        The records are written by the real store once per test session; later tests load the
        items it wrote in a few batch writes (moto is slow per call)."""
        key = (workflow_id, count, base)
        if key in _SEEDED:
            items, seeded = _SEEDED[key]
            with self.table.batch_writer() as batch:
                for item in items:
                    batch.put_item(Item=item)
            return seeded
        statuses = list(ExecutionStatus)
        seeded = {}
        for index in range(count):
            status = statuses[index % len(statuses)]
            received = base + timedelta(seconds={11: 10, 12: 10, 27: 21}.get(index, index))
            identifier = self.seed(workflow_id, index, status, received)
            seeded[identifier] = Seeded(identifier, status, received)
        # Each record's item and its input item (sort key "<workflowId>#input").
        items = [
            item
            for item in self.table.scan(ConsistentRead=True)["Items"]
            if str(item["recordKey"]).startswith(f"{workflow_id}#")
        ]
        assert len(items) == 2 * count
        _SEEDED[key] = (items, seeded)
        return seeded


#: Records written once per session by :meth:`QueryStack.seed_many`, and their items.
_SEEDED: dict[tuple[str, int, datetime], tuple[list[dict[str, Any]], dict[str, Seeded]]] = {}


@pytest.fixture(scope="session")
def recent() -> datetime:
    """A base time for records inside the retention window (counts use the real clock)."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture
def query_stack(
    dynamodb_tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[QueryStack]:
    monkeypatch.setenv("SNSFLOW_PAGINATION_SECRET", PAGINATION_SECRET)
    handler._service.cache_clear()
    yield QueryStack(dynamodb_tables)
    handler._service.cache_clear()
