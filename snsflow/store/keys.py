"""The keys table (schema :data:`snsflow.store.tables.KEYS`): the only code that talks to it.

Item: ``keyHash`` (hex SHA-256 of the value), ``name``, ``scope``, ``displayPrefix``,
``createdAt`` and, when set, ``revokedAt``, ``expiresAt``, ``lastUsedAt``, ``leakedAt``. Times
are stored as :func:`~snsflow.store.dynamodb.format_time` writes them (fixed width), so string
order is time order — the ``byName`` index sorts by ``createdAt`` and conditions compare
``lastUsedAt`` as strings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from snsflow.errors import DependencyUnavailableError, SnsflowError
from snsflow.keys import LAST_USED_RESOLUTION, ApiKey, KeyScope
from snsflow.store.dynamodb import (
    dynamodb_errors,
    error_code,
    is_conditional_check_failure,
    parse_time,
)

# Re-exported: the keys commands print times as they are stored.
from snsflow.store.dynamodb import format_time as format_time
from snsflow.store.tables import KEYS, WORKFLOWS
from snsflow.store.workflows import WorkflowRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table

_BY_NAME = KEYS.indexes[0].name
_KEY_HASH = KEYS.partition_key.name
_WORKFLOW_ID = WORKFLOWS.partition_key.name
#: BatchGetItem may hand back keys it did not read (throttling); retry them briefly.
_BATCH_ATTEMPTS = 3
_BATCH_BACKOFF_SECONDS = 0.05


def _parse_time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) else None


def _to_item(key: ApiKey) -> dict[str, Any]:
    item: dict[str, Any] = {
        _KEY_HASH: key.key_hash,
        "name": key.name,
        "scope": key.scope.value,
        "displayPrefix": key.display_prefix,
        "createdAt": format_time(key.created_at),
    }
    for attribute, moment in (
        ("revokedAt", key.revoked_at),
        ("expiresAt", key.expires_at),
        ("lastUsedAt", key.last_used_at),
        ("leakedAt", key.leaked_at),
    ):
        if moment is not None:
            item[attribute] = format_time(moment)
    return item


def _from_item(item: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_hash=item[_KEY_HASH],
        name=item["name"],
        scope=KeyScope(item["scope"]),
        display_prefix=item["displayPrefix"],
        created_at=parse_time(item["createdAt"]),
        revoked_at=_parse_time(item.get("revokedAt")),
        expires_at=_parse_time(item.get("expiresAt")),
        last_used_at=_parse_time(item.get("lastUsedAt")),
        leaked_at=_parse_time(item.get("leakedAt")),
    )


@contextmanager
def _translated_errors(action: str) -> Iterator[None]:
    """DynamoDB failures as snsflow errors: transient ones as 503 (the shared translation), the
    rest (a missing table, bad permissions, a refused condition) as 500 with the reason, which
    the keys commands print and the authorizer logs."""
    try:
        with dynamodb_errors(action):
            yield
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "")
        raise SnsflowError(
            f"DynamoDB could not {action}: {error_code(error) or 'Unknown'}: {message}"
        ) from error


class DynamoKeyStore:
    """Reads and writes key records (a boto3 DynamoDB ``Table`` is passed in)."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._table_name = table.name

    def add(self, key: ApiKey) -> None:
        with _translated_errors(f"store the key in table '{self._table_name}'"):
            self._table.put_item(
                Item=_to_item(key), ConditionExpression=f"attribute_not_exists({_KEY_HASH})"
            )

    def get(self, key_hash: str) -> ApiKey | None:
        with _translated_errors(f"read the key from table '{self._table_name}'"):
            item = self._table.get_item(Key={_KEY_HASH: key_hash}).get("Item")
        return _from_item(item) if item else None

    def named(self, name: str) -> list[ApiKey]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "IndexName": _BY_NAME,
            "KeyConditionExpression": "#name = :name",
            "ExpressionAttributeNames": {"#name": "name"},
            "ExpressionAttributeValues": {":name": name},
        }
        with _translated_errors(f"list the keys named {name!r} in table '{self._table_name}'"):
            while True:
                page = self._table.query(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [_from_item(item) for item in items]

    def all(self) -> list[ApiKey]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        with _translated_errors(f"list the keys in table '{self._table_name}'"):
            while True:
                page = self._table.scan(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [_from_item(item) for item in items]

    def revoke(self, key_hash: str, at: datetime) -> None:
        """Mark a value revoked; a value already revoked keeps its first revocation time."""
        self._conditional_set(
            key_hash,
            "revokedAt",
            at,
            extra_condition="attribute_not_exists(revokedAt)",
        )

    def expire(self, key_hash: str, at: datetime) -> None:
        """Give a value an expiry; an earlier expiry already set is kept."""
        self._conditional_set(
            key_hash,
            "expiresAt",
            at,
            extra_condition="(attribute_not_exists(expiresAt) OR expiresAt > :at)",
        )

    def mark_leaked(self, key_hash: str, at: datetime) -> None:
        """Mark a value leaked (the key-prefix set leaves it out once it is no longer valid);
        a value already marked keeps its first time."""
        self._conditional_set(
            key_hash, "leakedAt", at, extra_condition="attribute_not_exists(leakedAt)"
        )

    def record_use(self, key_hash: str, at: datetime) -> None:
        """Set ``lastUsedAt`` unless it is already within :data:`LAST_USED_RESOLUTION` of
        ``at`` — across every authorizer instance, at most one write per key per interval
        lands."""
        self._conditional_set(
            key_hash,
            "lastUsedAt",
            at,
            extra_condition="(attribute_not_exists(lastUsedAt) OR lastUsedAt <= :cutoff)",
            extra_values={":cutoff": format_time(at - LAST_USED_RESOLUTION)},
        )

    def _conditional_set(
        self,
        key_hash: str,
        attribute: str,
        at: datetime,
        *,
        extra_condition: str,
        extra_values: dict[str, str] | None = None,
    ) -> None:
        with _translated_errors(f"set {attribute} of a key in table '{self._table_name}'"):
            try:
                self._table.update_item(
                    Key={_KEY_HASH: key_hash},
                    UpdateExpression=f"SET {attribute} = :at",
                    ConditionExpression=f"attribute_exists({_KEY_HASH}) AND {extra_condition}",
                    ExpressionAttributeValues={":at": format_time(at), **(extra_values or {})},
                )
            except ClientError as error:
                # The condition is what keeps these writes idempotent: losing it is success.
                if not is_conditional_check_failure(error):
                    raise


class DynamoAccessRecords:
    """The authorizer's read: a key record and a workflow record in one ``BatchGetItem``."""

    def __init__(
        self, resource: DynamoDBServiceResource, keys_table_name: str, workflows_table_name: str
    ) -> None:
        self._resource = resource
        self._keys_table = keys_table_name
        self._workflows_table = workflows_table_name

    def load(
        self, key_hash: str | None, workflow_id: str | None
    ) -> tuple[ApiKey | None, WorkflowRecord | None]:
        """Read whichever of the two is asked for (``None`` skips it) in a single request."""
        request: dict[str, Any] = {}
        if key_hash is not None:
            request[self._keys_table] = {"Keys": [{_KEY_HASH: key_hash}]}
        if workflow_id is not None:
            request[self._workflows_table] = {"Keys": [{_WORKFLOW_ID: workflow_id}]}
        found: dict[str, list[dict[str, Any]]] = {}
        tables = f"tables '{self._keys_table}' and '{self._workflows_table}'"
        for attempt in range(_BATCH_ATTEMPTS):
            if not request:
                break
            if attempt:
                time.sleep(_BATCH_BACKOFF_SECONDS * 2**attempt)
            with _translated_errors(f"read from {tables}"):
                response = self._resource.batch_get_item(RequestItems=request)
            for table, items in response.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            request = dict(response.get("UnprocessedKeys") or {})
        if request:
            raise DependencyUnavailableError(
                f"DynamoDB BatchGetItem on {tables} left keys unread (throttled)"
            )
        key_items = found.get(self._keys_table, [])
        workflow_items = found.get(self._workflows_table, [])
        return (
            _from_item(key_items[0]) if key_items else None,
            WorkflowRecord.from_item(workflow_items[0]) if workflow_items else None,
        )
