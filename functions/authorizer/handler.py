"""REQUEST authorizer of the REST API: API key in, IAM policy for exactly this method out.

API Gateway answers 401 when the authorizer fails with the message ``Unauthorized`` (no key),
403 on a Deny policy (the context carries ``errorCode``/``errorMessage`` for the gateway
response), and 500 on any other failure (a dependency outage: the caller may retry).
The event is never logged: its query string and headers carry the key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from snsflow import aws
from snsflow.authorization import AccessRequest, Authorizer, presented_api_keys
from snsflow.deliveries import SnsHeaders
from snsflow.delivery_log import delivery_log
from snsflow.errors import ForbiddenError, SnsflowError, UnauthorizedError
from snsflow.settings import AuthorizerSettings
from snsflow.store.keys import DynamoAccessRecords, DynamoKeyStore

logger = Logger()
#: Only the delivery log's metrics, each flushed as it is counted (a refusal is rare).
metrics = Metrics(namespace="snsflow")


class _MethodPolicy(APIGatewayAuthorizerResponse):
    # Powertools accepts only a conservative character set in paths; the method ARN comes from
    # API Gateway itself, which routes more (e.g. ':' or '~' in an execution id). Without
    # result caching the policy covers this one request only.
    path_regex = r"(?s).*"


def _now() -> datetime:
    return datetime.now(UTC)


@cache
def _authorizer() -> Authorizer:
    settings = AuthorizerSettings()
    resource = aws.dynamodb_resource()
    return Authorizer(
        records=DynamoAccessRecords(
            resource, settings.keys_table_name, settings.workflows_table_name
        ),
        usage=DynamoKeyStore(resource.Table(settings.keys_table_name)),
        clock=_now,
        cache_ttl=timedelta(seconds=settings.auth_cache_ttl_seconds),
        cache_max_entries=settings.auth_cache_max_entries,
        log=delivery_log(settings, metrics),
    )


def _policy(
    event: APIGatewayAuthorizerRequestEvent, principal: str, context: dict[str, str], allow: bool
) -> dict[str, Any]:
    """A policy with one statement for exactly the requested method ARN."""
    arn = event.parsed_arn
    # Powertools cuts the ARN at every ':', which truncates a path holding one; the path is
    # everything after "<api>/<stage>/<method>/" in the ARN's last field.
    http_method, path = event.method_arn.split(":", 5)[5].split("/", 3)[2:4]
    policy = _MethodPolicy(
        principal_id=principal,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context=context,
        partition=arn.partition,
    )
    if allow:
        policy.allow_route(http_method, path)
    else:
        policy.deny_route(http_method, path)
    return policy.asdict()


@logger.inject_lambda_context(log_event=False)  # the event carries the key: never log it
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def lambda_handler(
    event: APIGatewayAuthorizerRequestEvent, _context: LambdaContext
) -> dict[str, Any]:
    raw = event.raw_event
    request = AccessRequest(
        http_method=raw.get("httpMethod") or "",
        resource=raw.get("resource") or "",
        workflow_id=(raw.get("pathParameters") or {}).get("workflowId"),
        presented_keys=presented_api_keys(
            raw.get("headers"),
            raw.get("multiValueHeaders"),
            raw.get("queryStringParameters"),
            raw.get("multiValueQueryStringParameters"),
        ),
        sns=SnsHeaders.of(raw.get("headers")),
        request_id=(raw.get("requestContext") or {}).get("requestId"),
    )
    route = f"{request.http_method} {request.resource}"
    try:
        grant = _authorizer().authorize(request)
    except UnauthorizedError as error:
        logger.info("access refused", extra={"route": route, "errorCode": error.code})
        raise Exception("Unauthorized") from None  # API Gateway's only way to answer 401
    except ForbiddenError as error:
        logger.info("access denied", extra={"route": route, "errorCode": error.code})
        denial = {"errorCode": error.code, "errorMessage": error.message}
        return _policy(event, "anonymous", denial, allow=False)
    except SnsflowError as error:
        # A 500 from the authorizer: API Gateway answers 500 and SNS will retry the delivery.
        logger.error("key lookup failed", extra={"route": route, "reason": error.message})
        raise
    logger.info(
        "access allowed",
        extra={"route": route, "keyName": grant.key_name, "workflowId": grant.workflow_id},
    )
    return _policy(event, grant.key_name, grant.context(), allow=True)
