"""What the read API answers, built for the publish tests: a workflow with subscriptions, and
an execution in some status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from snsflow.query import ExecutionDetail, WorkflowView
from snsflow.store.executions import ExecutionStatus

WORKFLOW = "order-events"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders"
OTHER_TOPIC = "arn:aws:sns:eu-west-1:123456789012:returns"
RECEIVED_AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def workflow(subscriptions: dict[str, str] | None = None) -> WorkflowView:
    """``order-events`` with one subscription per topic, in the given status."""
    return WorkflowView.model_validate(
        {
            "id": WORKFLOW,
            "name": "Order events",
            "webhookUrl": "https://api.example.com/webhooks/order-events",
            "apiKeyName": "prod-sns",
            "allowedTopicArns": None,
            "stateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:orders",
            "stateMachineType": "STANDARD",
            "subscriptions": [
                {"topicArn": topic, "status": status, "updatedAt": RECEIVED_AT.isoformat()}
                for topic, status in (subscriptions or {}).items()
            ],
            "counts": {},
            "countsSince": RECEIVED_AT.isoformat(),
        }
    )


def execution(execution_id: str, status: ExecutionStatus, **fields: Any) -> ExecutionDetail:
    """The execution ``execution_id`` in ``status`` (ended one second after it started when
    the status is terminal)."""
    workflow_id, _, name = execution_id.partition(".")
    document: dict[str, Any] = {
        "executionId": execution_id,
        "workflowId": workflow_id,
        "messageId": name,
        "executionName": name,
        "status": status.value,
        "topicArn": TOPIC,
        "subject": None,
        "receivedAt": RECEIVED_AT,
        "startedAt": RECEIVED_AT if status is not ExecutionStatus.RECEIVED else None,
        "stoppedAt": RECEIVED_AT + timedelta(seconds=1) if status.is_terminal else None,
        "deliveries": 1,
        "executionArn": None,
        "input": {"message": {"orderId": "A-1"}},
        "snsMessage": {"Type": "Notification"},
        "expiresAt": RECEIVED_AT + timedelta(days=30),
    }
    return ExecutionDetail.model_validate(document | fields)
