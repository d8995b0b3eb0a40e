"""The REST API: routes, the REQUEST authorizer, access logs, throttling and error shapes."""

from __future__ import annotations

import json
import re

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import StackConfig
from infra.log_groups import log_group
from infra.nag import acknowledge
from snsflow.authorization import ROUTES
from snsflow.gateway_responses import GATEWAY_ERRORS, PAGE_ROUTE, GatewayError
from snsflow.keys import KeyScope

STAGE_NAME = "v1"
#: What an access log line records. Never the query string (the API key travels there):
#: ``$context.path`` is the path alone, and no request parameters or headers are logged.
_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "authorizerStatus": "$context.authorizer.status",
    "authorizerLatency": "$context.authorizer.latency",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}


def access_log_fields(service: str) -> dict[str, str]:
    """The access log's fields, plus ``service`` (the stack) for the metrics counted from it."""
    return {"service": service, **_ACCESS_LOG_FIELDS}


def _path_parameters(resource: str) -> dict[str, bool]:
    return {f"method.request.path.{name}": True for name in re.findall(r"{(\w+)}", resource)}


class RestApi(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        authorizer_function: lambda_.IFunction,
        webhook_function: lambda_.IFunction,
        query_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, id)
        self.access_logs = log_group(self, "AccessLogs", config)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=config.stack_name,
            description="snsflow: SNS webhooks and the read-only executions API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # API Gateway needs an account-level role to write any log; it is shared by every
            # API in the account and region, so it stays when this stack is destroyed.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=config.throttle_rate_limit,
                throttling_burst_limit=config.throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(
                    json.dumps(access_log_fields(config.stack_name))
                ),
                # Execution logs at ERROR only, and no data tracing: at INFO, API Gateway logs
                # the request's query string, which carries the API key.
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                tracing_enabled=True,
            ),
        )
        # ApiUrl (infra/stack.py) is the one output of the API's URL.
        self.api.node.try_remove_child("Endpoint")
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level role API Gateway uses to write logs; AWS maintains its policy.",
        )
        self.authorizer = apigw.RequestAuthorizer(
            self,
            "Authorizer",
            handler=authorizer_function,
            # No identity sources: a request without a key must still reach the authorizer (to
            # get a 401 in the contract's shape), and there is nothing to cache on.
            identity_sources=[],
            results_cache_ttl=Duration.seconds(0),
        )
        self.validator = self.api.add_request_validator(
            "PathParameters", validate_request_parameters=True
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG2",
            "Path parameters are validated by API Gateway. Bodies are not: SNS posts JSON as "
            "text/plain, which API Gateway models cannot describe; the webhook parses it strictly "
            "and the firewall bounds its size.",
        )
        # The query function also acts (redrive, re-run): the authorizer admits only operate
        # keys to those routes, and the function checks the scope it is told again.
        functions = {
            KeyScope.WEBHOOK: webhook_function,
            KeyScope.READ: query_function,
            KeyScope.OPERATE: query_function,
        }
        for route in ROUTES:
            self._add_route(route.http_method, route.resource, functions[route.scope])
        self._add_page(query_function)
        for response_type, gateway_error in GATEWAY_ERRORS.items():
            self._add_gateway_response(response_type, gateway_error)

    def _resource(self, path: str) -> apigw.IResource:
        return self.api.root.resource_for_path(path) if path != "/" else self.api.root

    def _add_route(self, http_method: str, path: str, function: lambda_.IFunction) -> None:
        method = self._resource(path).add_method(
            http_method,
            apigw.LambdaIntegration(function),
            authorizer=self.authorizer,
            authorization_type=apigw.AuthorizationType.CUSTOM,
            request_validator=self.validator,
            request_parameters=_path_parameters(path),
        )
        acknowledge(
            method,
            "AwsSolutions-COG4",
            "Callers are SNS and scripts holding an snsflow API key, checked by the Lambda "
            "REQUEST authorizer; SNS cannot present Cognito tokens.",
        )

    def _add_page(self, function: lambda_.IFunction) -> None:
        http_method, path = PAGE_ROUTE
        method = self._resource(path).add_method(
            http_method,
            apigw.LambdaIntegration(function),
            authorization_type=apigw.AuthorizationType.NONE,
            request_validator=self.validator,
        )
        reason = "static page, no data; the page calls the API with a read key"
        acknowledge(method, "AwsSolutions-APIG4", reason)
        acknowledge(method, "AwsSolutions-COG4", reason)

    def _add_gateway_response(self, response_type: str, error: GatewayError) -> None:
        self.api.add_gateway_response(
            f"{response_type}Response",
            type=apigw.ResponseType.of(response_type),
            status_code=str(error.status) if error.status is not None else None,
            response_headers={"Content-Type": "'application/json'"},
            templates={"application/json": error.template()},
        )

    def url_for(self, path: str) -> str:
        return self.api.url_for_path(path)
