"""The DynamoDB table schemas — defined once, used by the CDK stack, the local stack and tests.

Every table is on-demand. Attribute names here are the stored names; the data-access modules
beside this file are the only code that reads or writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AttributeType = Literal["S", "N", "B"]


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: AttributeType = "S"


@dataclass(frozen=True)
class SecondaryIndex:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None


@dataclass(frozen=True)
class TableSchema:
    #: Logical name: the CDK construct id, and the suffix of the local table name.
    logical_name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    indexes: tuple[SecondaryIndex, ...] = field(default_factory=tuple)
    #: Attribute holding an epoch-seconds expiry, or None when items never expire.
    ttl_attribute: str | None = None

    @property
    def settings_field(self) -> str:
        """The settings field holding this table's name, e.g. ``executions_table_name``."""
        return f"{self.logical_name.lower()}_table_name"

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """Arguments for boto3 ``create_table`` (local stack and tests)."""
        definitions: dict[str, AttributeType] = {}

        def key_schema(pk: KeyAttribute, sk: KeyAttribute | None) -> list[dict[str, str]]:
            schema = [{"AttributeName": pk.name, "KeyType": "HASH"}]
            definitions[pk.name] = pk.type
            if sk is not None:
                schema.append({"AttributeName": sk.name, "KeyType": "RANGE"})
                definitions[sk.name] = sk.type
            return schema

        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": key_schema(self.partition_key, self.sort_key),
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index.name,
                    "KeySchema": key_schema(index.partition_key, index.sort_key),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for index in self.indexes
            ]
        kwargs["AttributeDefinitions"] = [
            {"AttributeName": name, "AttributeType": type_} for name, type_ in definitions.items()
        ]
        return kwargs


#: API keys, by the SHA-256 of the key value. ``byName`` serves list, revoke and rotate.
KEYS = TableSchema(
    logical_name="Keys",
    partition_key=KeyAttribute("keyHash"),
    indexes=(SecondaryIndex("byName", KeyAttribute("name"), KeyAttribute("createdAt")),),
)

#: The workflows registry, written at deploy (or local start) time from ``workflows/``.
WORKFLOWS = TableSchema(logical_name="Workflows", partition_key=KeyAttribute("workflowId"))

#: One item per (workflow, SNS MessageId): the idempotency claim and the execution record.
EXECUTIONS = TableSchema(
    logical_name="Executions",
    partition_key=KeyAttribute("workflowId"),
    sort_key=KeyAttribute("messageId"),
    indexes=(
        # Newest first per workflow.
        SecondaryIndex("byReceivedAt", KeyAttribute("workflowId"), KeyAttribute("receivedAt")),
        # Status filter: "<workflowId>#<status>", newest first.
        SecondaryIndex("byStatus", KeyAttribute("workflowStatus"), KeyAttribute("receivedAt")),
        SecondaryIndex("byExecutionId", KeyAttribute("executionId")),
    ),
    ttl_attribute="expiresAt",
)

#: Per workflow and topic: pending, confirmed or unsubscribed.
SUBSCRIPTIONS = TableSchema(
    logical_name="Subscriptions",
    partition_key=KeyAttribute("workflowId"),
    sort_key=KeyAttribute("topicArn"),
)

#: The delivery log: what every request for a workflow came to (snsflow/store/deliveries.py).
#: ``<workflowId>#<shard>`` spreads one workflow's deliveries over several partition keys, and
#: ``<workflowId>#r<shard>`` holds its refusals, counted per code and minute. No index: an
#: accepted delivery costs one write unit of log.
DELIVERIES = TableSchema(
    logical_name="Deliveries",
    partition_key=KeyAttribute("partition"),
    sort_key=KeyAttribute("entry"),
    ttl_attribute="expiresAt",
)

ALL_TABLES: tuple[TableSchema, ...] = (KEYS, WORKFLOWS, EXECUTIONS, SUBSCRIPTIONS, DELIVERIES)
