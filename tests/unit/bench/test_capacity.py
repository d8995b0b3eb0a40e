"""The capacity model's arithmetic (``bench/capacity.py``): charges per notification → write
units per second on each partition key, and the limit met first."""

from __future__ import annotations

from capacity import PARTITION_WRITE_UNITS, row, target_loads
from meter import Charge


def write(target: str, key: str, units: float, sort_key: str | None = None) -> Charge:
    table, _, index = target.partition("/")
    return Charge(
        kind="write",
        table=table,
        index=index or None,
        partition_key=key,
        sort_key=sort_key,
        action="put",
        operation="UpdateItem",
        units=units,
        request=1,
    )


def notification(number: int, *, sort_key: str) -> list[Charge]:
    """One notification's writes: 4 units on the workflow's key of an index, 2 on a key of
    its own in another."""
    return [
        write("Records/byWorkflow", "wf", 4, sort_key),
        write("Records/byId", f"id-{number}", 2),
    ]


def test_a_shared_key_takes_its_share_of_the_rate_and_a_key_of_one_message_its_units() -> None:
    loads = target_loads([notification(n, sort_key=f"t{n}") for n in range(10)])
    shared, own = loads["Records/byWorkflow"], loads["Records/byId"]

    assert shared.units_per_notification == 4
    assert shared.hottest(1_000)[1] == 4_000
    assert shared.max_rate() == PARTITION_WRITE_UNITS / 4
    assert own.units_per_notification == 2
    assert own.hottest(1_000)[1] == 2
    assert own.max_rate() == float("inf")


def test_new_items_sort_keys_tell_whether_split_for_heat_could_spread_a_key() -> None:
    rising = target_loads([notification(n, sort_key=f"t{n}") for n in range(3)])
    shuffled = target_loads([notification(n, sort_key=f"t{2 - n}") for n in range(3)])

    assert rising["Records/byWorkflow"].sort_order == "increasing"
    assert shuffled["Records/byWorkflow"].sort_order == "spread"
    assert rising["Records/byId"].sort_order == "no sort key"


def test_a_row_names_the_limit_met_first() -> None:
    heavy = target_loads([[write("Records", "wf", 20, f"m{n}")] for n in range(4)])
    light = target_loads([[write("Records", f"wf-{n % 2}", 1, f"m{n}")] for n in range(4)])

    hot = row(heavy, 1_000, 1)
    calm = row(light, 10, 2)

    assert hot["limited_first_by"].startswith("Records key 'wf'")
    assert hot["limited_at_notifications_per_s"] == PARTITION_WRITE_UNITS / 20
    assert not hot["fits"]
    assert hot["hottest_partition_key"]["Records"]["write_units_per_s"] == 20_000
    assert calm["fits"]
    assert calm["limited_first_by"].startswith("stage throttle")
