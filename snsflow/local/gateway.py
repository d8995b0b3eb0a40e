"""A local API Gateway (REST API, Lambda proxy integration) on loopback HTTP.

Each request becomes the payload-1.0 event API Gateway would send: a ``REQUEST`` authorizer
event first when the route is authorized (its IAM policy is evaluated against the method ARN,
its ``context`` is passed on), then the proxy event for the route's handler, whose proxy
response becomes the HTTP response. Handlers and the authorizer are plain Python callables,
called in-process with a Lambda context.

When the gateway answers by itself (no route, no key, denied, too large, a failing function,
and what the HTTP server cannot parse: a malformed or too long request line, too large
headers, an unknown method) it renders API Gateway's "gateway response" for the case through a
table of ``{"error": {"code", "message"}}`` answers, like the deployed stack's gateway
responses; pass the stack's own table as ``gateway_responses`` to get exactly its answers.

In front of that, as in front of the deployed stage: an optional ``firewall`` (the rules of
``snsflow.firewall``, which AWS WAF applies to the deployed stage) answers first, then an
optional ``throttle`` (:class:`StageThrottle`: a token bucket per method, API Gateway's
algorithm) refuses what exceeds the stage's rate with the THROTTLED gateway response.

Differences from the deployed API, on purpose: the stage is not part of the URL (the API is
served at ``/``, as behind a custom domain mapped to the stage), and there are no integration
timeouts or request validation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote, urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from snsflow.errors import (
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    SnsflowError,
    UnauthorizedError,
)
from snsflow.firewall import Firewall, InspectedRequest
from snsflow.local.loopback import LoopbackHttpServer, LoopbackHttpService, QuietRequestHandler

LOGGER = logging.getLogger("snsflow.local.gateway")

#: API Gateway's own payload limit.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
#: API Gateway's integration timeout, used as the handlers' remaining time.
DEFAULT_TIMEOUT_SECONDS = 29.0
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
#: Content types passed to handlers as text; anything else is base64 (``isBase64Encoded``).
_TEXT_CONTENT_TYPE = re.compile(
    r"text/.+|application/(?:json|xml|javascript|x-www-form-urlencoded)|application/.+\+(?:json|xml)"
)

#: A Lambda handler: ``(event, context) -> result``.
LambdaHandler = Callable[[dict[str, Any], LambdaContext], Any]


# -- answers of the gateway itself ----------------------------------------------------------------


class ResponseType(StrEnum):
    """The API Gateway gateway-response types the local gateway produces."""

    UNAUTHORIZED = "UNAUTHORIZED"
    ACCESS_DENIED = "ACCESS_DENIED"
    MISSING_AUTHENTICATION_TOKEN = "MISSING_AUTHENTICATION_TOKEN"  # noqa: S105 - a type name
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    AUTHORIZER_FAILURE = "AUTHORIZER_FAILURE"
    AUTHORIZER_CONFIGURATION_ERROR = "AUTHORIZER_CONFIGURATION_ERROR"
    THROTTLED = "THROTTLED"
    DEFAULT_4XX = "DEFAULT_4XX"
    DEFAULT_5XX = "DEFAULT_5XX"


class GatewayResponseSpec(Protocol):
    """How one response type is answered: ``error`` gives the code, ``status`` and ``message``
    replace API Gateway's own when set. ``infra.api.GatewayError`` has this shape."""

    @property
    def error(self) -> type[SnsflowError]: ...

    @property
    def status(self) -> int | None: ...

    @property
    def message(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    error: type[SnsflowError]
    status: int | None = None
    message: str | None = None


#: The answers used unless the deployed stack's table is given: the contract's error shape
#: with API Gateway's statuses and messages, except 404 (not 403) for an unknown route.
DEFAULT_GATEWAY_RESPONSES: Mapping[str, GatewayResponseSpec] = MappingProxyType(
    {
        ResponseType.UNAUTHORIZED: GatewayResponse(UnauthorizedError),
        ResponseType.ACCESS_DENIED: GatewayResponse(ForbiddenError),
        ResponseType.MISSING_AUTHENTICATION_TOKEN: GatewayResponse(
            NotFoundError, 404, "No such route."
        ),
        ResponseType.REQUEST_TOO_LARGE: GatewayResponse(PayloadTooLargeError),
        ResponseType.DEFAULT_4XX: GatewayResponse(BadRequestError),
        ResponseType.DEFAULT_5XX: GatewayResponse(SnsflowError),
    }
)

#: ``x-amzn-ErrorType`` API Gateway sends with each.
_ERROR_TYPES: Mapping[ResponseType, str] = MappingProxyType(
    {
        ResponseType.UNAUTHORIZED: "UnauthorizedException",
        ResponseType.ACCESS_DENIED: "AccessDeniedException",
        ResponseType.MISSING_AUTHENTICATION_TOKEN: "MissingAuthenticationTokenException",
        ResponseType.REQUEST_TOO_LARGE: "RequestTooLargeException",
        ResponseType.AUTHORIZER_FAILURE: "AuthorizerFailureException",
        ResponseType.AUTHORIZER_CONFIGURATION_ERROR: "AuthorizerConfigurationException",
        ResponseType.THROTTLED: "TooManyRequestsException",
        ResponseType.DEFAULT_4XX: "BadRequestException",
        ResponseType.DEFAULT_5XX: "InternalServerErrorException",
    }
)


class GatewayRefusalError(Exception):
    """API Gateway answers by itself: a response type with API Gateway's status and message."""

    def __init__(
        self,
        response_type: ResponseType,
        status: int,
        message: str,
        authorizer_context: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.response_type = response_type
        self.status = status
        self.message = message
        self.authorizer_context = dict(authorizer_context or {})


def _integration_failure() -> GatewayRefusalError:
    # API Gateway's answer when a Lambda proxy integration fails or answers nonsense.
    return GatewayRefusalError(ResponseType.DEFAULT_5XX, 502, "Internal server error")


def _authorizer_misconfigured(problem: str) -> GatewayRefusalError:
    LOGGER.warning("unusable authorizer response: %s", problem)
    return GatewayRefusalError(
        ResponseType.AUTHORIZER_CONFIGURATION_ERROR, 500, "Authorizer configuration error"
    )


def refusal_response(
    refusal: GatewayRefusalError, responses: Mapping[str, GatewayResponseSpec], request_id: str
) -> HttpResponse:
    """Render a refusal through ``responses`` (falling back to DEFAULT_4XX / DEFAULT_5XX)."""
    fallback = ResponseType.DEFAULT_4XX if refusal.status < 500 else ResponseType.DEFAULT_5XX
    spec = (
        responses.get(refusal.response_type)
        or responses.get(fallback)
        or DEFAULT_GATEWAY_RESPONSES[fallback]
    )
    body = spec.error(spec.message or refusal.message).to_body()
    if refusal.response_type is ResponseType.ACCESS_DENIED:
        # As the deployed ACCESS_DENIED response: a denying authorizer names code and message.
        context = refusal.authorizer_context
        body["error"]["code"] = context.get("errorCode", body["error"]["code"])
        body["error"]["message"] = context.get("errorMessage", body["error"]["message"])
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", _ERROR_TYPES[refusal.response_type]),
    ]
    return HttpResponse(spec.status or refusal.status, headers, json.dumps(body).encode())


# -- Lambda context ------------------------------------------------------------------------------


class LocalLambdaContext(LambdaContext):
    """The context object Lambda passes to a handler, for one local invocation."""

    def __init__(
        self,
        function_name: str,
        *,
        region: str,
        account_id: str,
        memory_limit_in_mb: int = 256,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._invoked_function_arn = (
            f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        )
        self._memory_limit_in_mb = memory_limit_in_mb
        self._aws_request_id = str(uuid.uuid4())
        self._log_group_name = f"/aws/lambda/{function_name}"
        today = datetime.now(UTC)
        self._log_stream_name = f"{today:%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]  # static in the base
        return max(0, int((self._deadline - self._clock()) * 1000))


# -- routes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """One API method: ``method`` (or ``ANY``) on a ``resource`` template such as
    ``/webhooks/{workflowId}`` (``{name+}`` is greedy), served by ``handler``."""

    method: str
    resource: str
    handler: LambdaHandler
    authorized: bool = True
    function_name: str = "snsflow-local-function"
    memory_limit_in_mb: int = 256


@dataclass(frozen=True, slots=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str]
    parameter_names: tuple[str, ...]
    #: Literal segments sort before parameters, parameters before greedy ones (API Gateway
    #: prefers the most specific resource).
    specificity: tuple[int, ...]


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        compiled = [_compile(route) for route in routes]
        self._routes = sorted(compiled, key=lambda c: c.specificity)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for candidate in self._routes:
            if candidate.route.method not in (method, "ANY"):
                continue
            matched = candidate.pattern.fullmatch(path)
            if matched is not None:
                values = [unquote(value) for value in matched.groups()]
                return candidate.route, dict(zip(candidate.parameter_names, values, strict=True))
        return None


def _compile(route: Route) -> _CompiledRoute:
    if route.method != "ANY" and route.method not in HTTP_METHODS:
        raise ValueError(f"route {route.resource}: unknown method {route.method!r}")
    if not route.resource.startswith("/"):
        raise ValueError(f"route resource {route.resource!r} must start with '/'")
    parts: list[str] = []
    names: list[str] = []
    specificity: list[int] = []
    for segment in route.resource.strip("/").split("/") if route.resource != "/" else []:
        variable = re.fullmatch(r"\{([^{}+]+)(\+?)\}", segment)
        if variable is None:
            parts.append(re.escape(segment))
            specificity.append(0)
        else:
            names.append(variable[1])
            greedy = bool(variable[2])
            parts.append("(.+)" if greedy else "([^/]+)")
            specificity.append(2 if greedy else 1)
    return _CompiledRoute(
        route, re.compile("/" + "/".join(parts)), tuple(names), tuple(specificity)
    )


# -- requests and events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    """An HTTP request as received: raw header pairs (names as sent) and raw body bytes."""

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes | None
    source_ip: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class ApiSettings:
    region: str
    account_id: str
    api_id: str
    stage: str
    stage_variables: Mapping[str, str]


def method_arn(settings: ApiSettings, method: str, path: str) -> str:
    """``arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path>``."""
    return (
        f"arn:aws:execute-api:{settings.region}:{settings.account_id}:"
        f"{settings.api_id}/{settings.stage}/{method}{path}"
    )


def _single_and_multi(
    pairs: Iterable[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """API Gateway's two views of repeated names: the last value, and all values in order."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _request_context(
    settings: ApiSettings, request: GatewayRequest, route: Route, request_id: str
) -> dict[str, Any]:
    host = next((v for k, v in request.headers if k.lower() == "host"), "")
    user_agent = next((v for k, v in request.headers if k.lower() == "user-agent"), None)
    return {
        "resourceId": _resource_id(route.resource),
        "resourcePath": route.resource,
        "httpMethod": request.method,
        "extendedRequestId": base64.urlsafe_b64encode(uuid.uuid4().bytes[:12]).decode(),
        "requestTime": f"{request.received_at:%d/%b/%Y:%H:%M:%S} +0000",
        "path": request.path,
        "accountId": settings.account_id,
        "protocol": "HTTP/1.1",
        "stage": settings.stage,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
        "requestTimeEpoch": int(request.received_at.timestamp() * 1000),
        "requestId": request_id,
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": request.source_ip,
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": user_agent,
            "user": None,
        },
        "domainName": host,
        "deploymentId": "local",
        "apiId": settings.api_id,
    }


def _resource_id(resource: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, resource).hex[:6]


def authorizer_event(
    settings: ApiSettings,
    request: GatewayRequest,
    route: Route,
    path_parameters: Mapping[str, str],
    request_id: str,
) -> dict[str, Any]:
    """The ``REQUEST`` authorizer event (payload 1.0); its maps are ``{}`` when empty."""
    headers, multi_headers = _single_and_multi(request.headers)
    query, multi_query = _single_and_multi(_query_pairs(request.query))
    return {
        "type": "REQUEST",
        "methodArn": method_arn(settings, request.method, request.path),
        "resource": route.resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": dict(path_parameters),
        "stageVariables": dict(settings.stage_variables),
        "requestContext": _request_context(settings, request, route, request_id),
    }


def proxy_event(
    settings: ApiSettings,
    request: GatewayRequest,
    route: Route,
    path_parameters: Mapping[str, str],
    request_id: str,
    authorizer_context: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The Lambda proxy integration event (payload 1.0); its maps are ``null`` when empty."""
    headers, multi_headers = _single_and_multi(request.headers)
    query, multi_query = _single_and_multi(_query_pairs(request.query))
    context = _request_context(settings, request, route, request_id)
    if authorizer_context is not None:
        context["authorizer"] = dict(authorizer_context)
    body, is_base64 = _event_body(request)
    return {
        "resource": route.resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": dict(settings.stage_variables) or None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _event_body(request: GatewayRequest) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    content_type = next((v for k, v in request.headers if k.lower() == "content-type"), "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not media_type or _TEXT_CONTENT_TYPE.fullmatch(media_type):
        return request.body.decode("utf-8", errors="replace"), False
    return base64.b64encode(request.body).decode("ascii"), True


# -- the authorizer's answer ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizerDecision:
    allowed: bool
    principal_id: str
    #: The authorizer's ``context``, values as strings (as the integration receives them).
    context: dict[str, str]


def authorizer_decision(output: Any, arn: str) -> AuthorizerDecision:
    """Evaluate an authorizer's answer for the method ``arn`` as API Gateway does.

    Raises :class:`GatewayRefusalError` (AUTHORIZER_CONFIGURATION_ERROR) when it is not a valid
    answer: no principalId or policy, or context values that are not strings, numbers or
    booleans.
    """
    if not isinstance(output, dict) or not isinstance(output.get("principalId"), str):
        raise _authorizer_misconfigured("no principalId")
    document = output.get("policyDocument")
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise _authorizer_misconfigured("no policy statements")
    context = output.get("context") or {}
    if not isinstance(context, dict) or not all(
        isinstance(value, str | int | float | bool) for value in context.values()
    ):
        raise _authorizer_misconfigured("context values must be strings, numbers or booleans")
    return AuthorizerDecision(
        allowed=_policy_allows(statements, arn),
        principal_id=output["principalId"],
        context={str(name): _context_string(value) for name, value in context.items()},
    )


def _context_string(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _policy_allows(statements: Sequence[dict[str, Any]], arn: str) -> bool:
    """IAM evaluation for ``execute-api:Invoke`` on ``arn``: an explicit Deny wins, then an
    Allow is needed. Conditions are not evaluated: such an Allow never matches and such a
    Deny always does, so an unsupported policy can only refuse more."""
    allowed = False
    for statement in statements:
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise _authorizer_misconfigured(f"policy statement with Effect {effect!r}")
        if "NotAction" in statement or "NotResource" in statement:
            raise _authorizer_misconfigured("NotAction and NotResource are not supported locally")
        matches = _any_matches(statement.get("Action"), "execute-api:Invoke", True) and (
            _any_matches(statement.get("Resource"), arn, False)
        )
        conditional = "Condition" in statement
        if effect == "Deny" and (matches or conditional):
            return False
        if effect == "Allow" and matches and not conditional:
            allowed = True
    return allowed


def _any_matches(patterns: Any, value: str, ignore_case: bool) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise _authorizer_misconfigured("policy Action and Resource must be strings or lists")
    flags = re.IGNORECASE if ignore_case else 0
    return any(
        re.fullmatch(re.escape(p).replace(r"\*", ".*").replace(r"\?", "."), value, flags)
        for p in patterns
    )


# -- the integration's answer --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def integration_response(result: Any) -> HttpResponse:
    """The HTTP response for a proxy integration result (a 502 refusal if it is not one)."""
    try:
        # Lambda returns the handler's result as JSON: what cannot be serialised never arrives.
        result = json.loads(json.dumps(result))
    except (TypeError, ValueError):
        raise _integration_failure() from None
    if not isinstance(result, dict):
        raise _integration_failure()
    status = result.get("statusCode")
    headers = result.get("headers") or {}
    multi_headers = result.get("multiValueHeaders") or {}
    body = result.get("body")
    is_base64 = result.get("isBase64Encoded", False)
    if (
        not isinstance(status, int)
        or isinstance(status, bool)
        or not 100 <= status <= 599
        or not isinstance(headers, dict)
        or not isinstance(multi_headers, dict)
        or not all(isinstance(v, list) for v in multi_headers.values())
        or not (body is None or isinstance(body, str))
        or not isinstance(is_base64, bool)
    ):
        LOGGER.warning("malformed Lambda proxy response: %.200r", result)
        raise _integration_failure()
    pairs = [(name, _header_value(v)) for name, values in multi_headers.items() for v in values]
    # A name in both maps keeps only its multiValueHeaders values, as API Gateway merges them.
    pairs += [(name, _header_value(v)) for name, v in headers.items() if name not in multi_headers]
    try:
        payload = (
            base64.b64decode(body or "", validate=True) if is_base64 else (body or "").encode()
        )
    except binascii.Error:
        raise _integration_failure() from None
    return HttpResponse(status, pairs, payload)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# -- the stage's throttle ------------------------------------------------------------------------


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` per second; a request takes one."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._guard = threading.Lock()

    def take(self) -> bool:
        with self._guard:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class StageThrottle:
    """The stage's rate and burst, applied to each method on its own, as API Gateway applies a
    stage's throttle settings (docs/deploy.md, "Floods")."""

    def __init__(
        self, rate_limit: float, burst_limit: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        TokenBucket(rate_limit, burst_limit)  # refuses impossible settings now, not per method
        self.rate_limit = rate_limit
        self.burst_limit = burst_limit
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._guard = threading.Lock()

    def admit(self, method: str, resource: str) -> bool:
        with self._guard:
            bucket = self._buckets.get((method, resource))
            if bucket is None:
                bucket = TokenBucket(self.rate_limit, self.burst_limit, self._clock)
                self._buckets[(method, resource)] = bucket
        return bucket.take()


# -- the gateway ---------------------------------------------------------------------------------


class LocalApiGateway(LoopbackHttpService):
    """Serves ``routes`` on ``http://<host>:<port>/`` the way the deployed REST API does.

    ``authorizer`` is the ``REQUEST`` authorizer of every route with ``authorized=True``
    (no identity sources, hence no authorizer cache: it runs for every request).
    """

    thread_name = "local-api-gateway"

    def __init__(
        self,
        routes: Sequence[Route],
        authorizer: LambdaHandler | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        api_id: str = "snsflowapi",
        stage: str = "local",
        stage_variables: Mapping[str, str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        authorizer_function_name: str = "snsflow-local-authorizer",
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        gateway_responses: Mapping[str, GatewayResponseSpec] = DEFAULT_GATEWAY_RESPONSES,
        firewall: Firewall | None = None,
        throttle: StageThrottle | None = None,
    ) -> None:
        if authorizer is None and any(route.authorized for route in routes):
            raise ValueError("authorized routes need an authorizer")
        super().__init__(host, port)
        self.settings = ApiSettings(
            region=region,
            account_id=account_id,
            api_id=api_id,
            stage=stage,
            stage_variables=dict(stage_variables or {}),
        )
        self.max_body_bytes = max_body_bytes
        self._routes = RouteTable(routes)
        self._authorizer = authorizer
        self._authorizer_function_name = authorizer_function_name
        self._timeout_seconds = timeout_seconds
        self.gateway_responses = gateway_responses
        self.firewall = firewall
        self.throttle = throttle

    def _create_server(self) -> LoopbackHttpServer:
        return _GatewayHttpServer((self.host, self.port), self)

    def _started(self) -> None:
        LOGGER.info("local API gateway listening on %s", self.base_url)

    def dispatch(self, request: GatewayRequest, request_id: str) -> HttpResponse:
        """Route, authorize and integrate one request (errors become gateway responses)."""
        try:
            return self._dispatch(request, request_id)
        except GatewayRefusalError as refusal:
            return refusal_response(refusal, self.gateway_responses, request_id)

    def _dispatch(self, request: GatewayRequest, request_id: str) -> HttpResponse:
        if self.firewall is not None:
            blocked = self._firewall_answer(self.firewall, request, request_id)
            if blocked is not None:
                return blocked
        matched = self._routes.match(request.method, request.path)
        if matched is None:
            raise GatewayRefusalError(
                ResponseType.MISSING_AUTHENTICATION_TOKEN, 403, "Missing Authentication Token"
            )
        route, path_parameters = matched
        if self.throttle is not None and not self.throttle.admit(route.method, route.resource):
            raise GatewayRefusalError(ResponseType.THROTTLED, 429, "Too Many Requests")
        context = None
        if route.authorized:
            context = self._authorize(request, route, path_parameters, request_id)
        event = proxy_event(self.settings, request, route, path_parameters, request_id, context)
        try:
            result = route.handler(event, self._lambda_context(route.function_name, route))
        except Exception:
            LOGGER.exception("handler %s raised", route.function_name)
            raise _integration_failure() from None
        response = integration_response(result)
        response.headers.append(("x-amzn-RequestId", request_id))
        return response

    @staticmethod
    def _firewall_answer(
        firewall: Firewall, request: GatewayRequest, request_id: str
    ) -> HttpResponse | None:
        """The firewall's block, answered as WAF's custom response (its status and JSON body)."""
        verdict = firewall.inspect(
            InspectedRequest(
                method=request.method,
                path=request.path,
                headers=request.headers,
                query=_query_pairs(request.query),
                source_ip=request.source_ip,
            )
        )
        if verdict is None:
            return None
        rule, block = verdict
        LOGGER.debug("firewall rule %s blocked request %s", rule, request_id)
        body = json.dumps(block.error.to_body()).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        return HttpResponse(block.status, headers, body)

    def _authorize(
        self,
        request: GatewayRequest,
        route: Route,
        path_parameters: Mapping[str, str],
        request_id: str,
    ) -> dict[str, Any]:
        """The integration's ``requestContext.authorizer``, or a refusal."""
        assert self._authorizer is not None  # checked in __init__
        event = authorizer_event(self.settings, request, route, path_parameters, request_id)
        started = time.monotonic()
        try:
            output = self._authorizer(event, self._lambda_context(self._authorizer_function_name))
        except Exception as exc:
            # API Gateway's convention: the error message "Unauthorized" means 401.
            if str(exc) == "Unauthorized":
                raise GatewayRefusalError(ResponseType.UNAUTHORIZED, 401, "Unauthorized") from None
            LOGGER.exception("authorizer raised")
            raise GatewayRefusalError(
                ResponseType.AUTHORIZER_FAILURE, 500, "Authorizer failed"
            ) from None
        latency_ms = int((time.monotonic() - started) * 1000)
        decision = authorizer_decision(output, event["methodArn"])
        if not decision.allowed:
            raise GatewayRefusalError(
                ResponseType.ACCESS_DENIED,
                403,
                "User is not authorized to access this resource",
                decision.context,
            )
        return {
            **decision.context,
            "principalId": decision.principal_id,
            "integrationLatency": latency_ms,
        }

    def _lambda_context(self, function_name: str, route: Route | None = None) -> LocalLambdaContext:
        return LocalLambdaContext(
            function_name,
            region=self.settings.region,
            account_id=self.settings.account_id,
            memory_limit_in_mb=route.memory_limit_in_mb if route else 256,
            timeout_seconds=self._timeout_seconds,
        )


def _too_large(limit: int) -> GatewayRefusalError:
    return GatewayRefusalError(
        ResponseType.REQUEST_TOO_LARGE, 413, f"The request body exceeds {limit} bytes."
    )


def _malformed(problem: str) -> GatewayRefusalError:
    return GatewayRefusalError(ResponseType.DEFAULT_4XX, 400, f"Bad request: {problem}")


def _server_refusal(status: int, problem: str) -> GatewayRefusalError:
    """What ``http.server`` refuses by itself (a malformed request line, headers or a request
    line too large, an unknown method), as the refusal API Gateway would give."""
    if status == HTTPStatus.NOT_IMPLEMENTED:
        # A method no route has: API Gateway answers as for an unknown route.
        return GatewayRefusalError(
            ResponseType.MISSING_AUTHENTICATION_TOKEN, 403, "Missing Authentication Token"
        )
    if status >= 500:
        # Only "HTTP version not supported": the request's fault, and no retry can cure it.
        return _malformed(problem)
    return GatewayRefusalError(ResponseType.DEFAULT_4XX, status, problem)


def _path_and_query(target: str) -> tuple[str, str]:
    """The path and query string of a request target (``/path?query``, or the absolute form
    ``http://host/path?query`` proxies send)."""
    try:
        parts = urlsplit(target)
    except ValueError:  # an absolute form whose host is not one (``http://[x/``)
        raise _malformed("invalid request target") from None
    return parts.path or "/", parts.query


class _GatewayHttpServer(LoopbackHttpServer):
    def __init__(self, address: tuple[str, int], gateway: LocalApiGateway) -> None:
        self.gateway = gateway
        super().__init__(address, _GatewayRequestHandler)


class _GatewayRequestHandler(QuietRequestHandler):
    server: _GatewayHttpServer
    server_version = "snsflow-local-gateway"
    #: Largest body drained (unread) before answering 413, so the client sees the answer.
    _MAX_DRAIN_BYTES: ClassVar[int] = 64 * 1024 * 1024
    #: After refusing a request it has not read to the end: how much more of it is read and
    #: discarded, and for how long, so that closing does not reset the connection.
    _MAX_LINGER_BYTES: ClassVar[int] = 16 * 1024 * 1024
    _LINGER_SECONDS: ClassVar[float] = 2.0

    def do_DELETE(self) -> None:  # noqa: N802 - http.server names handlers do_<METHOD>
        self._serve()

    do_GET = do_HEAD = do_OPTIONS = do_PATCH = do_POST = do_PUT = do_DELETE  # noqa: N815

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":  # a bare "GET /path": no headers, no key
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 is not supported")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """``http.server`` refuses some requests by itself, with an HTML page: answer in the
        contract's error shape instead, like every other answer of the gateway."""
        del explain  # http.server's long description of the status
        phrase = HTTPStatus(code).phrase
        problem = f"{phrase}: {message}" if message and message != phrase else phrase
        refusal = _server_refusal(code, problem[:200])  # it may quote the whole request line
        request_id = str(uuid.uuid4())
        response = refusal_response(refusal, self.server.gateway.gateway_responses, request_id)
        # Neither the request line nor the path: they may hold the API key.
        LOGGER.info(
            "%s refused by the HTTP server: %d %s",
            self.client_address[0],
            response.status,
            request_id,
        )
        if self.request_version in ("", "HTTP/0.9"):
            self.request_version = self.protocol_version  # answer with a status line
        self.close_connection = True
        self._write(response)
        self._discard_unread_request()

    def _serve(self) -> None:
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        gateway = self.server.gateway
        path = "-"
        unread = False
        try:
            path, query = _path_and_query(self.path)
            body = self._read_body(gateway.max_body_bytes)
        except GatewayRefusalError as refusal:
            self.close_connection = unread = True
            response = refusal_response(refusal, gateway.gateway_responses, request_id)
        else:
            request = GatewayRequest(
                method=self.command,
                path=path,
                query=query,
                headers=self._forwarded_headers(),
                body=body,
                source_ip=self.client_address[0],
            )
            response = gateway.dispatch(request, request_id)
        # Logged before answering, so a client that has its answer finds the line written.
        # Never the query string: the API key travels in it.
        LOGGER.info(
            '%s "%s %s" %d %d %.1fms %s',
            self.client_address[0],
            self.command,
            path,
            response.status,
            len(response.body),
            (time.monotonic() - started) * 1000,
            request_id,
        )
        self._write(response)
        if unread:
            self._discard_unread_request()

    def _forwarded_headers(self) -> list[tuple[str, str]]:
        """The client's headers plus those API Gateway adds on the way to the integration."""
        headers = [(name, value) for name, value in self.headers.items()]
        client_ip = self.client_address[0]
        forwarded_for = self.headers.get("X-Forwarded-For")
        added = {
            "X-Forwarded-For": f"{forwarded_for}, {client_ip}" if forwarded_for else client_ip,
            "X-Forwarded-Port": str(self.server.server_address[1]),
            "X-Forwarded-Proto": "http",
            "X-Amzn-Trace-Id": f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}",
        }
        headers = [(n, v) for n, v in headers if n.lower() not in {a.lower() for a in added}]
        return headers + list(added.items())

    def _read_body(self, limit: int) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return None
        if not length_header.isdigit():
            raise _malformed("invalid Content-Length")
        length = int(length_header)
        if length > limit:
            if length <= self._MAX_DRAIN_BYTES:
                self._drain(length)
            raise _too_large(limit)
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _malformed("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(body)
            if len(body) + size > limit:
                raise _too_large(limit)
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def _discard_unread_request(self) -> None:
        """End the answer, then read and drop what the client still sends, for a bounded time
        and size: a socket closed with unread data resets the connection, and a client that
        is still sending (a huge request line or header) may then never read the answer."""
        deadline = time.monotonic() + self._LINGER_SECONDS
        remaining = self._MAX_LINGER_BYTES
        with contextlib.suppress(OSError, ValueError):  # gone, or too slow: close anyway
            self.connection.shutdown(socket.SHUT_WR)
            while remaining > 0:
                # A negative timeout (the deadline passed) is a ValueError.
                self.connection.settimeout(deadline - time.monotonic())
                chunk = self.connection.recv(min(remaining, 1024 * 1024))
                if not chunk:
                    return
                remaining -= len(chunk)

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1024 * 1024))
            if not chunk:
                return
            length -= len(chunk)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
