"""DynamoDB calls per authorizer invocation, counted with botocore's event hooks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from functions.authorizer import handler
from snsflow import aws
from snsflow.errors import DependencyUnavailableError
from snsflow.keys import KeyScope
from snsflow.store.keys import DynamoKeyStore
from tests.integration.authorizer.conftest import CACHE_SECONDS, FakeClock, Invoke, MakeKey
from tests.integration.authorizer.events import authorizer_event, webhook_event


class CallLog:
    """Every DynamoDB operation the shared client makes, in order."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    def take(self) -> list[str]:
        taken, self.operations = self.operations, []
        return taken


@pytest.fixture
def calls(invoke: Invoke) -> Iterator[CallLog]:
    log = CallLog()
    events = aws.dynamodb_resource().meta.client.meta.events
    events.register("before-call.dynamodb", log)
    yield log
    events.unregister("before-call.dynamodb", log)


def _new_process() -> None:
    """What a new Lambda execution environment starts with: empty caches."""
    handler._authorizer.cache_clear()


def test_a_cold_cache_costs_one_read_and_a_warm_one_none(
    invoke: Invoke, make_key: MakeKey, calls: CallLog, clock: FakeClock
) -> None:
    event = webhook_event("order-events", query={"x-api-key": make_key("prod-sns")})
    invoke(event)  # an earlier instance used the key just now (so lastUsedAt is current)
    _new_process()
    calls.take()

    invoke(event)
    assert calls.take() == ["BatchGetItem"]  # key and workflow in one request

    for _ in range(100):
        clock.advance(seconds=(CACHE_SECONDS - 0.1) / 100)
        invoke(event)
    assert calls.take() == []


def test_read_routes_cost_one_read_cold_and_none_warm(
    invoke: Invoke, make_key: MakeKey, calls: CallLog
) -> None:
    value = make_key("dashboards", KeyScope.READ)
    event = authorizer_event("GET", "/workflows", headers={"x-api-key": value})
    invoke(event)
    _new_process()
    calls.take()

    invoke(event)
    invoke(event)

    assert calls.take() == ["BatchGetItem"]


def test_the_first_use_in_a_minute_adds_one_write_once(
    invoke: Invoke, make_key: MakeKey, calls: CallLog, clock: FakeClock
) -> None:
    event = webhook_event("order-events", query={"x-api-key": make_key("prod-sns")})
    calls.take()

    invoke(event)  # never used before: read, then record the use
    assert calls.take() == ["BatchGetItem", "UpdateItem"]

    for _ in range(11):  # 55 s of traffic on this instance
        clock.advance(seconds=CACHE_SECONDS)
        invoke(event)
    _new_process()  # and on a new one
    invoke(event)
    assert calls.take() == ["BatchGetItem"] * 12


def test_refusals_are_cached_too(invoke: Invoke, make_key: MakeKey, calls: CallLog) -> None:
    make_key("prod-sns")
    unknown = webhook_event("order-events", query={"x-api-key": "snsf_" + "B" * 43})
    unbound = webhook_event("no-such-workflow", query={"x-api-key": make_key("audit-sns")})
    calls.take()

    for _ in range(5):
        invoke(unknown)
        invoke(unbound)

    # Reads cached; the first refusal for the existing workflow is counted in the delivery log
    # at once, the next ones within the second only in memory (written with the instance's
    # next request after it); the unknown workflow's are not logged at all.
    assert calls.take() == ["BatchGetItem", "UpdateItem", "BatchGetItem"]


def test_a_malformed_or_missing_key_costs_one_log_write(
    invoke: Invoke, calls: CallLog, registry: Any
) -> None:
    calls.take()
    invoke(webhook_event("order-events", query={"x-api-key": "snsf_" + "x" * 10_000}))
    with pytest.raises(Exception, match="Unauthorized"):
        invoke(webhook_event("order-events"))
    invoke(webhook_event("no-such-workflow", query={"x-api-key": "snsf_" + "x" * 10_000}))

    # The workflow is read once (then cached) to know it exists; each refusal is one write.
    assert calls.take() == ["BatchGetItem", "UpdateItem", "UpdateItem", "BatchGetItem"]


def test_a_cached_key_on_an_uncached_workflow_reads_only_the_workflow(
    invoke: Invoke, make_key: MakeKey, calls: CallLog, registry: Any
) -> None:
    value = make_key("prod-sns")
    invoke(webhook_event("order-events", query={"x-api-key": value}))
    requests: list[dict[str, Any]] = []
    events = aws.dynamodb_resource().meta.client.meta.events
    events.register("provide-client-params.dynamodb.BatchGetItem", _recorder(requests))
    calls.take()

    invoke(webhook_event("audit-log", query={"x-api-key": value}))

    # The refusal (key_not_bound) is counted in audit-log's delivery log.
    assert calls.take() == ["BatchGetItem", "UpdateItem"]
    [request] = requests
    assert list(request["RequestItems"]) == ["snsflow-test-workflows"]


def _recorder(requests: list[dict[str, Any]]) -> Any:
    def record(params: dict[str, Any], **_: Any) -> None:
        requests.append(params)

    return record


def test_the_caches_are_bounded(
    invoke: Invoke,
    make_key: MakeKey,
    calls: CallLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SNSFLOW_AUTH_CACHE_MAX_ENTRIES", "2")
    _new_process()
    values = [make_key(name, KeyScope.READ) for name in ("a", "b", "c")]
    events = [authorizer_event("GET", "/workflows", query={"x-api-key": v}) for v in values]
    for event in events:
        invoke(event)
    calls.take()

    invoke(events[2])  # still cached
    invoke(events[0])  # evicted by the third key: read again
    assert calls.take() == ["BatchGetItem"]


def test_a_failing_use_write_never_fails_the_request(
    invoke: Invoke, make_key: MakeKey, key_store: DynamoKeyStore
) -> None:
    def refuse(**_: Any) -> None:
        raise RuntimeError("UpdateItem unavailable")

    events = aws.dynamodb_resource().meta.client.meta.events
    events.register("before-call.dynamodb.UpdateItem", refuse)
    value = make_key("prod-sns")

    response = invoke(webhook_event("order-events", query={"x-api-key": value}))

    assert response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert key_store.named("prod-sns")[0].last_used_at is None


def test_a_failing_lookup_is_an_error_not_a_denial(invoke: Invoke, make_key: MakeKey) -> None:
    from botocore.exceptions import EndpointConnectionError

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    value = make_key("prod-sns")
    aws.dynamodb_resource().meta.client.meta.events.register(
        "before-call.dynamodb.BatchGetItem", unreachable
    )

    with pytest.raises(DependencyUnavailableError) as raised:
        invoke(webhook_event("order-events", query={"x-api-key": value}))
    assert value not in str(raised.value)
