from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest

from functions.authorizer import handler
from snsflow import aws
from snsflow.keys import KeyScope, create_key
from snsflow.store.keys import DynamoKeyStore
from snsflow.store.workflows import WorkflowRecord, WorkflowRegistry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: The authorizer's cache time in these tests (``SNSFLOW_AUTH_CACHE_TTL_SECONDS``).
CACHE_SECONDS = 5


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class FakeLambdaContext:
    function_name: str = "snsflow-authorizer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:snsflow-authorizer"
    aws_request_id: str = "0f2b6a63-0000-4000-8000-000000000000"


Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    monkeypatch.setattr(handler, "_now", fake)
    return fake


@pytest.fixture
def invoke(
    dynamodb_tables: dict[str, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Invoke]:
    """Calls the real handler as Lambda would, on a fresh process (empty caches)."""
    monkeypatch.setenv("SNSFLOW_AUTH_CACHE_TTL_SECONDS", str(CACHE_SECONDS))
    handler._authorizer.cache_clear()

    def call(event: dict[str, Any]) -> dict[str, Any]:
        context = cast("LambdaContext", FakeLambdaContext())
        return handler.lambda_handler(event, context)

    yield call
    handler._authorizer.cache_clear()


@pytest.fixture
def key_store(dynamodb_tables: dict[str, str]) -> DynamoKeyStore:
    return DynamoKeyStore(aws.dynamodb_resource().Table(dynamodb_tables["Keys"]))


@pytest.fixture
def registry(dynamodb_tables: dict[str, str]) -> WorkflowRegistry:
    registry = WorkflowRegistry(aws.dynamodb_resource().Table(dynamodb_tables["Workflows"]))
    for workflow_id, key_name in (("order-events", "prod-sns"), ("audit-log", "audit-sns")):
        registry.put(
            WorkflowRecord(
                workflow_id=workflow_id,
                name=workflow_id,
                api_key_name=key_name,
                state_machine_arn=f"arn:aws:states:us-east-1:123456789012:stateMachine:{workflow_id}",
            )
        )
    return registry


MakeKey = Callable[..., str]


@pytest.fixture
def make_key(key_store: DynamoKeyStore, registry: WorkflowRegistry, clock: FakeClock) -> MakeKey:
    """Creates a key through the domain, as ``snsflow keys create`` does; returns its value."""

    def make(name: str, scope: KeyScope = KeyScope.WEBHOOK) -> str:
        return create_key(key_store, name, scope, clock()).value.get_secret_value()

    return make
