"""The keys table (schema :data:`snsflow.store.tables.KEYS`): the only code that talks to it.

Item: ``keyHash`` (hex SHA-256 of the value), ``name``, ``scope``, ``displayPrefix``,
``createdAt`` and, when set, ``revokedAt``, ``expiresAt``, ``lastUsedAt``. Times are ISO 8601
UTC with a fixed width (microseconds, ``Z``), so string order is time order — the ``byName``
index sorts by ``createdAt`` and conditions compare ``lastUsedAt`` as strings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from snsflow.errors import DependencyUnavailableError, SnsflowError
from snsflow.keys import LAST_USED_RESOLUTION, ApiKey, KeyScope
from snsflow.store.tables import KEYS, WORKFLOWS
from snsflow.store.workflows import WorkflowRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table

_BY_NAME = KEYS.indexes[0].name
_KEY_HASH = KEYS.partition_key.name
_WORKFLOW_ID = WORKFLOWS.partition_key.name
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
#: BatchGetItem may hand back keys it did not read (throttling); retry them briefly.
_BATCH_ATTEMPTS = 3
_BATCH_BACKOFF_SECONDS = 0.05


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


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
        created_at=datetime.fromisoformat(item["createdAt"]),
        revoked_at=_parse_time(item.get("revokedAt")),
        expires_at=_parse_time(item.get("expiresAt")),
        last_used_at=_parse_time(item.get("lastUsedAt")),
    )


def _is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@contextmanager
def _translated_errors(operation: str, tables: str) -> Iterator[None]:
    """DynamoDB failures as snsflow errors: retryable ones (after botocore's own retries) as
    503, the rest (a missing table, bad permissions) as 500 with the reason."""
    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = f"DynamoDB {operation} on {tables} failed: {code}: "
        message += details.get("Message", "")
        if code in _RETRYABLE_CODES or status >= 500:
            raise DependencyUnavailableError(message) from error
        raise SnsflowError(message) from error
    except BotoCoreError as error:
        raise DependencyUnavailableError(
            f"DynamoDB {operation} on {tables} failed: {error}"
        ) from error


class DynamoKeyStore:
    """Reads and writes key records (a boto3 DynamoDB ``Table`` is passed in)."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._where = f"table '{table.name}'"

    def add(self, key: ApiKey) -> None:
        with _translated_errors("PutItem", self._where):
            self._table.put_item(
                Item=_to_item(key), ConditionExpression=f"attribute_not_exists({_KEY_HASH})"
            )

    def get(self, key_hash: str) -> ApiKey | None:
        with _translated_errors("GetItem", self._where):
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
        with _translated_errors("Query", self._where):
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
        with _translated_errors("Scan", self._where):
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
        with _translated_errors("UpdateItem", self._where):
            try:
                self._table.update_item(
                    Key={_KEY_HASH: key_hash},
                    UpdateExpression=f"SET {attribute} = :at",
                    ConditionExpression=f"attribute_exists({_KEY_HASH}) AND {extra_condition}",
                    ExpressionAttributeValues={":at": format_time(at), **(extra_values or {})},
                )
            except ClientError as error:
                # The condition is what keeps these writes idempotent: losing it is success.
                if not _is_conditional_failure(error):
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
            with _translated_errors("BatchGetItem", tables):
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
