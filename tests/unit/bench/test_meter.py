"""The capacity-unit meter of the benchmarks (``bench/meter.py``): DynamoDB's size and rounding
rules, the index-copy rules, and the meter on real requests (moto)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from meter import (
    CapacityMeter,
    Charge,
    IndexDesign,
    TableDesign,
    item_bytes,
    read_units,
    refused_write_charge,
    units_by_target,
    value_bytes,
    write_charges,
    write_units,
)
from moto import mock_aws

DESIGN = TableDesign(
    name="orders",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        IndexDesign("byGroup", "group", "at", "ALL"),
        IndexDesign("byState", "state", None, "KEYS_ONLY"),
        IndexDesign("byGroupNote", "group", "at", "INCLUDE", frozenset({"note"})),
    ),
)


def s(text: str) -> dict[str, str]:
    return {"S": text}


def order(**attributes: str) -> dict[str, Any]:
    item = {"pk": s("p1"), "sk": s("s1"), "group": s("g1"), "at": s("2026-01-01")}
    return item | {name: s(value) for name, value in attributes.items()}


def charges_of(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Charge]:
    return write_charges(DESIGN, before, after, label="Orders", operation="UpdateItem", request=1)


def actions(charges: list[Charge]) -> list[tuple[str, str]]:
    return [(charge.target, charge.action) for charge in charges]


# --- sizes ------------------------------------------------------------------------------------


def test_a_string_counts_the_utf8_bytes_of_its_name_and_value() -> None:
    assert item_bytes({"name": s("é€")}) == 4 + 5


@pytest.mark.parametrize(
    ("number", "size"),
    [("7", 2), ("12", 2), ("123", 3), ("12345", 4), ("1000", 2), ("-0.00120", 2), ("0", 2)],
)
def test_a_number_takes_a_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert value_bytes({"N": number}) == size


def test_binary_counts_its_raw_bytes_whether_parsed_or_base64_on_the_wire() -> None:
    raw = bytes(range(10))

    assert value_bytes({"B": raw}) == 10
    assert value_bytes({"B": base64.b64encode(raw).decode()}) == 10


def test_booleans_and_nulls_take_one_byte() -> None:
    assert value_bytes({"BOOL": False}) == 1
    assert value_bytes({"NULL": True}) == 1


def test_lists_and_maps_take_three_bytes_plus_one_per_element() -> None:
    assert value_bytes({"L": []}) == 3
    assert value_bytes({"M": {}}) == 3
    assert value_bytes({"L": [s("ab"), {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_bytes({"M": {"key": s("v"), "n": {"M": {}}}}) == 3 + (1 + 3 + 1) + (1 + 1 + 3)


def test_sets_take_the_sizes_of_their_members() -> None:
    assert value_bytes({"SS": ["a", "bc"]}) == 3
    assert value_bytes({"NS": ["1", "12345"]}) == 2 + 4


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (1638, 2)])
def test_a_write_is_rounded_up_to_the_next_kilobyte(size: int, units: int) -> None:
    assert write_units(size) == units


def test_a_read_is_rounded_up_to_4kb_and_costs_half_when_eventually_consistent() -> None:
    assert read_units(0, consistent=True) == 1
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(4097, consistent=False) == 1
    assert read_units(100, consistent=False) == 0.5


# --- index copies -----------------------------------------------------------------------------


def test_a_new_item_puts_an_entry_in_each_index_whose_keys_it_has() -> None:
    assert actions(charges_of(None, order())) == [
        ("Orders", "put"),
        ("Orders/byGroup", "put"),
        ("Orders/byGroupNote", "put"),
    ]
    assert ("Orders/byState", "put") in actions(charges_of(None, order(state="NEW")))


def test_changing_an_index_key_deletes_the_old_entry_and_puts_the_new_one() -> None:
    charges = charges_of(order(state="NEW"), order(state="PAID"))

    assert actions(charges) == [
        ("Orders", "update"),
        ("Orders/byGroup", "update"),
        ("Orders/byState", "delete"),
        ("Orders/byState", "put"),
    ]
    old, new = (c for c in charges if c.index == "byState")
    assert (old.partition_key, new.partition_key) == ("NEW", "PAID")


def test_an_index_is_written_only_when_a_projected_attribute_changes() -> None:
    unprojected = charges_of(order(state="NEW", body="a"), order(state="NEW", body="b"))
    included = charges_of(order(state="NEW", note="a"), order(state="NEW", note="b"))
    unchanged = charges_of(order(state="NEW"), order(state="NEW"))

    assert actions(unprojected) == [("Orders", "update"), ("Orders/byGroup", "update")]
    assert actions(included) == [
        ("Orders", "update"),
        ("Orders/byGroup", "update"),
        ("Orders/byGroupNote", "update"),
    ]
    assert actions(unchanged) == [("Orders", "update")]


def test_removing_an_index_key_deletes_the_entry_and_an_index_without_it_costs_nothing() -> None:
    assert actions(charges_of(order(state="NEW"), order())) == [
        ("Orders", "update"),
        ("Orders/byGroup", "update"),
        ("Orders/byState", "delete"),
    ]
    assert "Orders/byState" not in units_by_target(charges_of(order(body="a"), order(body="b")))


def test_each_copy_is_sized_by_what_its_index_projects() -> None:
    big = order(state="NEW", body="x" * 3000)

    assert units_by_target(charges_of(None, big)) == {
        "Orders": 3,
        "Orders/byGroup": 3,
        "Orders/byState": 1,
        "Orders/byGroupNote": 1,
    }


def test_an_update_costs_the_larger_of_the_item_before_and_after() -> None:
    shrunk = charges_of(order(body="x" * 3000), order(body="x"))

    assert units_by_target(shrunk) == {"Orders": 3, "Orders/byGroup": 3}


def test_a_transaction_doubles_the_base_table_units_not_the_index_copies() -> None:
    charges = write_charges(
        DESIGN, None, order(), label="Orders", operation="TransactWriteItems", request=1,
        base_factor=2,
    )  # fmt: skip

    assert units_by_target(charges) == {"Orders": 2, "Orders/byGroup": 1, "Orders/byGroupNote": 1}


def test_a_refused_write_costs_one_unit_for_a_missing_item_else_the_larger_item() -> None:
    key = {"pk": s("p1"), "sk": s("s1")}

    def units(existing: dict[str, Any] | None, attempted: dict[str, Any] | None) -> float:
        return refused_write_charge(
            DESIGN, key, existing, attempted, label="Orders", operation="PutItem", request=1
        ).units

    assert units(None, order(body="x" * 3000)) == 1
    assert units(order(body="x" * 1500), None) == 2
    assert units(order(body="x" * 1500), order(body="x" * 2500)) == 3


def test_a_table_design_is_read_from_describe_table() -> None:
    description = {
        "TableName": "orders",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "byState",
                "KeySchema": [{"AttributeName": "state", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
            }
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": "byAt",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    }

    assert TableDesign.from_description(description) == TableDesign(
        "orders",
        "pk",
        "sk",
        (
            IndexDesign("byState", "state", None, "INCLUDE", frozenset({"note"})),
            IndexDesign("byAt", "pk", "at", "KEYS_ONLY", local=True),
        ),
    )


# --- the meter on real requests ---------------------------------------------------------------


@pytest.fixture
def metered(aws_environment: None) -> Iterator[tuple[Any, CapacityMeter]]:
    """A table with one ALL-projected index, an application client with the meter attached."""
    with mock_aws():
        reader = boto3.client("dynamodb", region_name="us-east-1")
        reader.create_table(
            TableName="orders",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "state", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "byState",
                    "KeySchema": [{"AttributeName": "state", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        meter = CapacityMeter(reader, {"orders": "Orders"})
        application = boto3.client("dynamodb", region_name="us-east-1")
        meter.attach(application)
        yield application, meter


def test_the_meter_charges_each_write_on_the_table_and_its_index(
    metered: tuple[Any, CapacityMeter],
) -> None:
    client, meter = metered

    client.put_item(TableName="orders", Item={"pk": s("a"), "state": s("NEW")})
    put = meter.take()
    client.update_item(
        TableName="orders",
        Key={"pk": s("a")},
        UpdateExpression="SET #state = :paid, body = :body",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":paid": s("PAID"), ":body": s("x" * 1500)},
    )
    update = meter.take()
    client.delete_item(TableName="orders", Key={"pk": s("a")})
    delete = meter.take()

    assert [(c.target, c.action, c.units, c.partition_key) for c in put] == [
        ("Orders", "put", 1, "a"),
        ("Orders/byState", "put", 1, "NEW"),
    ]
    assert [(c.target, c.action, c.units) for c in update] == [
        ("Orders", "update", 2),
        ("Orders/byState", "delete", 1),
        ("Orders/byState", "put", 2),
    ]
    assert units_by_target(delete) == {"Orders": 2, "Orders/byState": 2}


def test_a_write_refused_by_its_condition_is_charged_the_item_it_would_have_made(
    metered: tuple[Any, CapacityMeter],
) -> None:
    client, meter = metered
    client.put_item(TableName="orders", Item={"pk": s("a"), "state": s("NEW")})
    meter.take()

    for key in ("a", "missing"):
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.update_item(
                TableName="orders",
                Key={"pk": s(key)},
                UpdateExpression="SET body = :body",
                ConditionExpression="#state = :paid",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":paid": s("PAID"), ":body": s("x" * 2500)},
            )
    existing, missing = meter.take()

    assert (existing.action, existing.units, existing.index) == ("condition-failed", 3, None)
    assert (missing.action, missing.units) == ("condition-failed", 1)
    assert "body" not in client.get_item(TableName="orders", Key={"pk": s("a")})["Item"]


def test_batches_and_transactions_are_charged_item_by_item(
    metered: tuple[Any, CapacityMeter],
) -> None:
    client, meter = metered

    client.batch_write_item(
        RequestItems={
            "orders": [
                {"PutRequest": {"Item": {"pk": s("a"), "state": s("NEW")}}},
                {"PutRequest": {"Item": {"pk": s("b")}}},
            ]
        }
    )
    batch = meter.take()
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "orders", "Item": {"pk": s("c"), "state": s("NEW")}}},
            {"ConditionCheck": {
                "TableName": "orders", "Key": {"pk": s("a")},
                "ConditionExpression": "attribute_exists(pk)",
            }},
        ]
    )  # fmt: skip
    transaction = meter.take()

    assert [(c.target, c.partition_key, c.units) for c in batch] == [
        ("Orders", "a", 1),
        ("Orders/byState", "NEW", 1),
        ("Orders", "b", 1),
    ]
    assert [(c.target, c.action, c.units) for c in transaction] == [
        ("Orders", "put", 2),
        ("Orders/byState", "put", 1),
        ("Orders", "condition-check", 2),
    ]


def test_reads_are_charged_by_the_full_item_in_4kb_blocks(
    metered: tuple[Any, CapacityMeter],
) -> None:
    client, meter = metered
    client.put_item(TableName="orders", Item={"pk": s("a"), "body": s("x" * 5000)})
    meter.take()

    client.get_item(TableName="orders", Key={"pk": s("a")}, ProjectionExpression="pk")
    client.get_item(TableName="orders", Key={"pk": s("a")}, ConsistentRead=True)
    client.get_item(TableName="orders", Key={"pk": s("missing")})

    assert [(c.kind, c.units) for c in meter.take()] == [
        ("read", 1.0),
        ("read", 2.0),
        ("read", 0.5),
    ]
