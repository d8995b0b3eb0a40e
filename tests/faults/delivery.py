"""SNS and EventBridge as the handlers see them under faults: redelivery and best-effort events.

* SNS (default HTTP/S delivery policy) delivers each message up to 4 times, until an answer
  below 500; a 2xx whose answer SNS never saw (a timeout after the work was done) is delivered
  again too. The order of deliveries across messages is random.
* Step Functions status events reach the status function through EventBridge and Lambda's
  asynchronous invocation: an event may never come; one whose handling fails is retried twice.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from functions.status import handler as status_handler
from snsflow import aws
from tests.faults.injection import SNS_DEFAULT_ATTEMPTS, Fault, FaultInjector
from tests.integration.webhook.conftest import Stack
from tests.support.apigw import LambdaContext, execution_status_event

#: Lambda's asynchronous invocation: the first attempt and 2 retries.
ASYNC_INVOKE_ATTEMPTS = 3


@dataclass(frozen=True)
class Attempt:
    number: int
    status: int
    code: str | None
    #: What the injector did while this attempt ran.
    faults: tuple[Fault, ...]
    #: SNS never saw the answer (it timed out after the work was done) and retries.
    answer_lost: bool


@dataclass
class SnsDeliveries:
    """Delivers messages to the webhook like SNS, and remembers every attempt."""

    stack: Stack
    rng: random.Random
    injector: FaultInjector
    workflow_id: str = "order-events"
    #: Chance that SNS misses a 2xx and delivers the message again.
    answer_loss_rate: float = 0.1
    attempts: dict[str, list[Attempt]] = field(default_factory=lambda: defaultdict(list))

    def deliver_all(self, bodies: list[str]) -> None:
        pending = [(body, 1) for body in bodies]
        while pending:
            body, number = pending.pop(self.rng.randrange(len(pending)))
            mark = len(self.injector.injected)
            reply = self.stack.deliver(self.workflow_id, body)
            lost = reply.status < 300 and self.rng.random() < self.answer_loss_rate
            error = reply.body.get("error")
            self.attempts[json.loads(body)["MessageId"]].append(
                Attempt(
                    number=number,
                    status=reply.status,
                    code=error["code"] if isinstance(error, dict) else None,
                    faults=tuple(self.injector.faults_since(mark)),
                    answer_lost=lost,
                )
            )
            if (reply.status >= 500 or lost) and number < SNS_DEFAULT_ATTEMPTS:
                pending.append((body, number + 1))

    def acknowledged(self, message_id: str) -> bool:
        """Whether any delivery was answered 2xx (SNS may not have seen it)."""
        return any(attempt.status < 300 for attempt in self.attempts[message_id])

    def all_attempts(self) -> list[Attempt]:
        return [attempt for attempts in self.attempts.values() for attempt in attempts]


@dataclass
class StatusEvents:
    """Sends Step Functions status events to the status function, best effort."""

    rng: random.Random
    loss_rate: float
    delivered: int = 0
    lost: int = 0
    dropped_after_retries: int = 0

    def send(self, events: list[dict[str, Any]]) -> None:
        for event in self.rng.sample(events, len(events)):  # in any order
            if self.rng.random() < self.loss_rate:
                self.lost += 1
                continue
            for _ in range(ASYNC_INVOKE_ATTEMPTS):
                try:
                    status_handler.lambda_handler(event, LambdaContext())
                except Exception:  # Lambda retries whatever the failure
                    continue
                self.delivered += 1
                break
            else:
                self.dropped_after_retries += 1


def events_of_finished_runs(stack: Stack, rng: random.Random) -> list[dict[str, Any]]:
    """The events the stack's rule forwards for every execution of order-events once it has
    ended: its terminal status, and for some the same again (EventBridge delivers at least
    once)."""
    events = []
    for execution in stack.executions_of("order-events"):
        description = stack.finished_execution(execution["executionArn"])
        events.append(execution_status_event(description))
        if rng.random() < 0.5:
            events.append(execution_status_event(description))
    return events


def describe(execution_arn: str) -> dict[str, Any]:
    return dict(aws.stepfunctions_client().describe_execution(executionArn=execution_arn))
