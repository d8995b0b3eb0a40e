"""The local API gateway, driven over HTTP on 127.0.0.1: events as API Gateway builds them,
authorizer semantics, integration responses and the gateway's own errors."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import urllib3
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.parser.models import (
    ApiGatewayAuthorizerRequest,
    APIGatewayProxyEventModel,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from snsflow.errors import DependencyUnavailableError, SnsflowError, UnauthorizedError
from snsflow.local.gateway import GatewayResponse, LambdaHandler, LocalApiGateway, Route
from tests.support.raw_http import exchange

WEBHOOK = "/webhooks/{workflowId}"
METHOD_ARN_PREFIX = "arn:aws:execute-api:us-east-1:000000000000:snsflowapi/local"


@dataclass
class Recorder:
    """A Lambda handler (or authorizer) that records its calls and answers ``result``."""

    result: Any = field(default_factory=lambda: {"statusCode": 200, "body": "ok"})
    error: Exception | None = None
    calls: list[tuple[dict[str, Any], LambdaContext]] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        self.calls.append((event, context))
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def event(self) -> dict[str, Any]:
        assert len(self.calls) == 1, f"expected one call, got {len(self.calls)}"
        return self.calls[0][0]


def allow(event: dict[str, Any], context: dict[str, Any] | None = None) -> dict[str, Any]:
    """An authorizer answer allowing every route of the API, built with Powertools."""
    response = APIGatewayAuthorizerResponse.from_route_arn(
        event["methodArn"], principal_id="key:prod-sns", context=context
    )
    response.allow_all_routes()
    return response.asdict()


@pytest.fixture
def handler() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway_for() -> Iterator[Callable[..., LocalApiGateway]]:
    started: list[LocalApiGateway] = []

    def start(
        routes: list[Route], authorizer: LambdaHandler | None, **options: Any
    ) -> LocalApiGateway:
        gateway = LocalApiGateway(routes, authorizer, **options).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def allowing_authorizer(context: dict[str, Any] | None = None) -> tuple[Recorder, LambdaHandler]:
    calls = Recorder()

    def authorize(event: dict[str, Any], lambda_context: LambdaContext) -> dict[str, Any]:
        calls.calls.append((event, lambda_context))
        return allow(event, context)

    return calls, authorize


def call(
    gateway: LocalApiGateway,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> urllib3.BaseHTTPResponse:
    return urllib3.request(
        method,
        f"{gateway.base_url}{path}",
        body=body,
        headers=headers,
        redirect=False,
        retries=False,
        timeout=5.0,
    )


def post_chunked(gateway: LocalApiGateway, path: str, chunks: list[bytes]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    connection.request(
        "POST",
        path,
        body=iter(chunks),
        headers={"Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    return connection.getresponse().status


def error_body(response: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    document = json.loads(response.data)
    assert set(document) == {"error"}
    assert set(document["error"]) == {"code", "message"}
    return dict(document["error"])


# -- the proxy event -------------------------------------------------------------------------------


def test_the_proxy_event_has_api_gateways_shape(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    authorizer_calls, authorizer = allowing_authorizer({"keyName": "prod-sns", "scope": "webhook"})
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], authorizer)
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    body = b'{"Type": "Notification"}'
    connection.putrequest("POST", "/webhooks/order-events?x-api-key=snsf_k&a=1&a=2&empty=")
    connection.putheader("Content-Type", "text/plain; charset=UTF-8")
    connection.putheader("x-amz-sns-message-type", "Notification")
    connection.putheader("X-Multi", "one")
    connection.putheader("X-Multi", "two")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    assert connection.getresponse().status == 200
    before = int(time.time() * 1000)

    raw = handler.event
    APIGatewayProxyEventModel.model_validate(raw)
    event = APIGatewayProxyEvent(raw)
    assert event.resource == WEBHOOK
    assert event.path == "/webhooks/order-events"
    assert event.http_method == "POST"
    assert event.path_parameters == {"workflowId": "order-events"}
    assert event.query_string_parameters == {"x-api-key": "snsf_k", "a": "2", "empty": ""}
    assert event.multi_value_query_string_parameters == {
        "x-api-key": ["snsf_k"],
        "a": ["1", "2"],
        "empty": [""],
    }
    assert event.headers["x-amz-sns-message-type"] == "Notification"  # case-insensitive
    assert "x-amz-sns-message-type" in raw["headers"]  # the name as the client sent it
    assert raw["headers"]["X-Multi"] == "two"
    assert raw["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert raw["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert raw["headers"]["X-Forwarded-Proto"] == "http"
    assert raw["headers"]["Host"] == f"127.0.0.1:{gateway.port}"
    assert event.body == body.decode()
    assert event.is_base64_encoded is False
    assert raw["stageVariables"] is None
    context = event.request_context
    assert context.stage == "local"
    assert context.api_id == "snsflowapi"
    assert context.account_id == "000000000000"
    assert context.resource_path == WEBHOOK
    assert context.http_method == "POST"
    assert context.path == "/webhooks/order-events"
    assert context.identity.source_ip == "127.0.0.1"
    assert context.protocol == "HTTP/1.1"
    assert abs(context.request_time_epoch - before) < 5000
    assert context.request_id == raw["requestContext"]["requestId"]
    assert raw["requestContext"]["authorizer"] == {
        "keyName": "prod-sns",
        "scope": "webhook",
        "principalId": "key:prod-sns",
        "integrationLatency": raw["requestContext"]["authorizer"]["integrationLatency"],
    }
    assert context.authorizer.principal_id == "key:prod-sns"
    assert len(authorizer_calls.calls) == 1


def test_the_authorizer_event_has_api_gateways_request_authorizer_shape(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    authorizer_calls, authorizer = allowing_authorizer()
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], authorizer)

    response = call(
        gateway,
        "POST",
        "/webhooks/order-events?x-api-key=snsf_k",
        body=b"{}",
        headers={"x-api-key": "snsf_header"},
    )

    assert response.status == 200
    raw = authorizer_calls.event
    ApiGatewayAuthorizerRequest.model_validate(raw)
    event = APIGatewayAuthorizerRequestEvent(raw)
    assert event.get_type == "REQUEST"
    assert event.method_arn == f"{METHOD_ARN_PREFIX}/POST/webhooks/order-events"
    assert event.parsed_arn.resource == "webhooks/order-events"
    assert event.parsed_arn.http_method == "POST"
    assert event.resource == WEBHOOK
    assert event.path == "/webhooks/order-events"
    assert event.http_method == "POST"
    assert event.headers["X-API-KEY"] == "snsf_header"
    assert event.query_string_parameters == {"x-api-key": "snsf_k"}
    assert event.path_parameters == {"workflowId": "order-events"}
    assert event.stage_variables == {}
    assert event.request_context.stage == "local"
    assert "body" not in raw
    assert "authorizer" not in raw["requestContext"]
    assert raw["requestContext"]["requestId"] == handler.event["requestContext"]["requestId"]


def test_an_event_without_query_body_or_parameters_has_nulls(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    gateway = gateway_for([Route("GET", "/workflows", handler, authorized=False)], None)

    assert call(gateway, "GET", "/workflows").status == 200

    event = handler.event
    APIGatewayProxyEventModel.model_validate(event)
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_stage_variables_are_passed_on(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    gateway = gateway_for(
        [Route("GET", "/workflows", handler, authorized=False)],
        None,
        stage="prod",
        stage_variables={"table": "executions"},
    )

    call(gateway, "GET", "/workflows")

    assert handler.event["stageVariables"] == {"table": "executions"}
    assert handler.event["requestContext"]["stage"] == "prod"


@pytest.mark.parametrize(
    ("content_type", "encoded"),
    [
        ("text/plain; charset=UTF-8", False),
        ("application/json", False),
        ("application/problem+json", False),
        ("application/octet-stream", True),
        ("image/png", True),
    ],
)
def test_non_text_bodies_are_base64_encoded(
    gateway_for: Callable[..., LocalApiGateway],
    handler: Recorder,
    content_type: str,
    encoded: bool,
) -> None:
    gateway = gateway_for([Route("POST", "/upload", handler, authorized=False)], None)
    payload = b'{"bytes": "\xc3\xa9"}'

    call(gateway, "POST", "/upload", body=payload, headers={"Content-Type": content_type})

    event = APIGatewayProxyEvent(handler.event)
    assert event.is_base64_encoded is encoded
    assert event.decoded_body == payload.decode()
    if encoded:
        assert base64.b64decode(event.body or "") == payload


def test_a_chunked_body_reaches_the_handler_whole(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    gateway = gateway_for([Route("POST", "/upload", handler, authorized=False)], None)

    status = post_chunked(gateway, "/upload", [b"part one, ", b"part two"])

    assert status == 200
    assert handler.event["body"] == "part one, part two"


# -- routing --------------------------------------------------------------------------------------


def test_the_most_specific_resource_wins(gateway_for: Callable[..., LocalApiGateway]) -> None:
    by_id, special, greedy = Recorder(), Recorder(), Recorder()
    gateway = gateway_for(
        [
            Route("GET", "/files/{proxy+}", greedy, authorized=False),
            Route("GET", "/workflows/{workflowId}", by_id, authorized=False),
            Route("GET", "/workflows/special", special, authorized=False),
        ],
        None,
    )

    call(gateway, "GET", "/workflows/special")
    call(gateway, "GET", "/workflows/order%2Devents")
    call(gateway, "GET", "/files/a/b/c.txt")

    assert special.event["resource"] == "/workflows/special"
    assert by_id.event["pathParameters"] == {"workflowId": "order-events"}
    assert greedy.event["pathParameters"] == {"proxy": "a/b/c.txt"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("GET", "/webhooks/order-events"), ("POST", "/webhooks/a/b")],
)
def test_unknown_routes_are_not_found(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder, method: str, path: str
) -> None:
    authorizer_calls, authorizer = allowing_authorizer()
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], authorizer)

    response = call(gateway, method, path)

    assert response.status == 404
    assert error_body(response) == {"code": "not_found", "message": "No such route."}
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert handler.calls == []
    assert authorizer_calls.calls == []


def test_an_authorized_route_needs_an_authorizer(handler: Recorder) -> None:
    with pytest.raises(ValueError, match="authorizer"):
        LocalApiGateway([Route("POST", WEBHOOK, handler)], None)


# -- the authorizer -------------------------------------------------------------------------------


def test_an_unauthorized_error_from_the_authorizer_is_a_401(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    gateway = gateway_for(
        [Route("POST", WEBHOOK, handler)], Recorder(error=Exception("Unauthorized"))
    )

    response = call(gateway, "POST", "/webhooks/order-events", body=b"{}")

    assert response.status == 401
    assert error_body(response) == {"code": "unauthorized", "message": "Unauthorized"}
    assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert handler.calls == []


def test_a_deny_policy_is_a_403(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    def deny(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = APIGatewayAuthorizerResponse.from_route_arn(event["methodArn"], "key:x")
        response.deny_all_routes()
        return response.asdict()

    gateway = gateway_for([Route("POST", WEBHOOK, handler)], deny)

    response = call(gateway, "POST", "/webhooks/order-events", body=b"{}")

    assert response.status == 403
    assert error_body(response)["code"] == "forbidden"
    assert handler.calls == []


def test_an_allow_that_does_not_cover_the_method_is_a_403(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    def allow_other_workflow(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = APIGatewayAuthorizerResponse.from_route_arn(event["methodArn"], "key:x")
        response.allow_route("POST", "/webhooks/audit-log")
        return response.asdict()

    gateway = gateway_for([Route("POST", WEBHOOK, handler)], allow_other_workflow)

    assert call(gateway, "POST", "/webhooks/audit-log", body=b"{}").status == 200
    denied = call(gateway, "POST", "/webhooks/order-events", body=b"{}")

    assert denied.status == 403
    assert len(handler.calls) == 1


def test_an_explicit_deny_wins_over_an_allow(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    def mixed(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = APIGatewayAuthorizerResponse.from_route_arn(event["methodArn"], "key:x")
        response.allow_all_routes()
        response.deny_route("POST", "/webhooks/order-events")
        return response.asdict()

    gateway = gateway_for([Route("POST", WEBHOOK, handler)], mixed)

    assert call(gateway, "POST", "/webhooks/order-events", body=b"{}").status == 403
    assert call(gateway, "POST", "/webhooks/audit-log", body=b"{}").status == 200


def test_a_denying_authorizer_can_name_the_error_code_and_message(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    def deny_revoked(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = APIGatewayAuthorizerResponse.from_route_arn(
            event["methodArn"],
            "key:x",
            context={"errorCode": "revoked_api_key", "errorMessage": "This key was revoked."},
        )
        response.deny_all_routes()
        return response.asdict()

    gateway = gateway_for([Route("POST", WEBHOOK, handler)], deny_revoked)

    response = call(gateway, "POST", "/webhooks/order-events", body=b"{}")

    assert response.status == 403
    assert error_body(response) == {
        "code": "revoked_api_key",
        "message": "This key was revoked.",
    }
    assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_the_deployed_stacks_gateway_responses_can_be_used(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    deployed_like = {
        "UNAUTHORIZED": GatewayResponse(UnauthorizedError, 401, "An API key is required."),
        "AUTHORIZER_FAILURE": GatewayResponse(DependencyUnavailableError, 503, "Retry later."),
        "DEFAULT_5XX": GatewayResponse(SnsflowError, None, None),
    }
    no_key = gateway_for(
        [Route("POST", WEBHOOK, handler)],
        Recorder(error=Exception("Unauthorized")),
        gateway_responses=deployed_like,
    )
    broken = gateway_for(
        [
            Route("POST", WEBHOOK, handler),
            Route("GET", "/boom", Recorder(error=RuntimeError("bug")), authorized=False),
        ],
        Recorder(error=TimeoutError("DynamoDB")),
        gateway_responses=deployed_like,
    )

    unauthorized = call(no_key, "POST", "/webhooks/w", body=b"{}")
    unavailable = call(broken, "POST", "/webhooks/w", body=b"{}")
    failed = call(broken, "GET", "/boom")
    unrouted = call(broken, "GET", "/nowhere")

    assert (unauthorized.status, error_body(unauthorized)) == (
        401,
        {"code": "unauthorized", "message": "An API key is required."},
    )
    assert (unavailable.status, error_body(unavailable)["code"]) == (503, "dependency_unavailable")
    assert (failed.status, error_body(failed)["code"]) == (502, "internal_error")
    # Neither the type nor DEFAULT_4XX in the table: API Gateway's own 403, in the default shape.
    assert (unrouted.status, error_body(unrouted)["code"]) == (403, "bad_request")


@pytest.mark.parametrize(
    "answer",
    [
        {"policyDocument": {"Version": "2012-10-17", "Statement": []}},  # no principalId
        {"principalId": "p"},  # no policy
        "Allow",
        {
            "principalId": "p",
            "policyDocument": {
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]
            },
            "context": {"nested": {"not": "allowed"}},
        },
    ],
)
def test_an_unusable_authorizer_answer_is_a_500(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder, answer: Any
) -> None:
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], Recorder(result=answer))

    response = call(gateway, "POST", "/webhooks/order-events", body=b"{}")

    assert response.status == 500
    assert error_body(response)["code"] == "internal_error"
    assert response.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    assert handler.calls == []


def test_an_authorizer_crash_is_a_500_not_a_401(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], Recorder(error=KeyError("table")))

    response = call(gateway, "POST", "/webhooks/order-events", body=b"{}")

    assert response.status == 500
    assert error_body(response)["code"] == "internal_error"
    assert response.headers["x-amzn-ErrorType"] == "AuthorizerFailureException"


def test_authorizer_context_values_reach_the_handler_as_strings(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    _, authorizer = allowing_authorizer({"count": 3, "active": True, "ratio": 0.5})
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], authorizer)

    call(gateway, "POST", "/webhooks/order-events", body=b"{}")

    authorizer_context = handler.event["requestContext"]["authorizer"]
    assert authorizer_context["count"] == "3"
    assert authorizer_context["active"] == "true"
    assert authorizer_context["ratio"] == "0.5"


def test_an_open_route_skips_the_authorizer(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    authorizer_calls, authorizer = allowing_authorizer()
    gateway = gateway_for([Route("GET", "/health", handler, authorized=False)], authorizer)

    assert call(gateway, "GET", "/health").status == 200

    assert authorizer_calls.calls == []
    assert "authorizer" not in handler.event["requestContext"]


# -- the integration ------------------------------------------------------------------------------


def test_the_proxy_response_becomes_the_http_response(
    gateway_for: Callable[..., LocalApiGateway],
) -> None:
    handler = Recorder(
        result={
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Both": "single"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Both": ["multi"]},
            "body": '{"status": "accepted"}',
            "isBase64Encoded": False,
        }
    )
    gateway = gateway_for([Route("POST", "/things", handler, authorized=False)], None)

    response = call(gateway, "POST", "/things", body=b"{}")

    assert response.status == 201
    assert json.loads(response.data) == {"status": "accepted"}
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers.getlist("X-Both") == ["multi"]
    assert response.headers["x-amzn-RequestId"] == handler.event["requestContext"]["requestId"]


def test_a_base64_proxy_response_is_decoded(gateway_for: Callable[..., LocalApiGateway]) -> None:
    payload = bytes(range(256))
    handler = Recorder(
        result={
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(payload).decode(),
            "isBase64Encoded": True,
        }
    )
    gateway = gateway_for([Route("GET", "/blob", handler, authorized=False)], None)

    assert call(gateway, "GET", "/blob").data == payload


def test_a_handler_exception_is_a_502(gateway_for: Callable[..., LocalApiGateway]) -> None:
    gateway = gateway_for(
        [Route("POST", "/boom", Recorder(error=RuntimeError("bug")), authorized=False)], None
    )

    response = call(gateway, "POST", "/boom", body=b"{}")

    assert response.status == 502
    assert error_body(response) == {"code": "internal_error", "message": "Internal server error"}


@pytest.mark.parametrize(
    "result",
    [
        None,
        {"body": "no status"},
        {"statusCode": "200"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "x", "isBase64Encoded": True},
        {"statusCode": 200, "body": object()},
    ],
)
def test_a_malformed_proxy_response_is_a_502(
    gateway_for: Callable[..., LocalApiGateway], result: Any
) -> None:
    gateway = gateway_for([Route("GET", "/bad", Recorder(result=result), authorized=False)], None)

    response = call(gateway, "GET", "/bad")

    assert response.status == 502
    assert error_body(response)["code"] == "internal_error"


def test_a_body_over_the_cap_is_a_413_before_any_function_runs(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    authorizer_calls, authorizer = allowing_authorizer()
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], authorizer, max_body_bytes=1024)

    at_cap = call(gateway, "POST", "/webhooks/w", body=b"x" * 1024)
    over = call(gateway, "POST", "/webhooks/w", body=b"x" * 1025)
    chunked_over = post_chunked(gateway, "/webhooks/w", [b"x" * 1000] * 2)

    assert at_cap.status == 200
    assert over.status == 413
    assert error_body(over)["code"] == "payload_too_large"
    assert chunked_over == 413
    assert len(handler.calls) == len(authorizer_calls.calls) == 1


_HUGE = 100_000


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * _HUGE + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /health HTTP/1.1\r\nx-api-key: " + b"k" * _HUGE + b"\r\n\r\n", 431),
        (b"GET /health HTTP/1.1\r\n" + b"x-h: v\r\n" * 200 + b"\r\n", 431),
        (b"garbage\r\n\r\n", 400),
        (b"GET /health HTTP/1.1 extra\r\n\r\n", 400),
        (b"GET /health HTTP/x\r\n\r\n", 400),
        (b"GET /health HTTP/2.0\r\n\r\n", 400),
        (b"GET /health\r\n\r\n", 400),  # HTTP/0.9: no headers, so no key either
        (b"GET http://[x/health HTTP/1.1\r\n\r\n", 400),
        (b"TRACE /health HTTP/1.1\r\n\r\n", 404),
        (b"get /health HTTP/1.1\r\n\r\n", 404),
    ],
)
def test_what_the_http_server_refuses_by_itself_is_answered_in_the_error_shape(
    gateway_for: Callable[..., LocalApiGateway],
    handler: Recorder,
    request_bytes: bytes,
    status: int,
) -> None:
    gateway = gateway_for([Route("GET", "/health", handler, authorized=False)], None)

    answer = exchange(gateway.port, request_bytes)

    assert answer.status == status
    assert not answer.reset  # what was left unread was read before closing
    error = answer.error()
    assert error["code"] == ("not_found" if status == 404 else "bad_request")
    assert len(error["message"]) <= 200
    assert handler.calls == []


def test_a_huge_header_is_refused_in_the_error_shape_to_an_ordinary_client(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    gateway = gateway_for([Route("GET", "/health", handler, authorized=False)], None)

    response = call(gateway, "GET", "/health", headers={"x-api-key": "k" * _HUGE})

    assert response.status == 431
    assert response.headers["Content-Type"] == "application/json"
    assert error_body(response)["code"] == "bad_request"


def test_many_requests_at_once_are_all_answered(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    _, authorizer = allowing_authorizer()
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], authorizer)
    clients = 64
    together = threading.Barrier(clients)
    statuses: list[int] = []
    failures: list[OSError] = []

    def post() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
        try:
            together.wait()
            connection.request("POST", "/webhooks/w", body=b"{}")
            statuses.append(connection.getresponse().status)
        except OSError as error:  # a reset, a refused or timed-out connection
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert statuses == [200] * clients
    assert len(handler.calls) == clients


def test_handlers_get_a_lambda_context(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    gateway = gateway_for(
        [
            Route(
                "GET",
                "/health",
                handler,
                authorized=False,
                function_name="snsflow-query",
                memory_limit_in_mb=512,
            )
        ],
        None,
    )

    call(gateway, "GET", "/health")
    call(gateway, "GET", "/health")

    (_, first), (_, second) = handler.calls
    assert first.function_name == "snsflow-query"
    assert first.memory_limit_in_mb == 512
    assert first.invoked_function_arn == (
        "arn:aws:lambda:us-east-1:000000000000:function:snsflow-query"
    )
    assert first.aws_request_id != second.aws_request_id
    assert 0 < first.get_remaining_time_in_millis() <= 29_000


def test_the_access_log_never_contains_the_query_string(
    gateway_for: Callable[..., LocalApiGateway],
    handler: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, authorizer = allowing_authorizer()
    gateway = gateway_for([Route("POST", WEBHOOK, handler)], authorizer)

    with caplog.at_level(logging.INFO, logger="snsflow.local.gateway"):
        call(gateway, "POST", "/webhooks/order-events?x-api-key=snsf_secret", body=b"{}")
        call(gateway, "GET", "/nowhere?x-api-key=snsf_secret")

    lines = [r.getMessage() for r in caplog.records if r.name == "snsflow.local.gateway"]
    assert any('"POST /webhooks/order-events" 200' in line for line in lines)
    assert any('"GET /nowhere" 404' in line for line in lines)
    assert not any("snsf_secret" in line or "x-api-key" in line for line in lines)


def test_stop_ends_serving_and_joins_its_threads(handler: Recorder) -> None:
    gateway = LocalApiGateway([Route("GET", "/health", handler, authorized=False)])
    with gateway:
        url = gateway.base_url
        assert urllib3.request("GET", f"{url}/health").status == 200

    assert not any(t.name == "local-api-gateway" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.request("GET", f"{url}/health", retries=False, timeout=2.0)
    with pytest.raises(RuntimeError):
        _ = gateway.base_url
