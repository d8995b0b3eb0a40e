"""The delivery log as the webhook and the authorizer write it: the store, the settings and
the metrics of :class:`snsflow.deliveries.DeliveryLog`, wired once for both functions."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from snsflow import aws
from snsflow.clock import utc_now
from snsflow.deliveries import DeliveryLog, delivery_log_shape
from snsflow.settings import DeliveryLogSettings
from snsflow.store.deliveries import DeliveryLogStore

#: Notifications refused for a workflow (dimension ``workflowId``): the metric of its alarm.
REFUSED_NOTIFICATIONS_METRIC = "WorkflowNotificationsRefused"
#: A log write that failed (the delivery's answer did not change).
LOG_FAILURE_METRIC = "DeliveryLogWriteFailed"


def delivery_log(settings: DeliveryLogSettings, metrics: Metrics) -> DeliveryLog:
    """Each metric is a document of its own, flushed at once: the authorizer flushes no other
    metrics, and the invocation's other metrics have no workflow dimension."""

    def count(name: str, workflow_id: str | None = None, value: int = 1) -> None:
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            if workflow_id is not None:
                metric.add_dimension(name="workflowId", value=workflow_id)

    def count_failure() -> None:
        count(LOG_FAILURE_METRIC)

    def count_refused_notifications(workflow_id: str, refused: int) -> None:
        count(REFUSED_NOTIFICATIONS_METRIC, workflow_id, refused)

    return DeliveryLog(
        DeliveryLogStore(aws.dynamodb_resource().Table(settings.deliveries_table_name)),
        delivery_log_shape(settings),
        clock=utc_now,
        on_failure=count_failure,
        on_refused_notifications=count_refused_notifications,
    )
