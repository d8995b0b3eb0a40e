"""Fixtures for the local SNS and API gateway tests: real servers on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from mypy_boto3_sns import SNSClient

from snsflow.local.sns import LocalSns, SigningIdentity
from snsflow.sns import CertificateProvider, MessageVerifier, UrllibCertificateFetcher
from tests.unit.local.receiver import Receiver

#: SNS's 20-second retry delays become 20 ms.
DELAY_SCALE = 0.001


@pytest.fixture(scope="session")
def signing_identity() -> SigningIdentity:
    # One key for the session: generating RSA keys is the slowest part of starting an SNS.
    return SigningIdentity.generate()


@pytest.fixture
def local_sns(signing_identity: SigningIdentity) -> Iterator[LocalSns]:
    with LocalSns(
        delay_scale=DELAY_SCALE, delivery_timeout=2.0, signing_identity=signing_identity
    ) as sns:
        yield sns


@pytest.fixture
def sns_client(local_sns: LocalSns) -> SNSClient:
    return sns_client_for(local_sns)


def sns_client_for(sns: LocalSns) -> SNSClient:
    return boto3.client(
        "sns",
        endpoint_url=sns.endpoint_url,
        region_name=sns.region,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as endpoint:
        yield endpoint


@pytest.fixture
def topic_arn(sns_client: SNSClient) -> str:
    return sns_client.create_topic(Name="orders")["TopicArn"]


@pytest.fixture
def verifier(local_sns: LocalSns) -> MessageVerifier:
    """snsflow's own verifier, trusting the local SNS's certificate URL explicitly."""
    return MessageVerifier(
        CertificateProvider(UrllibCertificateFetcher(allow_http=True)),
        trusted_cert_url_prefixes=(local_sns.trusted_cert_url_prefix,),
    )
