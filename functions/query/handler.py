"""The API's read routes (``read`` and ``operate`` keys), its action routes (``operate`` keys:
redrive, re-run; both checked by the authorizer, and the scope once more here) and the
executions page.

Thin adapter: Powertools routes and validates the parameters, :class:`snsflow.query.QueryService`
answers, and every failure — ours or a parameter Powertools refused — leaves in the API's error
shape through :func:`_error_response`. The event is never logged: a query string may carry a key.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from snsflow import aws
from snsflow.actions import ActionService
from snsflow.authorization import InsufficientScopeError
from snsflow.clock import utc_now
from snsflow.deliveries import delivery_log_shape
from snsflow.delivery_reads import DeliveryFilters, DeliveryReader
from snsflow.errors import NotFoundError, SnsflowError
from snsflow.executions import CachedWorkflows, ExecutionLauncher
from snsflow.keys import KeyScope
from snsflow.page import executions_page
from snsflow.pagination import PageTokens
from snsflow.query import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ExecutionDetail,
    ExecutionFilters,
    InvalidParameterError,
    ParameterTime,
    QueryService,
)
from snsflow.settings import QuerySettings
from snsflow.stepfunctions import StepFunctionsExecutions
from snsflow.store.deliveries import DeliveryLogStore
from snsflow.store.execution_queries import ExecutionQueries
from snsflow.store.executions import ExecutionStore
from snsflow.store.subscriptions import SubscriptionStore
from snsflow.store.workflows import WorkflowRegistry

logger = Logger()
app = APIGatewayRestResolver(enable_validation=True)

_JSON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@cache
def _service() -> QueryService:
    settings = QuerySettings()
    dynamodb = aws.dynamodb_resource()
    executions = dynamodb.Table(settings.executions_table_name)
    tokens = PageTokens(settings.pagination_secret.get_secret_value().encode("utf-8"))
    return QueryService(
        workflows=CachedWorkflows(
            WorkflowRegistry(dynamodb.Table(settings.workflows_table_name)),
            ttl=timedelta(seconds=settings.workflow_cache_seconds),
            clock=utc_now,
        ),
        executions=ExecutionQueries(executions),
        lookup=ExecutionStore(executions),
        subscriptions=SubscriptionStore(dynamodb.Table(settings.subscriptions_table_name)),
        tokens=tokens,
        clock=utc_now,
        retention=timedelta(days=settings.execution_retention_days),
        deliveries=DeliveryReader(
            DeliveryLogStore(dynamodb.Table(settings.deliveries_table_name)),
            delivery_log_shape(settings),
            tokens=tokens,
            clock=utc_now,
            silent_after=timedelta(hours=settings.subscription_silent_after_hours),
        ),
    )


@cache
def _actions() -> ActionService:
    settings = QuerySettings()
    dynamodb = aws.dynamodb_resource()
    records = ExecutionStore(dynamodb.Table(settings.executions_table_name))
    step_functions = StepFunctionsExecutions(aws.stepfunctions_client())
    retention = timedelta(days=settings.execution_retention_days)
    return ActionService(
        records=records,
        workflows=CachedWorkflows(
            WorkflowRegistry(dynamodb.Table(settings.workflows_table_name)),
            ttl=timedelta(seconds=settings.workflow_cache_seconds),
            clock=utc_now,
        ),
        step_functions=step_functions,
        launcher=ExecutionLauncher(records, step_functions, clock=utc_now, retention=retention),
        tokens=PageTokens(settings.pagination_secret.get_secret_value().encode("utf-8")),
        clock=utc_now,
        retention=retention,
    )


def _caller() -> tuple[str, str]:
    """The key name and scope the authorizer put in the request's context."""
    context = app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    return str(context.get("keyName", "")), str(context.get("scope", ""))


def _operator() -> str:
    """The caller's key name, if its scope may act (the authorizer checked it already)."""
    key_name, scope = _caller()
    if scope != KeyScope.OPERATE.value or not key_name:
        raise InsufficientScopeError(
            f"acting on executions needs a key of scope '{KeyScope.OPERATE}'"
        )
    return key_name


def _idempotency_key() -> str | None:
    return app.current_event.headers.get("Idempotency-Key")


def _api_url() -> str:
    """The API's base URL as the caller reached it: scheme, host, and the stage or base path
    (the part of the request path in front of the resource path)."""
    event = app.current_event
    context = event.request_context
    scheme = event.headers.get("X-Forwarded-Proto", "https").lower()
    host = context.domain_name or event.headers.get("Host", "")
    full_path = context.path or event.path
    prefix = full_path[: len(full_path) - len(event.path)] if full_path.endswith(event.path) else ""
    return f"{scheme if scheme in ('http', 'https') else 'https'}://{host}{prefix.rstrip('/')}"


def _json(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status, content_types.APPLICATION_JSON, body, _JSON_HEADERS)


@app.get("/")
def page() -> Response[str]:
    served = executions_page()
    return Response(200, body=served.html, headers=served.headers)


@app.get("/workflows")
def list_workflows() -> Response[dict[str, Any]]:
    return _json(200, _service().list_workflows(_api_url()).to_json())


@app.get("/workflows/<workflow_id>")
def get_workflow(workflow_id: str) -> Response[dict[str, Any]]:
    return _json(200, _service().get_workflow(workflow_id, _api_url()).to_json())


@app.get("/workflows/<workflow_id>/executions")
def list_executions(
    workflow_id: str,
    status: Annotated[list[str] | None, Query()] = None,
    since: Annotated[ParameterTime | None, Query()] = None,
    until: Annotated[ParameterTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=4096)] = None,
) -> Response[dict[str, Any]]:
    filters = ExecutionFilters.from_parameters(status, since, until)
    page = _service().list_executions(workflow_id, filters, limit=limit, next_token=next_token)
    return _json(200, page.to_json())


@app.get("/workflows/<workflow_id>/deliveries")
def list_deliveries(
    workflow_id: str,
    outcome: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[ParameterTime | None, Query()] = None,
    until: Annotated[ParameterTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=4096)] = None,
) -> Response[dict[str, Any]]:
    filters = DeliveryFilters.from_parameters(outcome, since, until)
    page = _service().list_deliveries(workflow_id, filters, limit=limit, next_token=next_token)
    return _json(200, page.to_json())


@app.get("/executions/<execution_id>")
def get_execution(execution_id: str) -> Response[dict[str, Any]]:
    return _json(200, _shown(_service().get_execution(execution_id)).to_json())


def _shown(detail: ExecutionDetail) -> ExecutionDetail:
    """An execution as answered: without a console link where Step Functions is the local
    stack's moto (no AWS console has its runs)."""
    if aws.targets_local_stand_in():
        return detail.model_copy(update={"console_url": None})
    return detail


@app.get("/executions/<execution_id>/history")
def get_history(
    execution_id: str,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=4096)] = None,
) -> Response[dict[str, Any]]:
    return _json(200, _actions().history(execution_id, next_token).to_json())


@app.post("/executions/<execution_id>/redrive")
def redrive(execution_id: str) -> Response[dict[str, Any]]:
    caller = _operator()
    detail = _actions().redrive(execution_id, caller=caller, idempotency_key=_idempotency_key())
    return _json(200, _shown(detail).to_json())


@app.post("/executions/<execution_id>/rerun")
def rerun(execution_id: str) -> Response[dict[str, Any]]:
    caller = _operator()
    result, created = _actions().rerun(
        execution_id, caller=caller, idempotency_key=_idempotency_key()
    )
    shown = result.model_copy(update={"execution": _shown(result.execution)})
    return _json(201 if created else 200, shown.to_json())


@app.get("/me")
def me() -> Response[dict[str, Any]]:
    key_name, scope = _caller()
    return _json(200, {"keyName": key_name, "scope": scope})


class RouteNotFoundError(NotFoundError):
    code = "route_not_found"


def _error_response(error: SnsflowError) -> Response[dict[str, Any]]:
    """The one mapping of errors to responses."""
    log = logger.warning if error.http_status >= 500 else logger.info
    log("request refused", extra={"status": error.http_status, "errorCode": error.code})
    return _json(error.http_status, error.to_body())


def _invalid_parameter(error: RequestValidationError) -> Response[dict[str, Any]]:
    # Powertools names the parameter in ``loc`` ("query", "limit", then pydantic's own path
    # inside the value); pydantic says what is wrong.
    first = error.errors()[0] if error.errors() else {}
    location = first.get("loc") or ("query", "parameter")
    name = str(location[1] if len(location) > 1 else location[0])
    if isinstance(first.get("input"), list):
        # Powertools hands over every value of a repeated parameter; only ``status`` takes
        # several, and any list of strings is valid for it.
        return _error_response(InvalidParameterError(name, "is given more than once"))
    problem = str(first.get("msg", "is invalid")).rstrip(".")
    return _error_response(InvalidParameterError(name, f"is invalid: {problem}"))


def _no_route(_error: RouteNotFound) -> Response[dict[str, Any]]:
    event = app.current_event
    return _error_response(RouteNotFoundError(f"no route {event.http_method} {event.path[:200]}"))


def _unexpected(_error: Exception) -> Response[dict[str, Any]]:
    # A bug or a deployment fault (permissions, a missing table): log it, say nothing about it.
    logger.exception("unexpected failure")
    return _error_response(SnsflowError("internal error"))


# Registered by call: Powertools' decorators are untyped.
app.exception_handler(SnsflowError)(_error_response)
app.exception_handler(RequestValidationError)(_invalid_parameter)
app.exception_handler(Exception)(_unexpected)
app.not_found(_no_route)


@logger.inject_lambda_context(log_event=False)  # the query string may carry the API key
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
