"""The keys table's data access: items, conditional writes, errors, the authorizer's read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snsflow import aws
from snsflow.errors import DependencyUnavailableError, SnsflowError
from snsflow.keys import ApiKey, KeyScope, issue_key
from snsflow.store.keys import DynamoAccessRecords, DynamoKeyStore
from snsflow.store.workflows import WorkflowRecord, WorkflowRegistry

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _stored(key_store: DynamoKeyStore, name: str = "prod-sns") -> ApiKey:
    key = issue_key(name, KeyScope.WEBHOOK, NOW).key
    key_store.add(key)
    return key


def test_every_field_survives_a_round_trip(key_store: DynamoKeyStore) -> None:
    key = issue_key("prod-sns", KeyScope.READ, NOW).key.model_copy(
        update={
            "revoked_at": NOW + timedelta(hours=1),
            "expires_at": NOW + timedelta(hours=2),
            "last_used_at": NOW + timedelta(milliseconds=7),
            "leaked_at": NOW + timedelta(minutes=30),
        }
    )
    key_store.add(key)

    assert key_store.get(key.key_hash) == key
    assert key_store.all() == [key]


def test_times_are_stored_as_fixed_width_utc_text(dynamodb_tables: dict[str, str]) -> None:
    table = aws.dynamodb_resource().Table(dynamodb_tables["Keys"])
    key = issue_key("prod-sns", KeyScope.READ, NOW).key

    DynamoKeyStore(table).add(key)

    item = table.get_item(Key={"keyHash": key.key_hash})["Item"]
    assert item["createdAt"] == "2026-11-28T12:00:00.000Z"
    assert set(item) == {"keyHash", "name", "scope", "displayPrefix", "createdAt"}


def test_a_hash_is_never_stored_twice(key_store: DynamoKeyStore) -> None:
    key = _stored(key_store)

    with pytest.raises(SnsflowError, match="ConditionalCheckFailed"):
        key_store.add(key.model_copy(update={"name": "other"}))


def test_use_is_written_at_most_once_a_minute(key_store: DynamoKeyStore) -> None:
    key = _stored(key_store)

    key_store.record_use(key.key_hash, NOW)
    key_store.record_use(key.key_hash, NOW + timedelta(seconds=59))
    assert key_store.get(key.key_hash).last_used_at == NOW  # type: ignore[union-attr]

    key_store.record_use(key.key_hash, NOW + timedelta(seconds=61))
    assert key_store.get(key.key_hash).last_used_at == NOW + timedelta(seconds=61)  # type: ignore[union-attr]


def test_recording_use_of_a_deleted_key_creates_nothing(key_store: DynamoKeyStore) -> None:
    key_store.record_use("0" * 64, NOW)

    assert key_store.all() == []


def test_revocation_keeps_its_first_time(key_store: DynamoKeyStore) -> None:
    key = _stored(key_store)

    key_store.revoke(key.key_hash, NOW)
    key_store.revoke(key.key_hash, NOW + timedelta(hours=1))

    assert key_store.get(key.key_hash).revoked_at == NOW  # type: ignore[union-attr]


def test_a_leak_mark_keeps_its_first_time(key_store: DynamoKeyStore) -> None:
    key = _stored(key_store)

    key_store.mark_leaked(key.key_hash, NOW)
    key_store.mark_leaked(key.key_hash, NOW + timedelta(hours=1))
    key_store.mark_leaked("0" * 64, NOW)  # no such key: nothing is created

    assert key_store.get(key.key_hash).leaked_at == NOW  # type: ignore[union-attr]
    assert key_store.all() == [key.model_copy(update={"leaked_at": NOW})]


def test_expiry_can_only_move_earlier(key_store: DynamoKeyStore) -> None:
    key = _stored(key_store)

    key_store.expire(key.key_hash, NOW + timedelta(hours=2))
    key_store.expire(key.key_hash, NOW + timedelta(hours=3))
    key_store.expire(key.key_hash, NOW + timedelta(hours=1))

    assert key_store.get(key.key_hash).expires_at == NOW + timedelta(hours=1)  # type: ignore[union-attr]


def test_a_missing_table_is_a_non_retryable_error_naming_it(aws_environment: None) -> None:
    from moto import mock_aws

    with mock_aws():
        aws.reset()
        store = DynamoKeyStore(aws.dynamodb_resource().Table("no-such-table"))
        with pytest.raises(SnsflowError, match="no-such-table") as raised:
            store.all()
    assert not raised.value.retryable


def _registry(dynamodb_tables: dict[str, str]) -> WorkflowRegistry:
    return WorkflowRegistry(aws.dynamodb_resource().Table(dynamodb_tables["Workflows"]))


def _records(dynamodb_tables: dict[str, str]) -> DynamoAccessRecords:
    return DynamoAccessRecords(
        aws.dynamodb_resource(), dynamodb_tables["Keys"], dynamodb_tables["Workflows"]
    )


def test_access_read_returns_the_key_and_the_workflow(
    key_store: DynamoKeyStore, dynamodb_tables: dict[str, str]
) -> None:
    key = _stored(key_store)
    workflow = WorkflowRecord(
        workflow_id="order-events",
        name="Order events",
        api_key_name="prod-sns",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:order-events",
    )
    _registry(dynamodb_tables).put(workflow)

    assert _records(dynamodb_tables).load(key.key_hash, "order-events") == (key, workflow)


def test_access_read_reports_what_is_missing_and_skips_what_is_not_asked(
    key_store: DynamoKeyStore, dynamodb_tables: dict[str, str]
) -> None:
    key = _stored(key_store)
    records = _records(dynamodb_tables)

    assert records.load("f" * 64, "no-such-workflow") == (None, None)
    assert records.load(key.key_hash, None) == (key, None)
    assert records.load(None, None) == (None, None)


class _ThrottlingResource:
    """Answers BatchGetItem like DynamoDB under throttling: first nothing, then the item."""

    def __init__(self, unprocessed_rounds: int) -> None:
        self.calls: list[dict[str, Any]] = []
        self._unprocessed_rounds = unprocessed_rounds

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(RequestItems)
        if len(self.calls) <= self._unprocessed_rounds:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return {"Responses": {"keys": [_item()]}, "UnprocessedKeys": {}}


def _item() -> dict[str, Any]:
    return {
        "keyHash": "a" * 64,
        "name": "prod-sns",
        "scope": "webhook",
        "displayPrefix": "snsf_abcdefgh",
        "createdAt": "2026-11-28T12:00:00.000000Z",
    }


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr("snsflow.store.keys.time.sleep", waited.append)
    return waited


def test_keys_left_unread_by_a_throttled_batch_are_read_again(backoffs: list[float]) -> None:
    resource = _ThrottlingResource(unprocessed_rounds=1)
    records = DynamoAccessRecords(resource, "keys", "workflows")  # type: ignore[arg-type]

    key, _ = records.load("a" * 64, None)

    assert key is not None
    assert key.name == "prod-sns"
    assert len(resource.calls) == 2
    assert len(backoffs) == 1


def test_a_batch_that_stays_throttled_is_a_retryable_error(backoffs: list[float]) -> None:
    resource = _ThrottlingResource(unprocessed_rounds=99)
    records = DynamoAccessRecords(resource, "keys", "workflows")  # type: ignore[arg-type]

    with pytest.raises(DependencyUnavailableError):
        records.load("a" * 64, None)
    assert len(resource.calls) == 3
    assert backoffs == sorted(backoffs)
    assert backoffs[0] < backoffs[-1]
