"""The DynamoDB table schemas — defined once, used by the CDK stack, the local stack and tests.

Every table is on-demand. Attribute names here are the stored names; the data-access modules
beside this file are the only code that reads or writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AttributeType = Literal["S", "N", "B"]
#: What an index keeps of an item besides the keys: everything, nothing, or the listed attributes.
ProjectionType = Literal["ALL", "KEYS_ONLY", "INCLUDE"]


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: AttributeType = "S"


@dataclass(frozen=True)
class SecondaryIndex:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    #: Each index entry is written whenever a projected attribute changes, and costs write
    #: units by its size: project only what readers need from the index itself.
    projection: ProjectionType = "ALL"
    #: The attributes an ``INCLUDE`` projection keeps.
    non_key_attributes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.projection == "INCLUDE") != bool(self.non_key_attributes):
            raise ValueError(f"index {self.name}: non-key attributes go with INCLUDE, and only")

    def projection_kwargs(self) -> dict[str, Any]:
        """The index's ``Projection`` for boto3 ``create_table``."""
        projection: dict[str, Any] = {"ProjectionType": self.projection}
        if self.non_key_attributes:
            projection["NonKeyAttributes"] = list(self.non_key_attributes)
        return projection


@dataclass(frozen=True)
class TableSchema:
    #: Logical name: the CDK construct id, and the suffix of the local table name.
    logical_name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    indexes: tuple[SecondaryIndex, ...] = field(default_factory=tuple)
    #: Attribute holding an epoch-seconds expiry, or None when items never expire.
    ttl_attribute: str | None = None
    #: The CDK construct id when it is not ``logical_name``: a table whose key schema changes
    #: is a new table to CloudFormation, so it takes a new id (and the old table stays).
    construct_id: str | None = None

    @property
    def cdk_id(self) -> str:
        return self.construct_id or self.logical_name

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
                    "Projection": index.projection_kwargs(),
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

#: One item per (workflow, SNS MessageId): the idempotency claim and the execution record, and
#: beside it one item holding the execution input (sort key ``<workflowId>#input``), so that the
#: record's many small updates do not each pay for the input (a write costs the whole item's size).
#: Partition key ``<workflowId>#<MessageId>``, so that every record's writes land on a key of its
#: own. The indexes
#: keep keys only (each entry is under 1 KB, and never rewritten when a record's other attributes
#: change): readers take the page's keys from them and the records from the table.
#: ``snsflow.store.executions`` says what their key attributes hold.
EXECUTIONS = TableSchema(
    logical_name="Executions",
    construct_id="ExecutionRecords",
    partition_key=KeyAttribute("recordKey"),
    sort_key=KeyAttribute("workflowId"),
    indexes=(
        # Newest first per workflow: "<workflowId>#<shard>", one query per shard.
        SecondaryIndex(
            "byWorkflowShard",
            KeyAttribute("workflowShard"),
            KeyAttribute("receivedAt"),
            projection="KEYS_ONLY",
        ),
        # Per status group: "<workflowId>#<OPEN|terminal status>#<shard>", newest first.
        SecondaryIndex(
            "byStatusShard",
            KeyAttribute("statusShard"),
            KeyAttribute("receivedAt"),
            projection="KEYS_ONLY",
        ),
        # Sparse: only records whose execution name is not their MessageId (others are found
        # by their key, which the execution id holds).
        SecondaryIndex("byExecutionId", KeyAttribute("aliasExecutionId"), projection="KEYS_ONLY"),
    ),
    ttl_attribute="expiresAt",
)

#: The executions table as deployed before issue 15 (key workflowId + messageId, indexes
#: projecting ALL): kept in the stack, no longer written, so that ``cdk deploy`` of this
#: version does not delete it; ``snsflow.store.migration`` copies its records into
#: :data:`EXECUTIONS`.
LEGACY_EXECUTIONS = TableSchema(
    logical_name="LegacyExecutions",
    construct_id="Executions",
    partition_key=KeyAttribute("workflowId"),
    sort_key=KeyAttribute("messageId"),
    indexes=(
        SecondaryIndex("byReceivedAt", KeyAttribute("workflowId"), KeyAttribute("receivedAt")),
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
#: Tables of an earlier layout, kept (unused) in a deployed stack until their records are
#: copied to their successors; never created locally.
RETIRED_TABLES: tuple[TableSchema, ...] = (LEGACY_EXECUTIONS,)
