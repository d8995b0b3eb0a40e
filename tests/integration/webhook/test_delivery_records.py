"""Each handled delivery leaves one stdout line: the EMF metrics document, also its log record."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.integration.webhook.conftest import Stack


def stdout_documents(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def metric_names(document: dict[str, Any]) -> set[str]:
    directives = document["_aws"]["CloudWatchMetrics"]
    return {metric["Name"] for directive in directives for metric in directive["Metrics"]}


def test_an_accepted_notification_writes_one_line_with_its_metric_and_ids(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    body = stack.signer.notification('{"status": "paid", "card": "4111 1111 1111 1111"}')
    capsys.readouterr()

    reply = stack.deliver("order-events", body)

    assert reply.status == 200
    [document] = stdout_documents(capsys)
    assert metric_names(document) == {"NotificationsAccepted"}
    assert document["NotificationsAccepted"] == [1.0]
    assert document["outcome"] == "accepted"
    assert document["workflowId"] == "order-events"
    assert document["messageId"] == reply.body["messageId"]
    assert document["executionId"] == reply.body["executionId"]
    assert document["function_request_id"]  # joins the invocation's other lines
    assert document["apiRequestId"]  # joins the gateway's access log
    assert "4111" not in json.dumps(document)  # ids only, never the message


def test_a_redelivery_is_recorded_as_a_duplicate_with_its_delivery_count(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    body = stack.signer.notification("hello")
    stack.deliver("order-events", body)
    capsys.readouterr()

    reply = stack.deliver("order-events", body)

    [document] = stdout_documents(capsys)
    assert metric_names(document) == {"NotificationsDuplicate"}
    assert document["outcome"] == "duplicate"
    assert document["deliveries"] == reply.body["deliveries"] == 2


def test_a_refused_delivery_counts_as_refused_and_logs_why(
    stack: Stack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    capsys.readouterr()
    caplog.set_level(logging.INFO)

    reply = stack.deliver("order-events", "not an envelope")

    assert reply.status == 400
    documents = [line for line in stdout_documents(capsys) if "_aws" in line]
    assert [metric_names(doc) for doc in documents] == [{"DeliveriesRefused"}]
    assert "outcome" not in documents[0]
    [refusal] = [record for record in caplog.records if record.msg == "delivery refused"]
    assert refusal.__dict__["workflowId"] == "order-events"
    assert refusal.__dict__["errorCode"] == reply.body["error"]["code"]
