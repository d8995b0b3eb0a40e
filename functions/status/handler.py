"""Step Functions "Execution Status Change" events (EventBridge) → execution records.

A malformed or foreign event is logged and dropped; a DynamoDB outage raises, so that Lambda's
asynchronous retries deliver the event again.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from snsflow import aws
from snsflow.clock import utc_now
from snsflow.executions import CachedWorkflows
from snsflow.settings import StatusSettings
from snsflow.status import ExecutionStatusChangeEvent, StatusEventRecorder
from snsflow.store.executions import ExecutionStore
from snsflow.store.workflows import WorkflowRegistry

logger = Logger()
metrics = Metrics(namespace="snsflow")
tracer = Tracer(patch_modules=("botocore",))  # its AWS calls; nothing else is traced


@cache
def _recorder() -> StatusEventRecorder:
    settings = StatusSettings()
    dynamodb = aws.dynamodb_resource()
    return StatusEventRecorder(
        ExecutionStore(dynamodb.Table(settings.executions_table_name)),
        CachedWorkflows(
            WorkflowRegistry(dynamodb.Table(settings.workflows_table_name)),
            ttl=timedelta(seconds=settings.workflow_cache_seconds),
            clock=utc_now,
        ),
    )


@logger.inject_lambda_context(log_event=False)  # outputs may hold data not meant for logs
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    try:
        change = ExecutionStatusChangeEvent.model_validate(event).detail
    except ValidationError as error:
        logger.warning("not an execution status change event", extra={"reason": str(error)})
        metrics.add_metric(name="StatusEventsMalformed", unit=MetricUnit.Count, value=1)
        return {"result": "malformed"}
    try:
        outcome = _recorder().apply(change)
    except Exception:
        # Raised on, so that Lambda retries the event (the reconciler settles the record if
        # every try fails); counted, so that the failure shows beside the other outcomes.
        metrics.add_metric(name="StatusEventsFailed", unit=MetricUnit.Count, value=1)
        raise
    logger.info(
        "status event applied",
        extra={
            "status": change.status,
            "result": outcome.result,
            "executionId": outcome.execution_id,
        },
    )
    metrics.add_metric(name=f"StatusEvents{outcome.result.title()}", unit=MetricUnit.Count, value=1)
    return outcome.model_dump(by_alias=True)
