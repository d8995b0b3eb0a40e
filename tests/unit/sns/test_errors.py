"""The verifier's errors: one class and one stable code per reason, mapped to HTTP statuses."""

from __future__ import annotations

import inspect

import pytest

import snsflow.sns.errors as sns_errors
from snsflow.errors import BadRequestError, DependencyUnavailableError, ForbiddenError
from snsflow.sns import CertificateFetchError, SignatureMismatchError, SnsVerificationError

ERRORS = [
    cls
    for _, cls in inspect.getmembers(sns_errors, inspect.isclass)
    if issubclass(cls, SnsVerificationError)
]
LEAVES = [cls for cls in ERRORS if not cls.__subclasses__()]


def test_every_reason_has_its_own_code() -> None:
    codes = [cls.code for cls in ERRORS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("error", LEAVES, ids=lambda cls: cls.code)
def test_every_reason_is_a_client_error_or_a_retryable_outage(
    error: type[SnsVerificationError],
) -> None:
    instance = error("why")
    if instance.retryable:
        assert isinstance(instance, DependencyUnavailableError)
        assert instance.http_status == 503
    else:
        assert isinstance(instance, BadRequestError | ForbiddenError) or instance.http_status == 413
        assert 400 <= instance.http_status < 500


def test_only_a_failed_certificate_download_is_retryable() -> None:
    assert [cls for cls in LEAVES if cls.retryable] == [CertificateFetchError]


def test_error_body_follows_the_api_contract() -> None:
    assert SignatureMismatchError("altered").to_body() == {
        "error": {"code": "signature_mismatch", "message": "altered"}
    }
