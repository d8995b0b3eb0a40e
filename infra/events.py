"""EventBridge: the workflows' status changes to the status function, and the reconciler's clock.

Both functions are invoked asynchronously, so a failure is nobody's answer: each has a queue
where an event lands when EventBridge cannot deliver it (the rule target's dead-letter queue) or
Lambda gives up on it (the on-failure destination, after its retries or once too old). Each
queue has an alarm (infra/observability.py).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from infra.permissions import FunctionName
from snsflow.status import EVENT_STATUSES

#: SQS's longest: time to notice the alarm, read the events and act.
FAILED_EVENTS_RETENTION = Duration.days(14)


class ExecutionEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        state_machine_arns: list[str],
        status_function: lambda_.IFunction,
        reconciler_function: lambda_.IFunction,
        reconcile_every_minutes: int,
    ) -> None:
        super().__init__(scope, id)
        #: Where the events each function never processed land.
        self.failed_events: dict[FunctionName, sqs.Queue] = {
            "status": _failed_events_queue(self, "StatusFailedEvents"),
            "reconciler": _failed_events_queue(self, "ReconcilerFailedEvents"),
        }
        # Step Functions sends these for STANDARD workflows only, best effort: the reconciler
        # settles whatever they miss. Ends only: a start is recorded by whoever starts the run.
        events.Rule(
            self,
            "StatusChanges",
            description="snsflow: execution status changes of this stack's workflows",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": state_machine_arns,
                    "status": list(EVENT_STATUSES),
                },
            ),
            targets=[
                targets.LambdaFunction(
                    status_function,
                    # EventBridge retries a delivery Lambda refuses; what it cannot deliver in
                    # time goes to the queue at once.
                    max_event_age=Duration.hours(2),
                    retry_attempts=4,
                    dead_letter_queue=self.failed_events["status"],
                )
            ],
        )
        # Lambda retries a failed run twice and a throttled event until it is 6 hours old.
        status_function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.failed_events["status"]),
            max_event_age=Duration.hours(6),
            retry_attempts=2,
        )
        events.Rule(
            self,
            "ReconcileSchedule",
            description="snsflow: start stranded claims and settle stale runs",
            schedule=events.Schedule.rate(Duration.minutes(reconcile_every_minutes)),
            targets=[
                targets.LambdaFunction(
                    reconciler_function,
                    retry_attempts=0,  # the next tick is the retry
                    dead_letter_queue=self.failed_events["reconciler"],
                )
            ],
        )
        # A tick that fires during a run waits in Lambda's queue (reserved concurrency 1) and
        # runs after it; ticks still waiting after an hour mean runs cannot keep up with the
        # schedule, and land in the queue.
        reconciler_function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.failed_events["reconciler"]),
            max_event_age=Duration.hours(1),
            retry_attempts=2,
        )


def _failed_events_queue(scope: Construct, id: str) -> sqs.Queue:
    queue = sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=FAILED_EVENTS_RETENTION,
    )
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        "This queue is itself the dead-letter queue (of an EventBridge target and a Lambda "
        "on-failure destination, which cdk-nag does not recognise); nothing consumes it.",
    )
    return queue
