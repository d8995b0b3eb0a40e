"""The DynamoDB tables, built from the schemas in ``snsflow.store.tables`` (the one source)."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.config import ProvisionedCapacity
from snsflow.store.tables import (
    ALL_TABLES,
    DELIVERIES,
    EXECUTIONS,
    RETIRED_TABLES,
    KeyAttribute,
    TableSchema,
)

#: The tables whose writes follow the notification rate: the ones a ``provisioned`` capacity
#: setting applies to. The others (keys, registry, subscriptions) see a few writes a minute and
#: stay on-demand, where they cost next to nothing.
BUSY_TABLES = (EXECUTIONS, DELIVERIES)

_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}
_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _attribute(key: KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


def _optional_attribute(key: KeyAttribute | None) -> dynamodb.Attribute | None:
    return None if key is None else _attribute(key)


def _billing(capacity: ProvisionedCapacity | None) -> dict[str, Any]:
    """The table's billing arguments; a provisioned table starts at its minimum."""
    if capacity is None:
        return {"billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST}
    return {"billing_mode": dynamodb.BillingMode.PROVISIONED, **_index_capacity(capacity)}


def _index_capacity(capacity: ProvisionedCapacity | None) -> dict[str, Any]:
    """A table's or an index's starting capacity: its minimum (none on-demand)."""
    if capacity is None:
        return {}
    return {"read_capacity": capacity.min_read, "write_capacity": capacity.min_write}


def _scale(table: dynamodb.Table, schema: TableSchema, capacity: ProvisionedCapacity) -> None:
    """Target tracking on the reads and writes of the table and of each of its indexes."""
    low_write, high_write = capacity.min_write, capacity.max_write
    low_read, high_read = capacity.min_read, capacity.max_read
    scalable = [
        table.auto_scale_write_capacity(min_capacity=low_write, max_capacity=high_write),
        table.auto_scale_read_capacity(min_capacity=low_read, max_capacity=high_read),
    ]
    for index in schema.indexes:
        scalable += [
            table.auto_scale_global_secondary_index_write_capacity(
                index.name, min_capacity=low_write, max_capacity=high_write
            ),
            table.auto_scale_global_secondary_index_read_capacity(
                index.name, min_capacity=low_read, max_capacity=high_read
            ),
        ]
    for attribute in scalable:
        attribute.scale_on_utilization(target_utilization_percent=capacity.target_utilization)


class DataTables(Construct):
    """Tables with point-in-time recovery; TTL where the schema names an attribute.

    On-demand, except the busy tables (:data:`BUSY_TABLES`) when ``capacity`` is given: those
    get provisioned capacity, which auto scaling keeps at the target utilization between its
    limits, on the table and on each index alike (an index short of write capacity throttles
    the table's writes too).

    The retired tables (``RETIRED_TABLES``) stay in the stack as they were deployed, so that an
    update does not delete them while their records are copied to their successors."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        deletion_protection: bool,
        capacity: ProvisionedCapacity | None = None,
    ) -> None:
        super().__init__(scope, id)
        self._tables: dict[str, dynamodb.Table] = {}
        for schema in ALL_TABLES + RETIRED_TABLES:
            provisioned = capacity if schema in BUSY_TABLES else None
            table = dynamodb.Table(
                self,
                schema.cdk_id,
                partition_key=_attribute(schema.partition_key),
                sort_key=_optional_attribute(schema.sort_key),
                **_billing(provisioned),
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                time_to_live_attribute=schema.ttl_attribute,
                deletion_protection=deletion_protection,
                # A protected table outlives `cdk destroy`; an unprotected one goes with it.
                removal_policy=(
                    RemovalPolicy.RETAIN if deletion_protection else RemovalPolicy.DESTROY
                ),
            )
            for index in schema.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=_attribute(index.partition_key),
                    sort_key=_optional_attribute(index.sort_key),
                    projection_type=_PROJECTIONS[index.projection],
                    non_key_attributes=list(index.non_key_attributes) or None,
                    **_index_capacity(provisioned),
                )
            if provisioned is not None:
                _scale(table, schema, provisioned)
            self._tables[schema.logical_name] = table

    def table(self, schema: TableSchema) -> dynamodb.Table:
        return self._tables[schema.logical_name]

    @property
    def all(self) -> list[tuple[TableSchema, dynamodb.Table]]:
        """Every table of the stack, the retired ones included."""
        return [
            (schema, self._tables[schema.logical_name]) for schema in ALL_TABLES + RETIRED_TABLES
        ]
