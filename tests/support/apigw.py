"""Lambda events for tests: API Gateway REST proxy deliveries, Step Functions status events.

The shapes follow what AWS sends: the REST proxy event after the ``REQUEST`` authorizer (its
context under ``requestContext.authorizer``), and the EventBridge "Step Functions Execution
Status Change" event (epoch-millisecond dates, input/output as JSON text).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
API_ID = "abc123defg"
STAGE = "prod"
TEST_API_KEY = "snsf_test-key-never-logged"
SNS_USER_AGENT = "Amazon Simple Notification Service Agent"


@dataclass(frozen=True)
class LambdaContext:
    """The attributes Powertools reads from the Lambda context."""

    function_name: str = "snsflow-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:snsflow-test"
    aws_request_id: str = "0f2b6a63-0000-4000-8000-000000000001"


def sns_delivery_event(
    workflow_id: str,
    body: str | bytes,
    *,
    base64_encoded: bool = False,
    raw_delivery: bool = False,
    extra_headers: dict[str, str] | None = None,
    api_key: str = TEST_API_KEY,
) -> dict[str, Any]:
    """The REST proxy event for an SNS POST of ``body`` to ``/webhooks/{workflow_id}``.

    The SNS headers are taken from the body when it is a JSON envelope (headers are not signed,
    so tests may override them with ``extra_headers``). The key rides in the query string, as in
    the endpoint an operator pastes into SNS.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "User-Agent": SNS_USER_AGENT,
        "Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
    }
    try:
        envelope = json.loads(raw)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict):
        for header, field in (
            ("x-amz-sns-message-type", "Type"),
            ("x-amz-sns-message-id", "MessageId"),
            ("x-amz-sns-topic-arn", "TopicArn"),
        ):
            if isinstance(envelope.get(field), str):
                headers[header] = envelope[field]
    if raw_delivery:
        headers["x-amz-sns-rawdelivery"] = "true"
    headers |= extra_headers or {}
    path = f"/webhooks/{workflow_id}"
    return {
        "resource": "/webhooks/{workflowId}",
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {"x-api-key": api_key},
        "multiValueQueryStringParameters": {"x-api-key": [api_key]},
        "pathParameters": {"workflowId": workflow_id},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "r35x1a",
            "resourcePath": "/webhooks/{workflowId}",
            "httpMethod": "POST",
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "requestId": str(uuid.uuid4()),
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "54.240.197.1", "userAgent": SNS_USER_AGENT},
            "authorizer": {
                "principalId": "prod-sns",
                "keyName": "prod-sns",
                "scope": "webhook",
                "workflowId": workflow_id,
                "integrationLatency": 12,
            },
        },
        "body": base64.b64encode(raw).decode("ascii") if base64_encoded else raw.decode("utf-8"),
        "isBase64Encoded": base64_encoded,
    }


def rest_request_event(
    http_method: str,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    *,
    query: dict[str, str | list[str]] | None = None,
    headers: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The REST proxy event for a request to ``resource`` (a template such as
    ``/workflows/{workflowId}``) with ``path_parameters`` filled in, through the stage ``STAGE``
    of the execute-api endpoint. A query value given as a list repeats the parameter."""
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    host = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
    headers = {"Host": host, "X-Forwarded-Proto": "https"} | (headers or {})
    multi_query = {
        name: list(value) if isinstance(value, list) else [value]
        for name, value in (query or {}).items()
    }
    return {
        "resource": resource,
        "path": path,
        "httpMethod": http_method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        # Like API Gateway: the single-value map holds the last value of a repeated parameter.
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "q81k2z",
            "resourcePath": resource,
            "httpMethod": http_method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "domainName": host,
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "requestId": str(uuid.uuid4()),
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"},
            "authorizer": authorizer,
        },
        "body": None,
        "isBase64Encoded": False,
    }


def _epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def execution_status_event(
    description: dict[str, Any], *, status: str | None = None, include_input: bool = True
) -> dict[str, Any]:
    """The EventBridge event Step Functions emits for an execution, from its DescribeExecution
    answer (boto3 shape). ``status`` overrides the status (e.g. a late ``RUNNING``);
    ``include_input=False`` is what a too-large input looks like in the event."""
    status = status or description["status"]
    ended = status not in ("RUNNING", "PENDING_REDRIVE")
    execution_input = description.get("input") if include_input else None
    output = description.get("output") if status == "SUCCEEDED" else None
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT_ID,
        "time": (description.get("stopDate") or description["startDate"]).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "region": REGION,
        "resources": [description["executionArn"]],
        "detail": {
            "executionArn": description["executionArn"],
            "stateMachineArn": description["stateMachineArn"],
            "name": description["name"],
            "status": status,
            "startDate": _epoch_ms(description["startDate"]),
            "stopDate": _epoch_ms(description.get("stopDate")) if ended else None,
            "input": execution_input,
            "output": output,
            "inputDetails": {"included": execution_input is not None},
            "outputDetails": {"included": output is not None} if ended else None,
            "error": description.get("error") if ended else None,
            "cause": description.get("cause") if ended else None,
            "redriveCount": 0,
            "redriveStatus": "NOT_REDRIVABLE",
        },
    }
