"""How API Gateway answers when it refuses a request itself, in the contract's error shape.

One table for both gateways: the CDK stack renders it into gateway responses, and the local
gateway (``snsflow.local.gateway``) answers with it, so the two refuse alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from snsflow.authorization import MissingApiKeyError
from snsflow.errors import (
    BadRequestError,
    DependencyUnavailableError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    SnsflowError,
)

#: The static executions page: no data, so no authorizer (the page asks for a read key).
PAGE_ROUTE = ("GET", "/")


@dataclass(frozen=True)
class GatewayError:
    """How API Gateway answers when it refuses a request itself (the contract's error shape).

    The local gateway (``snsflow.local.gateway``) takes the same table, so both answer alike.
    """

    error: type[SnsflowError]
    #: None keeps the status API Gateway chose (the DEFAULT_* responses cover many).
    status: int | None = None
    #: A fixed message, or None for API Gateway's own (``$context.error.messageString``).
    message: str | None = None
    #: A denying authorizer names the code and message in its context (errorCode/errorMessage).
    from_authorizer: bool = False

    def template(self) -> str:
        # Gateway responses substitute $context variables but run no VTL: values are pasted
        # in as they are. messageString comes quoted; the authorizer's context does not.
        if self.from_authorizer:
            code, message = '"$context.authorizer.errorCode"', '"$context.authorizer.errorMessage"'
        else:
            code = json.dumps(self.error.code)
            message = json.dumps(self.message) if self.message else "$context.error.messageString"
        return f'{{"error": {{"code": {code}, "message": {message}}}}}'


_RETRY_LATER = "the API key could not be checked; retry later"

#: By API Gateway response type.
GATEWAY_ERRORS: dict[str, GatewayError] = {
    "UNAUTHORIZED": GatewayError(
        MissingApiKeyError,
        401,
        "an API key is required: pass it in the x-api-key query parameter or header",
    ),
    "ACCESS_DENIED": GatewayError(ForbiddenError, 403, from_authorizer=True),
    # API Gateway's answer to an unknown route or method is a confusing 403.
    "MISSING_AUTHENTICATION_TOKEN": GatewayError(NotFoundError, 404, "No such route."),
    "REQUEST_TOO_LARGE": GatewayError(PayloadTooLargeError, 413, "The request body is too large."),
    # SNS treats every 4xx as final: a delivery refused for reasons a retry can cure must get a
    # 5xx, or the message is lost.
    "THROTTLED": GatewayError(
        DependencyUnavailableError, 503, "Too many requests right now; retry later."
    ),
    "AUTHORIZER_FAILURE": GatewayError(DependencyUnavailableError, 503, _RETRY_LATER),
    "AUTHORIZER_CONFIGURATION_ERROR": GatewayError(DependencyUnavailableError, 503, _RETRY_LATER),
    "DEFAULT_4XX": GatewayError(BadRequestError),
    "DEFAULT_5XX": GatewayError(SnsflowError),
}
