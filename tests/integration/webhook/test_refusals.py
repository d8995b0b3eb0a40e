"""Bad or unverifiable deliveries get a clear 4xx; only what a retry can fix gets a 5xx."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from functions.webhook import handler
from snsflow.errors import SnsflowError
from snsflow.store.workflows import WorkflowRegistry
from tests.integration.webhook.conftest import Stack
from tests.support.apigw import TEST_API_KEY, LambdaContext, sns_delivery_event


def test_raw_delivery_header_is_refused_with_advice_to_turn_it_off(stack: Stack) -> None:
    reply = stack.deliver("order-events", '{"status": "paid"}', raw_delivery=True)

    assert reply.status == 400
    assert reply.body["error"]["code"] == "raw_delivery_not_supported"
    assert "RawMessageDelivery off" in reply.body["error"]["message"]


@pytest.mark.parametrize("body", ['{"status": "paid"}', "order 17 paid", "[1, 2]"])
def test_a_body_without_the_sns_envelope_is_taken_for_raw_delivery(stack: Stack, body: str) -> None:
    reply = stack.deliver("order-events", body)

    assert reply.status == 400
    assert reply.body["error"]["code"] == "raw_delivery_not_supported"
    assert "RawMessageDelivery" in reply.body["error"]["message"]


def test_an_envelope_missing_a_field_is_a_bad_request(stack: Stack) -> None:
    envelope = json.loads(stack.signer.notification("hello"))
    del envelope["Signature"]

    reply = stack.deliver("order-events", json.dumps(envelope))

    assert reply.status == 400
    assert reply.body["error"]["code"] == "missing_field"


@pytest.mark.parametrize("base64_encoded", [False, True])
def test_an_oversize_body_is_refused_with_413(stack: Stack, base64_encoded: bool) -> None:
    envelope = json.loads(stack.signer.notification("x"))
    envelope["Padding"] = "x" * (2 * 1024 * 1024)

    reply = stack.deliver("order-events", json.dumps(envelope), base64_encoded=base64_encoded)

    assert reply.status == 413
    assert reply.body["error"]["code"] == "message_too_large"
    assert stack.calls.names == []


def test_a_message_whose_execution_input_cannot_fit_is_refused_before_any_claim(
    stack: Stack,
) -> None:
    # 200 KB of quotes: within SNS's 256 KiB, but twice that once escaped in the input.
    body = stack.signer.notification('"' * 200_000)

    reply = stack.deliver("order-events", body)

    assert reply.status == 413
    assert reply.body["error"]["code"] == "execution_input_too_large"
    assert stack.executions.get("order-events", json.loads(body)["MessageId"]) is None


def test_an_altered_message_is_refused_and_runs_nothing(stack: Stack) -> None:
    envelope = json.loads(stack.signer.notification(json.dumps({"amount": 10})))
    envelope["Message"] = json.dumps({"amount": 10_000})

    reply = stack.deliver("order-events", json.dumps(envelope))

    assert reply.status == 403
    assert reply.body["error"]["code"] == "signature_mismatch"
    assert stack.executions.get("order-events", envelope["MessageId"]) is None
    assert stack.executions_of("order-events") == []


def test_a_stale_message_is_refused(stack: Stack) -> None:
    body = stack.signer.notification("late", timestamp=datetime.now(UTC) - timedelta(hours=3))

    reply = stack.deliver("order-events", body)

    assert reply.status == 403
    assert reply.body["error"]["code"] == "stale_timestamp"


def test_an_unknown_workflow_is_not_found(stack: Stack) -> None:
    reply = stack.deliver("no-such-workflow", stack.signer.notification("hello"))

    assert reply.status == 404
    assert reply.body["error"]["code"] == "workflow_not_found"


def test_a_body_flagged_base64_that_is_not_is_a_bad_request(stack: Stack) -> None:
    event = sns_delivery_event("order-events", stack.signer.notification("hello"))
    event["isBase64Encoded"] = True  # but the body is the plain JSON text

    response = handler.lambda_handler(event, LambdaContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "bad_request"


def test_an_unreachable_certificate_answers_503_so_sns_retries(stack: Stack) -> None:
    stack.certificates.failure = "connection timed out"

    reply = stack.deliver("order-events", stack.signer.notification("hello"))

    assert reply.status == 503
    assert reply.body["error"]["code"] == "certificate_unavailable"


def test_a_throttled_workflow_lookup_answers_503_so_sns_retries(stack: Stack) -> None:
    stack.fail("dynamodb.GetItem", "ThrottlingException")

    reply = stack.deliver("order-events", stack.signer.notification("hello"))

    assert reply.status == 503
    assert reply.body["error"]["code"] == "dependency_unavailable"
    assert stack.executions_of("order-events") == []


def test_an_unexpected_fault_answers_a_generic_500(stack: Stack) -> None:
    stack.fail("dynamodb.UpdateItem", "ResourceNotFoundException")

    reply = stack.deliver("order-events", stack.signer.notification("hello"))

    assert reply.status == 500
    assert reply.body == {"error": {"code": "internal_error", "message": "internal error"}}


def test_an_internal_error_with_details_is_answered_without_them(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: WorkflowRegistry, workflow_id: str) -> None:
        raise SnsflowError("GetItem on table 'snsflow-prod-workflows' failed: AccessDenied")

    monkeypatch.setattr(WorkflowRegistry, "get", broken)

    reply = stack.deliver("order-events", stack.signer.notification("hello"))

    assert reply.status == 500
    assert reply.body == {"error": {"code": "internal_error", "message": "internal error"}}


def test_the_api_key_is_never_logged(
    stack: Stack, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # The handler's own JSON log lines, formatted as in Lambda.
    lines = io.StringIO()
    json_lines = logging.StreamHandler(lines)
    json_lines.setFormatter(handler.logger.registered_formatter)
    handler_logger = logging.getLogger(handler.logger.name)
    handler_logger.addHandler(json_lines)
    caplog.set_level(logging.DEBUG)
    try:
        stack.deliver("order-events", stack.signer.notification("hello"))
        stack.deliver("order-events", "raw body")
        stack.fail("sfn.StartExecution", "ThrottlingException")
        stack.deliver("order-events", stack.signer.notification("hello"))
        stack.fail("dynamodb.UpdateItem", "ResourceNotFoundException")
        stack.deliver("order-events", stack.signer.notification("hello"))
    finally:
        handler_logger.removeHandler(json_lines)

    logged = lines.getvalue()
    metric_documents = capsys.readouterr().out
    assert "delivery refused" in logged  # the logs were captured
    assert "unexpected failure" in logged
    outcomes = [json.loads(line).get("outcome") for line in metric_documents.splitlines()]
    assert "accepted" in outcomes  # and the EMF records
    assert TEST_API_KEY not in logged
    assert TEST_API_KEY not in metric_documents
    assert TEST_API_KEY not in caplog.text
