"""``GET /`` serves the executions page; failures all leave in the API's error shape."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from functions.query import handler
from snsflow import aws
from tests.integration.query.conftest import QueryStack
from tests.support.apigw import rest_request_event


def test_the_page_is_served_as_html_with_a_strict_policy_and_no_key(
    query_stack: QueryStack,
) -> None:
    reply = query_stack.get("/", authorizer=None)

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.text.startswith("<!doctype html>")
    assert 'data-testid="api-key"' in reply.text
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in reply.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    [script] = re.findall(r"<script>(.*?)</script>", reply.text, re.DOTALL)
    [style] = re.findall(r"<style>(.*?)</style>", reply.text, re.DOTALL)
    for source, directive in ((script, "script-src"), (style, "style-src")):
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert policy[directive] == f"'sha256-{digest}'"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["X-Frame-Options"] == "DENY"


def test_an_unknown_route_is_a_404_in_the_error_shape(query_stack: QueryStack) -> None:
    reply = query_stack.get("/nothing/here")

    assert reply.status == 404
    assert reply.body == {
        "error": {"code": "route_not_found", "message": "no route GET /nothing/here"}
    }


def _throttle_queries(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
    error = {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}
    metadata = {"ResponseMetadata": {"HTTPStatusCode": 400}}
    return AWSResponse("https://injected", 400, HTTPHeaders(), None), error | metadata


def test_a_throttled_table_is_a_503_the_caller_may_retry(query_stack: QueryStack) -> None:
    client = aws.dynamodb_resource().meta.client
    # A before-call hook that returns a response short-circuits the request.
    client.meta.events.register("before-call.dynamodb.Query", _throttle_queries)  # type: ignore[arg-type]

    reply = query_stack.executions("order-events")

    assert reply.status == 503
    assert reply.body["error"]["code"] == "dependency_unavailable"


def test_an_unexpected_failure_is_a_500_that_says_nothing_of_it(
    query_stack: QueryStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNSFLOW_EXECUTIONS_TABLE_NAME", "no-such-table")
    handler._service.cache_clear()

    reply = query_stack.executions("order-events")

    assert reply.status == 500
    assert reply.body == {"error": {"code": "internal_error", "message": "internal error"}}


def test_a_key_in_the_query_string_is_ignored_and_never_logged(
    query_stack: QueryStack, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "snsf_" + "k" * 43
    event = rest_request_event(
        "GET",
        "/workflows/{workflowId}/executions",
        {"workflowId": "order-events"},
        query={"x-api-key": secret, "limit": "0"},
    )

    reply = query_stack.request(event)

    assert reply.status == 400  # the limit, not the key
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err + reply.text
