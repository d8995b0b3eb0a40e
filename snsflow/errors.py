"""The one error hierarchy of snsflow.

Every failure the domain can report is a subclass of :class:`SnsflowError` with a stable
``code`` (part of the HTTP API: clients match on it), the HTTP status it maps to, and whether
retrying the same request can help. Handlers turn these into responses; nobody builds error
JSON by hand.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SnsflowError(Exception):
    """Base class: a failure with a stable code, an HTTP status and a retry hint."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    #: True only where the same request may succeed later (dependency outage, throttling).
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_body(self) -> dict[str, Any]:
        """The JSON error body of the HTTP API contract."""
        return {"error": {"code": self.code, "message": self.message}}


class BadRequestError(SnsflowError):
    """The request itself is wrong; sending it again cannot help."""

    code = "bad_request"
    http_status = 400


class UnauthorizedError(SnsflowError):
    """No credential was presented."""

    code = "unauthorized"
    http_status = 401


class ForbiddenError(SnsflowError):
    """A credential or signature was presented and refused."""

    code = "forbidden"
    http_status = 403


class NotFoundError(SnsflowError):
    code = "not_found"
    http_status = 404


class PayloadTooLargeError(SnsflowError):
    code = "payload_too_large"
    http_status = 413


class DependencyUnavailableError(SnsflowError):
    """A dependency (DynamoDB, Step Functions, the certificate host) failed transiently."""

    code = "dependency_unavailable"
    http_status = 503
    retryable = True
