"""The authorizer's decision with in-memory records: what is read, when, and how keys travel."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snsflow.authorization import (
    AccessRequest,
    Authorizer,
    BoundWorkflow,
    InvalidApiKeyError,
    KeyNotBoundError,
    MissingApiKeyError,
    presented_api_keys,
)
from snsflow.deliveries import DeliveryLog, DeliveryLogShape
from snsflow.keys import ApiKey, KeyScope, issue_key
from snsflow.store.deliveries import Refusal

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Workflow:
    api_key_name: str
    workflow_id: str = "orders"
    allowed_topic_arns: tuple[str, ...] | None = None


@dataclass
class InMemoryRecords:
    keys: dict[str, ApiKey] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    loads: list[tuple[str | None, str | None]] = field(default_factory=list)
    uses: list[tuple[str, datetime]] = field(default_factory=list)

    def load(
        self, key_hash: str | None, workflow_id: str | None
    ) -> tuple[ApiKey | None, BoundWorkflow | None]:
        self.loads.append((key_hash, workflow_id))
        key = self.keys.get(key_hash) if key_hash else None
        return key, self.workflows.get(workflow_id) if workflow_id else None

    def record_use(self, key_hash: str, at: datetime) -> None:
        self.uses.append((key_hash, at))


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


def _authorizer(records: InMemoryRecords, clock: Clock) -> Authorizer:
    return Authorizer(records, records, clock, timedelta(seconds=5), cache_max_entries=10)


def _webhook(workflow_id: str, value: str) -> AccessRequest:
    return AccessRequest("POST", "/webhooks/{workflowId}", workflow_id, (value,))


def _stored(records: InMemoryRecords, name: str) -> str:
    issued = issue_key(name, KeyScope.WEBHOOK, NOW)
    records.keys[issued.key.key_hash] = issued.key
    return issued.value.get_secret_value()


def test_only_what_is_not_cached_is_read() -> None:
    records = InMemoryRecords(workflows={"a": Workflow("k"), "b": Workflow("k")})
    value = _stored(records, "k")
    authorizer = _authorizer(records, Clock())

    authorizer.authorize(_webhook("a", value))
    authorizer.authorize(_webhook("b", value))
    authorizer.authorize(_webhook("a", value))

    key_hash = records.loads[0][0]
    assert records.loads == [(key_hash, "a"), (None, "b")]


def test_entries_expire_after_the_cache_time() -> None:
    records = InMemoryRecords(workflows={"a": Workflow("k")})
    value = _stored(records, "k")
    clock = Clock()
    authorizer = _authorizer(records, clock)
    authorizer.authorize(_webhook("a", value))

    clock.now += timedelta(seconds=4.999)
    authorizer.authorize(_webhook("a", value))
    assert len(records.loads) == 1
    clock.now += timedelta(milliseconds=1)
    authorizer.authorize(_webhook("a", value))
    assert len(records.loads) == 2


def test_a_rebinding_of_the_workflow_is_seen_after_the_cache_time() -> None:
    records = InMemoryRecords(workflows={"a": Workflow("k")})
    value = _stored(records, "k")
    clock = Clock()
    authorizer = _authorizer(records, clock)
    authorizer.authorize(_webhook("a", value))

    records.workflows["a"] = Workflow("other")
    clock.now += timedelta(seconds=5)

    with pytest.raises(KeyNotBoundError):
        authorizer.authorize(_webhook("a", value))


def test_a_record_under_another_hash_is_never_accepted() -> None:
    records = InMemoryRecords(workflows={"a": Workflow("k")})
    value = _stored(records, "k")
    stranger = issue_key("k", KeyScope.WEBHOOK, NOW)
    [key_hash] = records.keys
    records.keys[key_hash] = stranger.key  # a store answering with the wrong record

    with pytest.raises(InvalidApiKeyError):
        _authorizer(records, Clock()).authorize(_webhook("a", value))


def test_use_is_recorded_only_by_the_invocation_that_read_the_key() -> None:
    records = InMemoryRecords(workflows={"a": Workflow("k")})
    value = _stored(records, "k")
    authorizer = _authorizer(records, Clock())

    for _ in range(3):
        authorizer.authorize(_webhook("a", value))

    assert records.uses == [(records.loads[0][0], NOW)]


def test_no_key_is_missing_before_anything_else() -> None:
    records = InMemoryRecords()

    with pytest.raises(MissingApiKeyError):
        _authorizer(records, Clock()).authorize(AccessRequest("GET", "/nowhere", None, ()))
    assert records.loads == []


def test_the_request_repr_hides_the_key() -> None:
    assert "snsf_secret" not in repr(_webhook("a", "snsf_secret"))


def test_keys_come_from_headers_of_any_case_and_the_exact_query_parameter() -> None:
    found = presented_api_keys(
        {"X-API-KEY": "h1", "Content-Type": "x"},
        {"x-api-key": ["h1", "h2"]},
        {"x-api-key": "q1", "X-Api-Key": "not-a-query-key", "api-key": "no"},
        {"x-api-key": ["q1"]},
    )

    assert found == ("h1", "h2", "q1")


def test_absent_null_and_blank_carriers_present_no_key() -> None:
    assert presented_api_keys(None, None, None, None) == ()
    nulls = presented_api_keys({"x-api-key": None}, {"x-api-key": [None, " "]}, {}, None)
    assert nulls == ()


# -- the delivery log of refused webhook requests ------------------------------------------------


@dataclass
class CountedRefusals:
    """The delivery log's writes, in memory: (workflow, code, key name) per refusal."""

    refusals: list[tuple[str, str, str | None]] = field(default_factory=list)

    def put(self, entry: Any, *, shard: int, expires_at: int) -> None:
        raise AssertionError("the authorizer logs refusals only")

    def count(self, refusal: Refusal, *, count: int, **_: Any) -> None:
        for _n in range(count):
            self.refusals.append((refusal.workflow_id, refusal.code, refusal.sample.key_name))


def _logging_authorizer(records: InMemoryRecords, counted: CountedRefusals) -> Authorizer:
    log = DeliveryLog(
        counted,
        DeliveryLogShape(shards=4, retention=timedelta(days=7), samples=3),
        clock=Clock(),
        flush_interval=timedelta(0),
    )
    return Authorizer(records, records, Clock(), timedelta(seconds=5), 10, log=log)


def test_a_refused_webhook_request_is_logged_for_its_workflow_with_the_keys_name() -> None:
    records = InMemoryRecords(workflows={"orders": Workflow("prod-sns")})
    value = _stored(records, "other-key")
    counted = CountedRefusals()
    authorizer = _logging_authorizer(records, counted)

    with pytest.raises(KeyNotBoundError):
        authorizer.authorize(_webhook("orders", value))
    with pytest.raises(MissingApiKeyError):
        authorizer.authorize(AccessRequest("POST", "/webhooks/{workflowId}", "orders", ()))

    assert counted.refusals == [
        ("orders", "key_not_bound", "other-key"),
        ("orders", "missing_api_key", None),
    ]
    assert value not in repr(counted.refusals)


def test_no_log_for_an_unknown_workflow_or_a_read_route() -> None:
    records = InMemoryRecords(workflows={"orders": Workflow("prod-sns")})
    counted = CountedRefusals()
    authorizer = _logging_authorizer(records, counted)

    for request in (
        AccessRequest("POST", "/webhooks/{workflowId}", "no-such-workflow", ()),
        AccessRequest("POST", "/webhooks/{workflowId}", "Not An Id", ()),
        AccessRequest("GET", "/workflows/{workflowId}", "orders", ()),
    ):
        with pytest.raises(MissingApiKeyError):
            authorizer.authorize(request)

    assert counted.refusals == []
