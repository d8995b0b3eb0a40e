"""The one place AWS clients are built: lazily, once per process, with shared timeouts.

Nothing is built at import time (cold starts stay cheap). The local stack and the CLI point the
factory at another endpoint or region with :func:`configure`; tests call :func:`reset` so that
clients are rebuilt inside their moto mock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from snsflow.net import is_loopback_host

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient
    from mypy_boto3_wafv2 import WAFV2Client

#: Short timeouts: every caller sits behind API Gateway (29 s) or SNS's delivery timeout, so a
#: stuck connection must fail fast and be retried by botocore (standard mode, with backoff).
CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    tcp_keepalive=True,
)


@dataclass(frozen=True)
class _Target:
    endpoint_url: str | None = None
    region_name: str | None = None
    #: SNS at an endpoint of its own: the local stack's SNS is not moto.
    sns_endpoint_url: str | None = None


_target = _Target()


def configure(
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    sns_endpoint_url: str | None = None,
) -> None:
    """Point every client built from now on at ``endpoint_url`` / ``region_name``, and SNS
    clients at ``sns_endpoint_url`` if given (else at ``endpoint_url``).

    ``None`` keeps boto3's own resolution (environment, profile, instance role).
    """
    global _target  # the factory's single piece of process state
    _target = _Target(
        endpoint_url=endpoint_url, region_name=region_name, sns_endpoint_url=sns_endpoint_url
    )
    reset()


def reset() -> None:
    """Forget every client built so far; the next call builds a fresh one."""
    for factory in (
        _session,
        dynamodb_resource,
        dynamodb_client,
        stepfunctions_client,
        sns_client,
        sqs_client,
        sts_client,
        cloudformation_client,
        wafv2_client,
    ):
        factory.cache_clear()


@cache
def _session() -> boto3.session.Session:
    session = boto3.session.Session(region_name=_target.region_name)
    if session.get_credentials() is None and (
        _is_local(_target.endpoint_url) or _is_local(_target.sns_endpoint_url)
    ):
        # The local stack accepts any signature; without this boto3 refuses to sign at all.
        return boto3.session.Session(
            region_name=_target.region_name,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - not a secret: the local stack only
        )
    return session


def targets_local_stand_in() -> bool:
    """Whether clients go to a stand-in for AWS on this machine (the local stack's moto), whose
    resources no AWS console shows."""
    return _is_local(_target.endpoint_url)


def _is_local(endpoint_url: str | None) -> bool:
    return endpoint_url is not None and is_loopback_host(urlsplit(endpoint_url).hostname)


@cache
def dynamodb_resource() -> DynamoDBServiceResource:
    return _session().resource("dynamodb", endpoint_url=_target.endpoint_url, config=CLIENT_CONFIG)


@cache
def dynamodb_client() -> DynamoDBClient:
    return _session().client("dynamodb", endpoint_url=_target.endpoint_url, config=CLIENT_CONFIG)


@cache
def stepfunctions_client() -> SFNClient:
    return _session().client(
        "stepfunctions", endpoint_url=_target.endpoint_url, config=CLIENT_CONFIG
    )


@cache
def sns_client(region_name: str | None = None) -> SNSClient:
    """SNS in ``region_name`` (a topic's region; None: the configured one)."""
    return _session().client(
        "sns",
        endpoint_url=_target.sns_endpoint_url or _target.endpoint_url,
        region_name=region_name,
        config=CLIENT_CONFIG,
    )


@cache
def sqs_client() -> SQSClient:
    return _session().client("sqs", endpoint_url=_target.endpoint_url, config=CLIENT_CONFIG)


@cache
def sts_client() -> STSClient:
    return _session().client("sts", endpoint_url=_target.endpoint_url, config=CLIENT_CONFIG)


@cache
def cloudformation_client() -> CloudFormationClient:
    return _session().client(
        "cloudformation", endpoint_url=_target.endpoint_url, config=CLIENT_CONFIG
    )


@cache
def wafv2_client() -> WAFV2Client:
    return _session().client("wafv2", endpoint_url=_target.endpoint_url, config=CLIENT_CONFIG)
