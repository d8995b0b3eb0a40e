"""The local stack, started once per test module on free loopback ports, and ways to drive it:
boto3 against its SNS, the read API with its read key, and polling with a deadline."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import pytest
import urllib3

from snsflow.cli.stack import ApiRequestError, ReadApi
from snsflow.local.sns import DeliveryAttempt
from snsflow.local.stack import LocalStack, LocalStackConfig, wait_until
from snsflow.query import Execution, ExecutionDetail
from snsflow.store.subscriptions import SubscriptionStatus

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

#: Deadlines of the polls: generous, as a loaded machine may be slow; a pass is much faster.
DEADLINE_SECONDS = 30.0


#: The e2e tests' stack as deployed, but quick: SNS's 20 s retry delay becomes 0.2 s.
E2E_CONFIG = LocalStackConfig(sns_delay_scale=0.01, status_poll_seconds=0.1)


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(E2E_CONFIG) as stack:
        yield stack


@dataclass
class Driver:
    """What a test does to the local stack, as a user would: boto3 and HTTP."""

    stack: LocalStack
    sns: SNSClient
    api: ReadApi

    def new_topic(self, prefix: str = "orders") -> str:
        return self.sns.create_topic(Name=f"{prefix}-{uuid.uuid4().hex[:12]}")["TopicArn"]

    def subscribe(self, topic_arn: str, endpoint: str) -> str:
        return self.sns.subscribe(
            TopicArn=topic_arn, Protocol="http", Endpoint=endpoint, ReturnSubscriptionArn=True
        )["SubscriptionArn"]

    def subscribe_confirmed(self, workflow_id: str, topic_arn: str) -> str:
        arn = self.subscribe(topic_arn, self.stack.workflow(workflow_id).sns_endpoint)
        wait_until(
            lambda: (
                self.subscription_status(workflow_id, topic_arn) is SubscriptionStatus.CONFIRMED
            ),
            timeout=DEADLINE_SECONDS,
            what=f"the subscription of {topic_arn} to be confirmed",
        )
        return arn

    def subscription_status(self, workflow_id: str, topic_arn: str) -> SubscriptionStatus | None:
        for subscription in self.api.workflow(workflow_id).subscriptions:
            if subscription.topic_arn == topic_arn:
                return subscription.status
        return None

    def sns_subscription_arns(self, topic_arn: str) -> list[str]:
        listed = self.sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        return [item["SubscriptionArn"] for item in listed]

    def attempts(
        self, *, message_id: str | None = None, subscription_arn: str | None = None
    ) -> list[DeliveryAttempt]:
        """The local SNS's delivery log, for one message and/or one subscription."""
        return [
            attempt
            for attempt in self.stack.sns.delivery_log()
            if (message_id is None or attempt.message_id == message_id)
            and (subscription_arn is None or attempt.subscription_arn == subscription_arn)
        ]

    def finished_execution(self, execution_id: str) -> ExecutionDetail | None:
        """The execution in full once it has ended; None while it runs or is not recorded."""
        try:
            detail = self.api.execution(execution_id)
        except ApiRequestError as error:
            if error.status == 404:
                return None
            raise
        return detail if detail.status.is_terminal else None

    def executions_since(self, workflow_id: str, since: datetime) -> dict[str, Execution]:
        """Every execution record received since ``since``, by MessageId (all pages)."""
        found: dict[str, Execution] = {}
        token: str | None = None
        while True:
            page = self.api.executions(workflow_id, since=since, limit=100, next_token=token)
            found.update((execution.message_id, execution) for execution in page.items)
            token = page.next_token
            if not token:
                return found

    def step_functions_runs(self, workflow_id: str) -> list[str]:
        """The names of every execution of the workflow's state machine."""
        client = boto3.client(
            "stepfunctions",
            endpoint_url=self.stack.aws_endpoint,
            region_name=self.stack.config.region,
        )
        arn = self.stack.workflow(workflow_id).state_machine_arn
        return [
            run["name"]
            for page in client.get_paginator("list_executions").paginate(stateMachineArn=arn)
            for run in page["executions"]
        ]


@pytest.fixture
def driver(local_stack: LocalStack) -> Driver:
    sns = boto3.client(
        "sns", endpoint_url=local_stack.sns_endpoint, region_name=local_stack.config.region
    )
    return Driver(local_stack, sns, ReadApi(local_stack.api_url, local_stack.read_key))


# -- raw HTTP and outbound requests (hostile-input tests over HTTP) ------------------------------


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        """The ``error.code`` of an error answer."""
        try:
            document = self.json
        except ValueError:
            return None
        error = document.get("error") if isinstance(document, dict) else None
        return error.get("code") if isinstance(error, dict) else None


def http_request(
    base_url: str,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    timeout: float = DEADLINE_SECONDS,
) -> HttpAnswer:
    """One request with http.client, headers exactly as given (no defaults added but Host)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return HttpAnswer(response.status, response.read())
    finally:
        connection.close()


class OutboundRecorder:
    """Every connection the functions' urllib3 clients open (certificate fetches, SubscribeURL
    GETs, AWS calls to moto), recorded; any host but a loopback address is refused before DNS,
    so a wrongly fetched URL fails here and never leaves the machine."""

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def create_connection(
        self, address: tuple[str, int], *args: Any, **kwargs: Any
    ) -> socket.socket:
        host, port = address
        with self._lock:
            self.connections.append((host, port))
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"test guard: no connection to {host}:{port} (loopback only)")
        return _CREATE_CONNECTION(address, *args, **kwargs)

    def to_port(self, port: int) -> list[tuple[str, int]]:
        with self._lock:
            return [c for c in self.connections if c[1] == port]

    def not_to(self, *ports: int) -> list[tuple[str, int]]:
        """Connections to anything but the given loopback ports."""
        with self._lock:
            return [c for c in self.connections if c[1] not in ports]


_CREATE_CONNECTION = urllib3.util.connection.create_connection


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch) -> OutboundRecorder:
    recorder = OutboundRecorder()
    monkeypatch.setattr(urllib3.util.connection, "create_connection", recorder.create_connection)
    return recorder
