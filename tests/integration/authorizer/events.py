"""API Gateway REST ``REQUEST`` authorizer events, shaped like the ones API Gateway sends."""

from __future__ import annotations

from typing import Any

API_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123defg"
STAGE = "prod"


def method_arn(http_method: str, path: str) -> str:
    return f"{API_ARN}/{STAGE}/{http_method}{path}"


def authorizer_event(
    http_method: str,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    multi_value_headers: dict[str, list[str]] | None = None,
    multi_value_query: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The event for ``http_method resource`` with ``path_parameters`` filled in.

    Like API Gateway, the multi-value maps repeat the single-value ones unless given.
    """
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    if multi_value_headers is None and headers is not None:
        multi_value_headers = {name: [value] for name, value in headers.items()}
    if multi_value_query is None and query is not None:
        multi_value_query = {name: [value] for name, value in query.items()}
    return {
        "type": "REQUEST",
        "methodArn": method_arn(http_method, path),
        "resource": resource,
        "path": path,
        "httpMethod": http_method,
        "headers": headers,
        "multiValueHeaders": multi_value_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_value_query,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": http_method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {
                "sourceIp": "203.0.113.10",
                "userAgent": "Amazon Simple Notification Service Agent",
            },
        },
    }


def webhook_event(workflow_id: str, **carriers: Any) -> dict[str, Any]:
    return authorizer_event(
        "POST", "/webhooks/{workflowId}", {"workflowId": workflow_id}, **carriers
    )
