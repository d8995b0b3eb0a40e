"""The local stack, started once per test module on free loopback ports, and ways to drive it:
boto3 against its SNS, the read API with its read key, and polling with a deadline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import boto3
import pytest

from snsflow.cli.stack import ApiRequestError, ReadApi
from snsflow.local.sns import DeliveryAttempt
from snsflow.local.stack import LocalStack, LocalStackConfig, wait_until
from snsflow.query import Execution, ExecutionDetail
from snsflow.store.subscriptions import SubscriptionStatus

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

#: Deadlines of the polls: generous, as a loaded machine may be slow; a pass is much faster.
DEADLINE_SECONDS = 30.0


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    # SNS's 20 s retry delay becomes 0.2 s.
    config = LocalStackConfig(sns_delay_scale=0.01, status_poll_seconds=0.1)
    with LocalStack(config) as stack:
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
