"""``GET /workflows`` and ``GET /workflows/{workflowId}``: webhook URLs, subscriptions, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.query import handler
from snsflow.store.executions import ExecutionStatus, format_time
from tests.integration.query.conftest import (
    AUDIT_TOPIC,
    ORDERS_TOPIC,
    QueryStack,
    state_machine_arn,
)
from tests.support.apigw import API_ID, REGION, rest_request_event

EXECUTE_API = f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/prod"


@pytest.fixture
def subscribed(query_stack: QueryStack) -> None:
    now = datetime.now(UTC)
    query_stack.subscriptions.mark_confirmed(
        "order-events",
        ORDERS_TOPIC,
        subscription_arn=f"{ORDERS_TOPIC}:0b5d3c3e-6f4d-4b7c-9d4e-0c1f2a3b4c5d",
        message_time=now - timedelta(minutes=5),
        at=now,
    )
    query_stack.subscriptions.record_error(
        "order-events", AUDIT_TOPIC, error="SNS refused the token", at=now
    )


def test_list_shows_each_workflow_with_its_webhook_url_key_subscriptions_and_counts(
    query_stack: QueryStack, subscribed: None, recent: datetime
) -> None:
    for index, status in enumerate(
        [ExecutionStatus.SUCCEEDED] * 3 + [ExecutionStatus.FAILED] * 2 + [ExecutionStatus.RUNNING]
    ):
        query_stack.seed("order-events", index, status, recent + timedelta(seconds=index))
    # Older than the retention window: expired, even if DynamoDB has not deleted it yet.
    query_stack.seed("order-events", 99, ExecutionStatus.FAILED, recent - timedelta(days=31))
    query_stack.seed("audit-log", 100, ExecutionStatus.ABORTED, recent)

    reply = query_stack.get("/workflows")

    assert reply.status == 200
    audit, orders = reply.body["items"]
    assert orders["id"] == "order-events"
    assert orders["name"] == "Order events"
    assert orders["webhookUrl"] == f"{EXECUTE_API}/webhooks/order-events"
    assert orders["apiKeyName"] == "prod-sns"
    assert orders["allowedTopicArns"] == [ORDERS_TOPIC]
    assert orders["stateMachineArn"] == state_machine_arn("order-events")
    assert orders["stateMachineType"] == "STANDARD"
    assert orders["counts"] == {
        "RECEIVED": 0,
        "RUNNING": 1,
        "SUCCEEDED": 3,
        "FAILED": 2,
        "TIMED_OUT": 0,
        "ABORTED": 0,
    }
    counted_from = datetime.fromisoformat(orders["countsSince"])
    assert abs(counted_from - (datetime.now(UTC) - timedelta(days=30))) < timedelta(minutes=1)
    pending, confirmed = orders["subscriptions"]  # by topic ARN
    assert confirmed["topicArn"] == ORDERS_TOPIC
    assert confirmed["status"] == "confirmed"
    assert confirmed["confirmedAt"]
    assert "subscriptionArn" not in confirmed  # it would let a reader unsubscribe the endpoint
    assert pending == {
        "topicArn": AUDIT_TOPIC,
        "status": "pending",
        "statusSince": None,
        "confirmedAt": None,
        "unsubscribedAt": None,
        "updatedAt": pending["updatedAt"],
        "lastError": "SNS refused the token",
        "lastErrorAt": pending["updatedAt"],
        # A confirmation that failed, and nothing delivered since (the log is empty).
        "health": "refused",
        "healthReason": None,
        "lastDeliveryAt": None,
        "lastAcceptedAt": None,
        "refusalsLastHour": 0,
        "refusalsLastDay": 0,
        "lastRefusalCode": "confirmation_failed",
        # No subscription ARN to ask SNS about: not checked.
        "checkedAgainstSns": None,
    }
    assert confirmed["health"] == "confirmed"
    assert audit["id"] == "audit-log"
    assert audit["allowedTopicArns"] is None
    assert audit["subscriptions"] == []
    assert audit["counts"]["ABORTED"] == 1
    assert sum(audit["counts"].values()) == 1


def test_show_is_the_same_view_of_one_workflow(query_stack: QueryStack, subscribed: None) -> None:
    listed = query_stack.get("/workflows").body["items"][1]

    reply = query_stack.get("/workflows/{workflowId}", {"workflowId": "order-events"})

    assert reply.status == 200
    shown = reply.body
    assert listed.pop("countsSince") <= shown.pop("countsSince")  # the window moves with time
    assert shown == listed


@pytest.mark.parametrize("workflow_id", ["nope", "Order_Events", "x" * 65])
def test_show_of_an_unknown_workflow_is_a_404(query_stack: QueryStack, workflow_id: str) -> None:
    reply = query_stack.get("/workflows/{workflowId}", {"workflowId": workflow_id})

    assert reply.status == 404
    assert reply.body["error"]["code"] == "workflow_not_found"


def test_webhook_urls_follow_the_address_the_caller_used(query_stack: QueryStack) -> None:
    event = rest_request_event("GET", "/workflows/{workflowId}", {"workflowId": "audit-log"})
    # The local gateway: plain HTTP on loopback, no stage in the path.
    local = query_stack.request(
        {
            **event,
            "headers": {"Host": "127.0.0.1:8042", "X-Forwarded-Proto": "http"},
            "requestContext": {
                **event["requestContext"],
                "path": "/workflows/audit-log",
                "domainName": "127.0.0.1:8042",
            },
        }
    )
    # A custom domain with a base path mapping.
    custom = query_stack.request(
        {
            **event,
            "requestContext": {
                **event["requestContext"],
                "path": "/snsflow/workflows/audit-log",
                "domainName": "hooks.example.com",
            },
        }
    )

    assert local.body["webhookUrl"] == "http://127.0.0.1:8042/webhooks/audit-log"
    assert custom.body["webhookUrl"] == "https://hooks.example.com/snsflow/webhooks/audit-log"


def test_counts_are_within_the_retention_window(
    query_stack: QueryStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNSFLOW_EXECUTION_RETENTION_DAYS", "7")
    handler._service.cache_clear()
    now = datetime.now(UTC)
    query_stack.seed("audit-log", 1, ExecutionStatus.SUCCEEDED, now - timedelta(days=6))
    query_stack.seed("audit-log", 2, ExecutionStatus.SUCCEEDED, now - timedelta(days=8))

    shown = query_stack.get("/workflows/{workflowId}", {"workflowId": "audit-log"}).body

    assert shown["counts"]["SUCCEEDED"] == 1
    assert shown["countsSince"] < format_time(now - timedelta(days=6))
