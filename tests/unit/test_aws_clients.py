"""The AWS client factory: built lazily, and usable against the local stack without credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snsflow import aws

_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Iterator[None]:
    for name in _CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/none")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield
    aws.configure()


def test_a_loopback_endpoint_gets_throwaway_credentials_when_none_are_configured(
    no_credentials: None,
) -> None:
    aws.configure(endpoint_url="http://127.0.0.1:4566", region_name="us-east-1")
    credentials = aws._session().get_credentials()
    assert credentials is not None
    assert credentials.access_key == "local"


def test_a_real_endpoint_never_gets_made_up_credentials(no_credentials: None) -> None:
    aws.configure(endpoint_url="https://sns.us-east-1.amazonaws.com", region_name="us-east-1")
    assert aws._session().get_credentials() is None
    aws.configure(region_name="us-east-1")
    assert aws._session().get_credentials() is None


def test_sns_clients_go_to_their_own_endpoint_in_the_topics_region(no_credentials: None) -> None:
    # The local stack: moto for the rest, its own SNS for SNS.
    aws.configure(
        endpoint_url="http://127.0.0.1:5000",
        region_name="us-east-1",
        sns_endpoint_url="http://127.0.0.1:5001",
    )
    assert aws.sns_client().meta.endpoint_url == "http://127.0.0.1:5001"
    assert aws.sns_client("eu-west-1").meta.region_name == "eu-west-1"
    assert aws.sns_client().meta.region_name == "us-east-1"
    assert aws.dynamodb_client().meta.endpoint_url == "http://127.0.0.1:5000"
    # Without an endpoint of its own, SNS goes where every client goes.
    aws.configure(endpoint_url="http://127.0.0.1:5000", region_name="us-east-1")
    assert aws.sns_client().meta.endpoint_url == "http://127.0.0.1:5000"
