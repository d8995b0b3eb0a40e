"""EventBridge: the workflows' status changes to the status function, and the reconciler's clock."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

#: The statuses an execution record can take after RECEIVED (the contract's list).
RECORDED_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


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
        # Step Functions sends these for STANDARD workflows only, best effort: the reconciler
        # settles whatever they miss.
        events.Rule(
            self,
            "StatusChanges",
            description="snsflow: execution status changes of this stack's workflows",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": state_machine_arns,
                    "status": list(RECORDED_STATUSES),
                },
            ),
            targets=[
                targets.LambdaFunction(
                    status_function,
                    # EventBridge retries a delivery Lambda refuses (throttling); Lambda retries a
                    # failed run twice. What still fails is left to the reconciler.
                    max_event_age=Duration.hours(2),
                    retry_attempts=4,
                )
            ],
        )
        events.Rule(
            self,
            "ReconcileSchedule",
            description="snsflow: start stranded claims and settle stale runs",
            schedule=events.Schedule.rate(Duration.minutes(reconcile_every_minutes)),
            targets=[targets.LambdaFunction(reconciler_function, retry_attempts=0)],
        )
