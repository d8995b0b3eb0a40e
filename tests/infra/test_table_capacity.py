"""The busy tables' capacity mode: on-demand by default, provisioned with auto scaling on the
table and every index when asked (aws_cdk.assertions on the synthesized templates)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import ConfigError, StackConfig
from infra.data import BUSY_TABLES
from snsflow.store.tables import ALL_TABLES, RETIRED_TABLES, TableSchema
from tests.infra.conftest import Synthesized

#: The variant app's settings (tests/infra/conftest.py).
MIN_WRITE, MAX_WRITE, MIN_READ, MAX_READ, TARGET = 10, 6000, 2, 300, 60


def _table(app: Synthesized, schema: TableSchema) -> tuple[str, dict[str, Any]]:
    logical_id = app.logical_id(app.stack.data.table(schema))
    return logical_id, app.template["Resources"][logical_id]["Properties"]


def _scalable_targets(app: Synthesized) -> dict[str, dict[str, Any]]:
    """Scalable targets by ``<table logical id>[/index/<name>]:<dimension>``."""
    found = {}
    for target in app.resources("AWS::ApplicationAutoScaling::ScalableTarget").values():
        properties = target["Properties"]
        table_part, *index = properties["ResourceId"]["Fn::Join"][1]
        assert table_part == "table/"
        where = index[0]["Ref"] + "".join(index[1:])
        found[f"{where}:{properties['ScalableDimension']}"] = properties
    return found


def test_by_default_every_table_is_on_demand_and_nothing_scales(
    default_app: Synthesized,
) -> None:
    template = Template.from_json(default_app.template)
    for schema in ALL_TABLES + RETIRED_TABLES:
        _, properties = _table(default_app, schema)
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert "ProvisionedThroughput" not in properties
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 0)


def test_provisioned_busy_tables_start_at_their_minimum_on_the_table_and_every_index(
    variant_app: Synthesized,
) -> None:
    start = {"ReadCapacityUnits": MIN_READ, "WriteCapacityUnits": MIN_WRITE}
    for schema in BUSY_TABLES:
        _, properties = _table(variant_app, schema)
        # CloudFormation's default billing mode is PROVISIONED (CDK leaves it out).
        assert properties.get("BillingMode", "PROVISIONED") == "PROVISIONED"
        assert properties["ProvisionedThroughput"] == start
        indexes = properties.get("GlobalSecondaryIndexes", [])
        assert [index["IndexName"] for index in indexes] == [i.name for i in schema.indexes]
        for index in indexes:
            assert index["ProvisionedThroughput"] == start


def test_the_other_tables_stay_on_demand(variant_app: Synthesized) -> None:
    others = [s for s in ALL_TABLES + RETIRED_TABLES if s not in BUSY_TABLES]
    assert others
    for schema in others:
        _, properties = _table(variant_app, schema)
        assert properties["BillingMode"] == "PAY_PER_REQUEST"


def test_auto_scaling_tracks_the_target_on_reads_and_writes_of_each_table_and_index(
    variant_app: Synthesized,
) -> None:
    targets = _scalable_targets(variant_app)
    expected = set()
    for schema in BUSY_TABLES:
        table_id, _ = _table(variant_app, schema)
        places = [(table_id, "table")] + [
            (f"{table_id}/index/{index.name}", "index") for index in schema.indexes
        ]
        for where, kind in places:
            for unit, low, high in (("Write", MIN_WRITE, MAX_WRITE), ("Read", MIN_READ, MAX_READ)):
                key = f"{where}:dynamodb:{kind}:{unit}CapacityUnits"
                expected.add(key)
                assert (targets[key]["MinCapacity"], targets[key]["MaxCapacity"]) == (low, high)
    assert set(targets) == expected
    template = Template.from_json(variant_app.template)
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", len(expected))
    for unit in ("Write", "Read"):
        template.has_resource_properties(
            "AWS::ApplicationAutoScaling::ScalingPolicy",
            {
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                    {
                        "TargetValue": TARGET,
                        "PredefinedMetricSpecification": {
                            "PredefinedMetricType": f"DynamoDB{unit}CapacityUtilization"
                        },
                    }
                ),
            },
        )


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"tableCapacity": "reserved"}, "context 'tableCapacity'"),
        ({"provisionedTargetUtilization": "95"}, "context 'provisionedTargetUtilization'"),
        ({"provisionedMinWriteCapacity": "0"}, "context 'provisionedMinWriteCapacity'"),
        (
            {"provisionedMinReadCapacity": "50", "provisionedMaxReadCapacity": "10"},
            "provisionedMinReadCapacity \\(50\\) is above provisionedMaxReadCapacity \\(10\\)",
        ),
    ],
)
def test_capacity_settings_out_of_range_are_refused_by_name(
    values: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        StackConfig.from_context(values.get)


def test_on_demand_ignores_the_provisioned_limits() -> None:
    assert (
        StackConfig.from_context({"provisionedMaxWriteCapacity": "100"}.get).provisioned_capacity
        is None
    )
