"""``snsflow demo``: the whole journey on the local stack, checked step by step.

Starts the local stack, subscribes a topic to the ``order-events`` workflow through the local
SNS (boto3, as against AWS), publishes orders — accepted ones, a cancelled one, a rejected one
that makes the workflow fail, and one that SNS delivers twice — then reads the outcome through
the read API with the read key, and says whether every step did what it should.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import boto3

from snsflow import aws
from snsflow.cli.execution_actions import format_history
from snsflow.cli.stack import ReadApi, render_table
from snsflow.executions import execution_name
from snsflow.local.sns import Outcome
from snsflow.local.stack import LocalStack, LocalStackConfig, LocalWorkflow, wait_until
from snsflow.query import Execution
from snsflow.store.executions import ExecutionStatus
from snsflow.store.subscriptions import SubscriptionStatus

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

WORKFLOW_ID = "order-events"
TOPIC_NAME = "orders"
#: The state of order-events a rejected order fails in.
FAILING_STATE = "OrderRejected"
CONFIRMATION_TIMEOUT_SECONDS = 15.0
EXECUTIONS_TIMEOUT_SECONDS = 30.0
_POLL_SECONDS = 0.1

_T = TypeVar("_T")


@dataclass(frozen=True)
class DemoMessage:
    """One order event to publish, and what must become of it."""

    label: str
    order: dict[str, Any]
    expected: ExecutionStatus
    #: SNS delivers it a second time (same MessageId, same signature).
    delivered_twice: bool = False

    @property
    def expected_deliveries(self) -> int:
        return 2 if self.delivered_twice else 1


MESSAGES: tuple[DemoMessage, ...] = (
    DemoMessage("accepted", {"orderId": "A-1001", "status": "accepted"}, ExecutionStatus.SUCCEEDED),
    DemoMessage("accepted", {"orderId": "A-1002", "status": "accepted"}, ExecutionStatus.SUCCEEDED),
    DemoMessage(
        "cancelled", {"orderId": "A-1003", "status": "cancelled"}, ExecutionStatus.SUCCEEDED
    ),
    DemoMessage(
        "rejected: the workflow fails",
        {"orderId": "A-1004", "status": "rejected"},
        ExecutionStatus.FAILED,
    ),
    DemoMessage(
        "accepted, delivered twice",
        {"orderId": "A-1005", "status": "accepted"},
        ExecutionStatus.SUCCEEDED,
        delivered_twice=True,
    ),
)


class DemoFailedError(Exception):
    """A step did not do what it should; the message says which and how."""


@dataclass
class Published:
    message: DemoMessage
    message_id: str


@dataclass
class DemoReport:
    """What the demo saw: every check with its verdict."""

    checks: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, description: str, passed: bool) -> bool:
        self.checks.append((description, passed))
        return passed

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(passed for _, passed in self.checks)


class Demo:
    def __init__(self, stack: LocalStack, out: TextIO) -> None:
        self._stack = stack
        self._out = out
        self._workflow: LocalWorkflow = stack.workflow(WORKFLOW_ID)
        self._api = ReadApi(stack.api_url, stack.read_key)
        self._sns: SNSClient = boto3.client(
            "sns", endpoint_url=stack.sns_endpoint, region_name=stack.config.region
        )
        self.report = DemoReport()

    def say(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def run(self) -> DemoReport:
        topic_arn = self._subscribe()
        published = self._publish(topic_arn)
        executions = self._wait_for_executions(published)
        self._show(published, executions)
        self._check(published, executions)
        self._show_failed_steps(published, executions)
        return self.report

    # -- steps -------------------------------------------------------------------------------

    def _subscribe(self) -> str:
        topic_arn = self._sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        self.say(f"Created topic {topic_arn}")
        self.say(f"Subscribing workflow {WORKFLOW_ID}: {self._workflow.webhook_url}")
        self._sns.subscribe(
            TopicArn=topic_arn,
            Protocol="http",
            Endpoint=self._workflow.sns_endpoint,
            ReturnSubscriptionArn=True,
        )
        started = time.monotonic()
        self._step(
            lambda: self._is_confirmed(topic_arn),
            CONFIRMATION_TIMEOUT_SECONDS,
            "SNS to confirm the subscription (SubscriptionConfirmation → webhook → SubscribeURL)",
        )
        self.report.check("the subscription is confirmed (by SNS and in snsflow's records)", True)
        self.say(f"  confirmed in {time.monotonic() - started:.1f} s")
        return topic_arn

    def _is_confirmed(self, topic_arn: str) -> bool:
        listed = self._sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        confirmed_by_sns = any(item["SubscriptionArn"] != "PendingConfirmation" for item in listed)
        recorded = self._api.workflow(WORKFLOW_ID).subscriptions
        return confirmed_by_sns and any(
            item.topic_arn == topic_arn and item.status is SubscriptionStatus.CONFIRMED
            for item in recorded
        )

    def _publish(self, topic_arn: str) -> list[Published]:
        self.say(f"Publishing {len(MESSAGES)} order events")
        published = []
        for message in MESSAGES:
            message_id = self._sns.publish(
                TopicArn=topic_arn,
                Subject=f"order {message.order['orderId']}",
                Message=json.dumps(message.order),
            )["MessageId"]
            published.append(Published(message, message_id))
            self.say(f"  {message.order['orderId']} ({message.label}): MessageId {message_id}")
        for item in published:
            if item.message.delivered_twice:
                self._deliver_again(item)
        return published

    def _deliver_again(self, item: Published) -> None:
        self._step(
            lambda: self._delivered(item.message_id) >= 1,
            EXECUTIONS_TIMEOUT_SECONDS,
            f"the first delivery of {item.message_id}",
        )
        self._stack.sns.redeliver(item.message_id)
        self.say(f"  SNS delivers {item.message.order['orderId']} again (same MessageId)")

    def _delivered(self, message_id: str) -> int:
        return sum(
            1
            for attempt in self._stack.sns.delivery_log()
            if attempt.message_id == message_id and attempt.outcome is Outcome.DELIVERED
        )

    def _wait_for_executions(self, published: Sequence[Published]) -> dict[str, Execution]:
        wanted = {item.message_id: item.message for item in published}
        last_line = ""

        def settled() -> dict[str, Execution] | None:
            nonlocal last_line
            found = {
                execution.message_id: execution
                for execution in self._api.executions(WORKFLOW_ID, limit=100).items
            }
            finished = [
                found[message_id]
                for message_id, message in wanted.items()
                if message_id in found
                and found[message_id].status.is_terminal
                and found[message_id].deliveries >= message.expected_deliveries
            ]
            line = f"  {len(finished)} of {len(wanted)} executions finished"
            if line != last_line:
                self.say(line)
                last_line = line
            return found if len(finished) == len(wanted) else None

        self.say("Waiting for the executions")
        return self._step(settled, EXECUTIONS_TIMEOUT_SECONDS, "the executions to finish")

    def _show(self, published: Sequence[Published], executions: dict[str, Execution]) -> None:
        rows = []
        for item in published:
            execution = executions.get(item.message_id)
            rows.append(
                (
                    item.message.order["orderId"],
                    item.message.label,
                    item.message.expected.value,
                    execution.status.value if execution else "-",
                    str(execution.deliveries) if execution else "-",
                    execution.execution_id if execution else "-",
                )
            )
        self.say()
        header = ("ORDER", "EVENT", "EXPECTED", "STATUS", "DELIVERIES", "EXECUTION")
        for line in render_table(header, rows):
            self.say(line)
        self.say()

    def _check(self, published: Sequence[Published], executions: dict[str, Execution]) -> None:
        report = self.report
        ids = {item.message_id for item in published}
        report.check(
            f"one execution record per message ({len(ids)}), and no other",
            set(executions) == ids,
        )
        names = [
            run["name"]
            for page in aws.stepfunctions_client()
            .get_paginator("list_executions")
            .paginate(stateMachineArn=self._workflow.state_machine_arn)
            for run in page["executions"]
        ]
        report.check(
            f"Step Functions ran exactly one execution per message ({len(names)} runs)",
            sorted(names) == sorted(execution_name(message_id) for message_id in ids),
        )
        for item in published:
            execution = executions.get(item.message_id)
            order = item.message.order["orderId"]
            status = execution.status.value if execution else "no execution"
            report.check(
                f"{order} ended {item.message.expected.value} (got {status})",
                execution is not None and execution.status is item.message.expected,
            )
            if item.message.delivered_twice:
                delivered = self._delivered(item.message_id)
                deliveries = execution.deliveries if execution else 0
                report.check(
                    f"{order} was delivered twice by SNS ({delivered}), recorded as 2 "
                    f"deliveries ({deliveries}) and run once",
                    delivered == 2 and deliveries == 2,
                )

    def _show_failed_steps(
        self, published: Sequence[Published], executions: dict[str, Execution]
    ) -> None:
        """Where each failed order failed: its step history (GetExecutionHistory)."""
        for item in published:
            execution = executions.get(item.message_id)
            if execution is None or execution.status is not ExecutionStatus.FAILED:
                continue
            history = self._api.history(execution.execution_id)
            order = item.message.order["orderId"]
            self.say(f"Steps of {order} ({execution.execution_id}):")
            for line in format_history(history):
                self.say(f"  {line}")
            self.report.check(
                f"{order}'s history shows the state it failed in "
                f"({history.failed_state or 'none'})",
                history.failed_state == FAILING_STATE,
            )
        self.say()

    # -- helpers -----------------------------------------------------------------------------

    def _step(self, condition: Callable[[], _T | None], timeout: float, what: str) -> _T:
        try:
            return wait_until(condition, timeout=timeout, interval=_POLL_SECONDS, what=what)
        except TimeoutError as error:
            raise DemoFailedError(str(error)) from None


def run_demo(out: TextIO, config: LocalStackConfig | None = None) -> bool:
    """Run the demo, narrating to ``out``; True when every check passed."""
    started = time.monotonic()
    print("Starting the local stack (moto, local SNS, local API gateway)", file=out, flush=True)
    with LocalStack(config) as stack:
        print(f"  API {stack.api_url}   SNS {stack.sns_endpoint}", file=out, flush=True)
        demo = Demo(stack, out)
        try:
            report = demo.run()
        except DemoFailedError as error:
            demo.report.check(str(error), False)
            report = demo.report
        for description, passed in report.checks:
            print(f"{'[ok]    ' if passed else '[FAILED]'} {description}", file=out)
    elapsed = time.monotonic() - started
    verdict = "every check passed" if report.passed else "SOME CHECKS FAILED"
    print(f"\nDemo finished in {elapsed:.1f} s: {verdict}.", file=out, flush=True)
    return report.passed
