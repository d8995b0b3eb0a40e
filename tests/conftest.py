"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from snsflow import aws
from snsflow.store.tables import ALL_TABLES


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and a region, nothing from the developer's own AWS configuration."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.configure()
    yield
    aws.reset()


@pytest.fixture
def dynamodb_tables(
    aws_environment: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Every snsflow table, created in moto from its schema; their names are also in the
    settings' environment (``SNSFLOW_<LOGICAL>_TABLE_NAME``). Yields logical name -> table name.
    """
    with mock_aws():
        aws.reset()
        client = aws.dynamodb_client()
        names: dict[str, str] = {}
        for schema in ALL_TABLES:
            name = f"snsflow-test-{schema.logical_name.lower()}"
            client.create_table(**schema.create_table_kwargs(name))
            if schema.ttl_attribute is not None:
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={
                        "Enabled": True,
                        "AttributeName": schema.ttl_attribute,
                    },
                )
            monkeypatch.setenv(f"SNSFLOW_{schema.logical_name.upper()}_TABLE_NAME", name)
            names[schema.logical_name] = name
        yield names
