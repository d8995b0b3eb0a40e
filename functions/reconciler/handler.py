"""Scheduled: start stranded claims, settle runs whose status event never came, and check
subscription records against SNS."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from snsflow import aws
from snsflow.clock import utc_now
from snsflow.executions import CachedWorkflows, ExecutionLauncher
from snsflow.reconciler import Reconciler, ReconcilerLimits
from snsflow.settings import ReconcilerSettings
from snsflow.sns_check import AccountScope, SnsSubscriptionAttributes, SubscriptionChecker
from snsflow.stepfunctions import StepFunctionsExecutions
from snsflow.store.executions import ExecutionStore
from snsflow.store.migration import move_legacy_records
from snsflow.store.subscriptions import SubscriptionStore
from snsflow.store.workflows import WorkflowRegistry

logger = Logger()
metrics = Metrics(namespace="snsflow")
tracer = Tracer(patch_modules=("botocore",))  # its AWS calls; nothing else is traced


@cache
def _reconciler(function_arn: str) -> Reconciler:
    """Built once per instance; ``function_arn`` (its own) names the stack's account."""
    settings = ReconcilerSettings()
    dynamodb = aws.dynamodb_resource()
    records = ExecutionStore(dynamodb.Table(settings.executions_table_name))
    step_functions = StepFunctionsExecutions(aws.stepfunctions_client())
    return Reconciler(
        # Every run reads the registry afresh: a run is rare, and must see new workflows.
        workflows=CachedWorkflows(
            WorkflowRegistry(dynamodb.Table(settings.workflows_table_name)),
            ttl=timedelta(0),
            clock=utc_now,
        ),
        records=records,
        launcher=ExecutionLauncher(
            records,
            step_functions,
            clock=utc_now,
            retention=timedelta(days=settings.execution_retention_days),
        ),
        describer=step_functions,
        clock=utc_now,
        limits=ReconcilerLimits(
            start_grace=timedelta(seconds=settings.start_grace_seconds),
            running_check_after=timedelta(seconds=settings.running_check_after_seconds),
            max_starts=settings.max_starts_per_run,
            max_checks=settings.max_checks_per_run,
        ),
        subscription_checker=SubscriptionChecker(
            records=SubscriptionStore(dynamodb.Table(settings.subscriptions_table_name)),
            # A client per topic region, built on first use.
            sns=SnsSubscriptionAttributes(aws.sns_client),
            scope=AccountScope.of_function(function_arn),
            clock=utc_now,
            max_checks=settings.max_subscription_checks_per_run,
        ),
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(_event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        _move_legacy_records()
        report = _reconciler(context.invoked_function_arn).run()
    except Exception:
        # Raised on: Lambda retries the run twice, then the tick goes to the failed-events queue
        # (docs/deploy.md); counted beside the runs' figures.
        metrics.add_metric(name="ReconcilerRunsFailed", unit=MetricUnit.Count, value=1)
        raise
    logger.info("reconciled", extra=report.model_dump())
    for name, value in report.model_dump().items():
        metric = "Reconciler" + name.title().replace("_", "")  # e.g. ReconcilerStartFailures
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)
    return report.model_dump()


def _move_legacy_records() -> None:
    """Moves records of the executions table deployed before issue 15, if there is one (first,
    so that this run's passes see them)."""
    settings = ReconcilerSettings()
    if settings.legacyexecutions_table_name is None:
        return
    dynamodb = aws.dynamodb_resource()
    moved = move_legacy_records(
        dynamodb.Table(settings.legacyexecutions_table_name),
        dynamodb.Table(settings.executions_table_name),
        limit=settings.max_moves_per_run,
    )
    if moved.moved or moved.superseded:
        logger.info("moved records of the old executions table", extra=vars(moved))
    metrics.add_metric(name="ReconcilerRecordsMoved", unit=MetricUnit.Count, value=moved.moved)
