"""``POST /webhooks/{workflowId}``: SNS deliveries, after the authorizer let the key through.

Thin adapter: decode the REST proxy event, call :class:`snsflow.webhook.Webhook`, shape the
answer. Every failure becomes ``{"error": {"code", "message"}}``; only a failure a retry can fix
is a 5xx. The event is never logged: its query string carries the API key.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from snsflow import aws
from snsflow.clock import utc_now
from snsflow.delivery_log import delivery_log
from snsflow.errors import BadRequestError, SnsflowError
from snsflow.executions import CachedWorkflows, ExecutionLauncher
from snsflow.settings import WebhookSettings
from snsflow.sns import (
    CertificateProvider,
    MessageTooLargeError,
    MessageVerifier,
    UrllibCertificateFetcher,
)
from snsflow.stepfunctions import StepFunctionsExecutions
from snsflow.store.executions import ExecutionStore
from snsflow.store.migration import UpgradingExecutionStore
from snsflow.store.subscriptions import SubscriptionStore
from snsflow.store.workflows import WorkflowRegistry
from snsflow.subscriptions import SubscribeUrlConfirmer, UrllibHttpGetter
from snsflow.webhook import Webhook

logger = Logger()
metrics = Metrics(namespace="snsflow")
# Only botocore is patched: its calls (claim, start, mark) show as subsegments of the invocation
# Lambda's active tracing records. No handler subsegment (``capture_lambda_handler``): on the hot
# path it cost more CPU than the webhook's own logic, and said nothing the invocation does not.
tracer = Tracer(patch_modules=("botocore",))

_OUTCOME_METRICS = {
    "accepted": "NotificationsAccepted",
    "duplicate": "NotificationsDuplicate",
    "confirmed": "SubscriptionsConfirmed",
    "unsubscribed": "SubscriptionsUnsubscribed",
}

#: What of a 200 answer goes into the delivery's record (ids, never the message).
_LOGGED_ANSWER_FIELDS = frozenset(
    {"executionId", "messageId", "deliveries", "topicArn", "subscriptionArn"}
)


@cache
def _settings() -> WebhookSettings:
    return WebhookSettings()


@cache
def _webhook() -> Webhook:
    settings = _settings()
    dynamodb = aws.dynamodb_resource()
    local_sns = settings.trusted_sns_url_prefixes
    return Webhook(
        workflows=CachedWorkflows(
            WorkflowRegistry(dynamodb.Table(settings.workflows_table_name)),
            ttl=timedelta(seconds=settings.workflow_cache_seconds),
            clock=utc_now,
        ),
        verifier=MessageVerifier(
            CertificateProvider(UrllibCertificateFetcher(allow_http=bool(local_sns))),
            max_age=timedelta(seconds=settings.max_message_age_seconds),
            trusted_cert_url_prefixes=local_sns,
        ),
        executions=ExecutionLauncher(
            _execution_store(settings),
            StepFunctionsExecutions(aws.stepfunctions_client()),
            clock=utc_now,
            retention=timedelta(days=settings.execution_retention_days),
        ),
        subscriptions=SubscriptionStore(dynamodb.Table(settings.subscriptions_table_name)),
        confirmer=SubscribeUrlConfirmer(
            UrllibHttpGetter(timeout_seconds=settings.confirmation_timeout_seconds),
            trusted_prefixes=local_sns,
        ),
        clock=utc_now,
        log=delivery_log(settings, metrics),
    )


def _execution_store(settings: WebhookSettings) -> ExecutionStore:
    executions = aws.dynamodb_resource().Table(settings.executions_table_name)
    if settings.legacyexecutions_table_name is None:
        return ExecutionStore(executions)
    # Upgraded from before issue 15: a message's record may not be moved yet.
    legacy = aws.dynamodb_resource().Table(settings.legacyexecutions_table_name)
    return UpgradingExecutionStore(executions, legacy)


def _body(event: dict[str, Any], max_bytes: int) -> bytes:
    text: str = event.get("body") or ""
    base64_encoded = bool(event.get("isBase64Encoded"))
    # Refuse before decoding anything: base64 takes 4 characters for 3 bytes.
    size = len(text) * 3 // 4 if base64_encoded else len(text)
    if size > max_bytes:
        raise MessageTooLargeError(f"the body is about {size} bytes; at most {max_bytes} accepted")
    if not base64_encoded:
        return text.encode("utf-8", "surrogatepass")
    try:
        # A str with non-ASCII characters raises ValueError rather than binascii.Error.
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestError("the body is flagged base64 but is not valid base64") from None


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _refused(error: SnsflowError, workflow_id: str) -> dict[str, Any]:
    failed = error.http_status >= 500
    log = logger.warning if failed else logger.info
    log(
        "delivery refused",
        extra={"workflowId": workflow_id, "status": error.http_status, "errorCode": error.code},
    )
    metric = "DeliveriesFailed" if failed else "DeliveriesRefused"
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return _response(error.http_status, error.to_body())


def _unexpected(workflow_id: str) -> dict[str, Any]:
    # A bug or a deployment fault (permissions, a missing table): the details go to the log only.
    logger.exception("unexpected failure", extra={"workflowId": workflow_id})
    metrics.add_metric(name="DeliveriesFailed", unit=MetricUnit.Count, value=1)
    return _response(500, SnsflowError("internal error").to_body())


def _record_outcome(
    answer: dict[str, Any], workflow_id: str, event: dict[str, Any], context: LambdaContext
) -> None:
    """One line per handled delivery: the metrics document (EMF) is also its log record.

    A separate log line would be a second stdout write per delivery and cost more CPU than the
    webhook's own logic; the EMF document's metadata carries the outcome, the ids and the
    request ids (to join it with the access log and the invocation's other lines), and Logs
    Insights queries it like any JSON log line.
    """
    metrics.add_metric(name=_OUTCOME_METRICS[answer["status"]], unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="outcome", value=answer["status"])
    metrics.add_metadata(key="workflowId", value=workflow_id)
    metrics.add_metadata(key="function_request_id", value=context.aws_request_id)
    api_request_id = (event.get("requestContext") or {}).get("requestId")
    if api_request_id:
        metrics.add_metadata(key="apiRequestId", value=api_request_id)
    for key in _LOGGED_ANSWER_FIELDS.intersection(answer):
        metrics.add_metadata(key=key, value=answer[key])


@logger.inject_lambda_context(log_event=False)  # the query string carries the API key
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The four fields of the REST proxy event used here are read as they are: Powertools' event
    # data classes would import every event source's class at each cold start (about 20 ms).
    workflow_id: str = (event.get("pathParameters") or {}).get("workflowId") or ""
    try:
        body = _body(event, _settings().max_body_bytes)
        # The raw headers: the one look-up there ignores case itself.
        answer = _webhook().handle(
            workflow_id,
            body,
            event.get("headers") or {},
            request_id=(event.get("requestContext") or {}).get("requestId"),
        )
    except SnsflowError as error:
        if error.http_status >= 500 and not error.retryable:
            return _unexpected(workflow_id)
        return _refused(error, workflow_id)
    except Exception:
        return _unexpected(workflow_id)
    _record_outcome(answer, workflow_id, event, context)
    return _response(200, answer)
