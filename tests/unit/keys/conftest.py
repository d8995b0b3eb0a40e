from __future__ import annotations

import pytest

from snsflow import aws
from snsflow.store.keys import DynamoKeyStore


@pytest.fixture
def key_store(dynamodb_tables: dict[str, str]) -> DynamoKeyStore:
    return DynamoKeyStore(aws.dynamodb_resource().Table(dynamodb_tables["Keys"]))
