"""The DynamoDB tables, built from the schemas in ``snsflow.store.tables`` (the one source)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from snsflow.store.tables import ALL_TABLES, RETIRED_TABLES, KeyAttribute, TableSchema

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


class DataTables(Construct):
    """On-demand tables with point-in-time recovery; TTL where the schema names an attribute.

    The retired tables (``RETIRED_TABLES``) stay in the stack as they were deployed, so that an
    update does not delete them while their records are copied to their successors."""

    def __init__(self, scope: Construct, id: str, *, deletion_protection: bool) -> None:
        super().__init__(scope, id)
        self._tables: dict[str, dynamodb.Table] = {}
        for schema in ALL_TABLES + RETIRED_TABLES:
            table = dynamodb.Table(
                self,
                schema.cdk_id,
                partition_key=_attribute(schema.partition_key),
                sort_key=_optional_attribute(schema.sort_key),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
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
                )
            self._tables[schema.logical_name] = table

    def table(self, schema: TableSchema) -> dynamodb.Table:
        return self._tables[schema.logical_name]

    @property
    def all(self) -> list[tuple[TableSchema, dynamodb.Table]]:
        """Every table of the stack, the retired ones included."""
        return [
            (schema, self._tables[schema.logical_name]) for schema in ALL_TABLES + RETIRED_TABLES
        ]
