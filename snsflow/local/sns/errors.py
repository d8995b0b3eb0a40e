"""Errors of the emulated SNS Query API: the AWS error code and HTTP status boto3 expects.

They join snsflow's one error hierarchy; the Query API renders them as SNS XML errors, not as
snsflow JSON.
"""

from __future__ import annotations

from typing import ClassVar

from snsflow.errors import SnsflowError


class SnsApiError(SnsflowError):
    """An SNS API error; ``code`` is the AWS error code (botocore maps it to an exception)."""

    #: "Sender" (the caller's fault) or "Receiver", as in the XML ``<Type>`` element.
    fault: ClassVar[str] = "Sender"


class InvalidParameterError(SnsApiError):
    code = "InvalidParameter"
    http_status = 400


class MissingParameterError(SnsApiError):
    code = "MissingParameter"
    http_status = 400


class InvalidActionError(SnsApiError):
    code = "InvalidAction"
    http_status = 400


class NotFoundError(SnsApiError):
    code = "NotFound"
    http_status = 404


class AuthorizationError(SnsApiError):
    code = "AuthorizationError"
    http_status = 403


class InternalError(SnsApiError):
    code = "InternalError"
    http_status = 500
    fault = "Receiver"
