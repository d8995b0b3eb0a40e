"""Capacity model: the write units per second on every DynamoDB partition key, and which limit
a rate of notifications meets first.

Notifications go through the real handlers on moto (the stack of ``bench/calls.py``), each
STANDARD notification end to end: the webhook's delivery (claim, StartExecution, mark RUNNING)
and the status function's SUCCEEDED event (the one the stack's rule forwards). The capacity meter
(``bench/meter.py``) records every write unit with the table or index and the partition key
value it lands on. From those charges the model takes, per table and index, the units each
partition key receives per notification, and scales them to 100, 1,000 and 10,000
notifications/s, for one workflow and spread evenly over 100 workflows. It measures whatever
``snsflow/store/tables.py`` defines (the tables are created from it and read back with
``DescribeTable``), so a run after a redesign of the tables gives the "after".

A partition key value is held to DynamoDB's per-partition limits, 1,000 write units/s and
3,000 read units/s [1]. Adaptive capacity gives a hot partition more of the table's capacity,
up to that per-partition maximum [1]. Split for heat can go further only by splitting one key's
items across partitions by sort key: that spreads writes whose sort keys are spread (random
message ids), but not writes that always land at the newest end of the key's range (an
increasing time), and it happens after sustained heat, not at once [2]. The model is
conservative: every partition key value is held to 1,000 write units/s, and the table says for
each index whether split for heat could help it. The other quotas are those of
docs/performance.md's capacity table, with its sources [3]. Reads on the delivery path are
cached per container (the registry for 30 s, keys for 5 s): they are not per notification and
are left out.

[1] https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html
[2] https://aws.amazon.com/blogs/database/part-3-scaling-dynamodb-how-partitions-hot-keys-and-split-for-heat-impact-performance/
[3] https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html,
    https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html,
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html

Usage: ``.venv/bin/python bench/capacity.py``; writes ``bench/results/capacity.json``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from calls import ORDER, Handlers, MotoStack, moto_stack, order_output, register_workflow
from common import (
    ROOT,
    design_commit,
    machine,
    previous_results,
    use_project_imports,
    write_results,
)
from meter import Charge, as_number

#: Notifications simulated per scenario; each workflow of the 100 gets the same share.
SIMULATED = 300
WORKFLOW_COUNTS = (1, 100)
RATES = (100, 1_000, 10_000)

#: DynamoDB's per-partition maximum (write units/s), applied to each partition key value.
PARTITION_WRITE_UNITS = 1_000
#: DynamoDB on-demand maximum per table by default (write units/s), taken here for the base
#: table and for each index alike.
TABLE_WRITE_UNITS = 40_000

SortOrder = Literal["increasing", "spread", "one item per key", "no sort key"]


@dataclass(frozen=True)
class Quota:
    """A limit on notifications/s other than DynamoDB's: ``limit`` of something per second (or
    at once, for concurrency), of which each notification needs ``per_notification``."""

    name: str
    limit: float
    per_notification: float
    #: Set by this stack's own configuration (as opposed to an AWS quota).
    stack_setting: bool
    source: str

    @property
    def max_rate(self) -> float:
        return self.limit / self.per_notification


def quotas() -> list[Quota]:
    """docs/performance.md's capacity table: us-east-1 defaults, and the stack's settings."""
    from infra.config import StackConfig

    stage = StackConfig.from_cdk_json().throttle_rate_limit
    return [
        Quota(
            f"stage throttle ({stage:,.0f} requests/s, throttleRateLimit)",
            stage,
            1,
            True,
            "cdk.json, infra/config.py",
        ),
        Quota(
            "StartExecution, STANDARD (300/s per account)",
            300,
            1,
            False,
            "Step Functions service quotas: StartExecution bucket 1,300, refill 300/s",
        ),
        Quota(
            "state transitions, STANDARD (5,000/s; 2 per run)",
            5_000,
            2,
            False,
            "Step Functions service quotas; the example workflow enters 2 states",
        ),
        Quota(
            "API Gateway, account (10,000 requests/s)",
            10_000,
            1,
            False,
            "API Gateway quotas",
        ),
        Quota(
            "Lambda concurrency (1,000; ~70 ms per notification)",
            1_000,
            0.070,
            False,
            "Lambda quotas; webhook 50 ms + authorizer 5 ms + 1 status event x 15 ms, the "
            "durations docs/performance.md assumes",
        ),
    ]


# --- the analysis: charges per notification -> load per partition key ------------------------


@dataclass(frozen=True)
class KeyLoad:
    partition_key: str
    #: Write units over the whole simulation.
    units: float
    #: How many simulated notifications wrote to the key.
    notifications: int


@dataclass(frozen=True)
class TargetLoad:
    """One table or index: its partition keys' loads over ``simulated`` notifications."""

    target: str
    simulated: int
    keys: tuple[KeyLoad, ...]
    sort_order: SortOrder

    @property
    def units_per_notification(self) -> float:
        return sum(key.units for key in self.keys) / self.simulated

    def key_rate(self, key: KeyLoad, rate: float) -> float:
        """Write units/s on ``key`` at ``rate`` notifications/s. A key that many notifications
        share takes its share of the rate; a key of one notification (an execution id) takes
        all of its units within a second at worst, whatever the rate."""
        if key.notifications <= 1:
            return key.units
        return key.units / self.simulated * rate

    def hottest(self, rate: float) -> tuple[KeyLoad, float]:
        rates = [(key, self.key_rate(key, rate)) for key in self.keys]
        return max(rates, key=lambda pair: pair[1])

    def max_rate(self) -> float:
        """The notifications/s at which the hottest shared key reaches the partition maximum
        (infinite when no key is shared)."""
        shared = [key.units for key in self.keys if key.notifications > 1]
        if not shared:
            return float("inf")
        return PARTITION_WRITE_UNITS * self.simulated / max(shared)


def target_loads(per_notification: Sequence[Sequence[Charge]]) -> dict[str, TargetLoad]:
    """Per table and index, the write units each partition key took over these notifications
    (one list of charges per notification), and how the sort keys of new items ran."""
    units: dict[str, dict[str, float]] = {}
    writers: dict[str, dict[str, set[int]]] = {}
    puts: dict[str, dict[str, list[str]]] = {}
    has_sort_key: dict[str, bool] = {}
    for number, charges in enumerate(per_notification):
        for charge in charges:
            if charge.kind != "write":
                continue
            target, key = charge.target, charge.partition_key
            units.setdefault(target, {})
            units[target][key] = units[target].get(key, 0) + charge.units
            writers.setdefault(target, {}).setdefault(key, set()).add(number)
            has_sort_key[target] = has_sort_key.get(target, False) or charge.sort_key is not None
            if charge.action == "put" and charge.sort_key is not None:
                puts.setdefault(target, {}).setdefault(key, []).append(charge.sort_key)
    return {
        target: TargetLoad(
            target,
            len(per_notification),
            tuple(
                KeyLoad(key, total, len(writers[target][key]))
                for key, total in sorted(by_key.items(), key=lambda pair: -pair[1])
            ),
            _sort_order(puts.get(target, {}), has_sort_key[target]),
        )
        for target, by_key in units.items()
    }


def _sort_order(puts_by_key: dict[str, list[str]], has_sort_key: bool) -> SortOrder:
    if not has_sort_key:
        return "no sort key"
    runs = [values for values in puts_by_key.values() if len(values) > 1]
    if not runs:
        return "one item per key"
    if all(values == sorted(values) for values in runs):
        return "increasing"
    return "spread"


#: Whether split for heat can spread a hot key's writes, by how new items' sort keys run:
#: a short answer and the reason.
SPLIT_FOR_HEAT: dict[SortOrder, tuple[str, str]] = {
    "increasing": ("no", "every new item lands at the newest end of the key's range"),
    "spread": ("perhaps", "new items spread over the key's range; after sustained heat only"),
    "one item per key": ("not needed", "one item per key"),
    "no sort key": ("not needed", "one item per key"),
}


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    name: str
    max_rate: float
    stack_setting: bool = False


def limits(loads: dict[str, TargetLoad]) -> list[Limit]:
    """Every limit on notifications/s for the spread over workflows that was simulated, lowest
    first (a table or index with no partition key shared by notifications has no per-key
    limit)."""
    found = [Limit(q.name, q.max_rate, q.stack_setting) for q in quotas()]
    for load in loads.values():
        if not math.isinf(load.max_rate()):
            hottest = max(load.keys, key=lambda key: key.units)
            found.append(
                Limit(
                    f"{load.target} key {hottest.partition_key!r} "
                    f"({PARTITION_WRITE_UNITS:,} WRU/s; split for heat: "
                    f"{SPLIT_FOR_HEAT[load.sort_order][0]})",
                    load.max_rate(),
                )
            )
        found.append(
            Limit(
                f"{load.target} on-demand maximum ({TABLE_WRITE_UNITS:,} WRU/s, adjustable)",
                TABLE_WRITE_UNITS / load.units_per_notification,
            )
        )
    return sorted(found, key=lambda limit: limit.max_rate)


def row(loads: dict[str, TargetLoad], rate: int, workflows: int) -> dict[str, Any]:
    every = limits(loads)
    first = every[0]
    beyond_stack = next(limit for limit in every if not limit.stack_setting)
    hottest = {}
    for target, load in loads.items():
        key, key_rate = load.hottest(rate)
        hottest[target] = {
            "partition_key": key.partition_key,
            "write_units_per_s": round(key_rate, 1),
            "of_partition_maximum": round(key_rate / PARTITION_WRITE_UNITS, 3),
            "all_keys_write_units_per_s": round(load.units_per_notification * rate, 1),
        }
    return {
        "notifications_per_s": rate,
        "workflows": workflows,
        "per_workflow_per_s": rate / workflows,
        "hottest_partition_key": hottest,
        "fits": rate <= first.max_rate,
        "limited_first_by": first.name,
        "limited_at_notifications_per_s": round(first.max_rate, 1),
        "first_limit_beyond_stack_settings": beyond_stack.name,
        "its_notifications_per_s": round(beyond_stack.max_rate, 1),
        "exceeded": [
            {"limit": limit.name, "max_notifications_per_s": round(limit.max_rate, 1)}
            for limit in every
            if limit.max_rate < rate
        ],
    }


# --- the simulation --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelledWrite:
    """A write each accepted notification will make to a table not measured here yet (another
    change adds it): ``units`` on the partition key ``key(workflow id, MessageId)``. Once the
    table exists, the meter measures it like the others and its entry here goes."""

    table: str
    units: float
    key: Callable[[str, str], str]
    note: str


#: The hook for tables other changes add, until they exist. Empty: the delivery log (1 item
#: under 1 KB per accepted delivery on ``<workflowId>#<shard>``, no index), modelled here
#: before it landed, is now measured like every other table.
MODELLED_WRITES: tuple[ModelledWrite, ...] = ()


def modelled_charges(workflow_id: str, message_id: str, at: str) -> list[Charge]:
    return [
        Charge(
            kind="write",
            table=write.table,
            index=None,
            partition_key=write.key(workflow_id, message_id),
            sort_key=at,
            action="put",
            operation="PutItem (modelled)",
            units=write.units,
            request=-1,
        )
        for write in MODELLED_WRITES
    ]


def simulate(stack: MotoStack, workflow_ids: Sequence[str]) -> list[list[Charge]]:
    """``SIMULATED`` accepted STANDARD notifications end to end, dealt round-robin over the
    workflows; the charges of each."""
    per_notification: list[list[Charge]] = []
    with Handlers(stack) as handlers:
        for number in range(SIMULATED):
            workflow_id = workflow_ids[number % len(workflow_ids)]
            body = handlers.signer.notification(json.dumps(ORDER), subject="Order paid")
            message_id = json.loads(body)["MessageId"]
            stack.meter.take()
            handlers.deliver(body, workflow_id)
            handlers.status(handlers.end_event(workflow_id, message_id, order_output(message_id)))
            at = f"{number:08d}"  # increasing, as a delivery log's times are
            per_notification.append(
                stack.meter.take() + modelled_charges(workflow_id, message_id, at)
            )
    return per_notification


def workflows_for(stack: MotoStack, count: int) -> list[str]:
    """``count`` workflows like the example ``order-events`` (ids of the same length)."""
    from snsflow.workflows import load_workflow

    if count == 1:
        return ["order-events"]
    example = load_workflow(ROOT / "workflows" / "order-events.json")
    ids = [f"order-ev-{n:03d}" for n in range(count)]
    for workflow_id in ids:
        register_workflow(stack, example.model_copy(update={"id": workflow_id}))
    return ids


def table_design(stack: MotoStack) -> dict[str, Any]:
    from snsflow.store.tables import EXECUTIONS

    design = stack.meter.design(os.environ[f"SNSFLOW_{EXECUTIONS.logical_name.upper()}_TABLE_NAME"])
    return {
        "partition_key": design.partition_key,
        "sort_key": design.sort_key,
        "indexes": {
            index.name: {
                "partition_key": index.partition_key,
                "sort_key": index.sort_key,
                "projection": index.projection,
                **(
                    {"non_key_attributes": sorted(index.non_key_attributes)}
                    if index.non_key_attributes
                    else {}
                ),
            }
            for index in design.indexes
        },
    }


def markdown_table(rows: Sequence[dict[str, Any]], targets: Sequence[str]) -> str:
    """The rows as a Markdown table: hottest partition key per table and index (write units/s,
    against the 1,000 of a partition), and the limits met first."""
    lines = [
        "| notifications/s | workflows | "
        + " | ".join(f"{target}: hottest key, WRU/s" for target in targets)
        + " | limited first by | first limit beyond the stack's settings |",
        "|---:|---:|" + "---:|" * len(targets) + "---|---|",
    ]
    for line in rows:
        cells = []
        for target in targets:
            hottest = line["hottest_partition_key"][target]
            rate = hottest["write_units_per_s"]
            mark = " **hot**" if rate > PARTITION_WRITE_UNITS else ""
            cells.append(f"{rate:,.0f}{mark}")
        lines.append(
            f"| {line['notifications_per_s']:,} | {line['workflows']} | "
            + " | ".join(cells)
            + f" | {line['limited_first_by']}: {line['limited_at_notifications_per_s']:,.0f}/s"
            f" | {line['first_limit_beyond_stack_settings']}: "
            f"{line['its_notifications_per_s']:,.0f}/s |"
        )
    return "\n".join(lines)


def main() -> int:
    use_project_imports()
    scenarios: dict[int, dict[str, TargetLoad]] = {}
    with moto_stack() as stack:
        design = table_design(stack)
        for count in WORKFLOW_COUNTS:
            scenarios[count] = target_loads(simulate(stack, workflows_for(stack, count)))
    rows = [row(scenarios[count], rate, count) for count in WORKFLOW_COUNTS for rate in RATES]
    targets = list(scenarios[1])
    print(f"executions table design: {json.dumps(design)}")
    for count, loads in scenarios.items():
        print(f"\n{count} workflow(s), {SIMULATED} notifications simulated:")
        for load in loads.values():
            hottest = max(load.keys, key=lambda key: key.units)
            print(
                f"  {load.target:<28} {as_number(round(load.units_per_notification, 2)):>5} WRU"
                f"/notification; hottest key {hottest.partition_key!r} "
                f"{round(hottest.units / SIMULATED, 2)}/notification; sort keys {load.sort_order}"
            )
    print()
    print(markdown_table(rows, targets))
    summary = {
        f"{count} workflow(s)": {
            target: {
                "write_units_per_notification": as_number(round(load.units_per_notification, 3)),
                "partition_keys": len(load.keys),
                "hottest_keys": [
                    {
                        "partition_key": key.partition_key,
                        "write_units_per_notification": round(key.units / SIMULATED, 3),
                        "notifications": key.notifications,
                    }
                    for key in load.keys[:3]
                ],
                "sort_keys_of_new_items": load.sort_order,
                "split_for_heat_helps": ": ".join(SPLIT_FOR_HEAT[load.sort_order]),
                # None: no partition key is shared by notifications (one per message).
                "max_notifications_per_s_before_a_hot_key": (
                    None if math.isinf(load.max_rate()) else round(load.max_rate(), 1)
                ),
            }
            for target, load in loads.items()
        }
        for count, loads in scenarios.items()
    }
    kept = previous_results("capacity").get("before")
    before = kept or {
        "design_commit": design_commit(),
        "measured_on": datetime.now(UTC).date().isoformat(),
        "rows": [
            {
                key: line[key]
                for key in (
                    "notifications_per_s",
                    "workflows",
                    "limited_first_by",
                    "limited_at_notifications_per_s",
                    "first_limit_beyond_stack_settings",
                    "its_notifications_per_s",
                )
            }
            for line in rows
        ],
    }
    write_results(
        "capacity",
        {
            "benchmark": "capacity model: write units/s per DynamoDB partition key against the "
            "per-partition maximum, and the first limit met (moto, real handlers, bench/meter.py)",
            "machine": machine(),
            "design_commit": design_commit(),
            "executions_table": design,
            "simulated_notifications_per_scenario": SIMULATED,
            "partition_write_units_per_s": PARTITION_WRITE_UNITS,
            "table_write_units_per_s": TABLE_WRITE_UNITS,
            "quotas": [
                {
                    "name": q.name,
                    "max_notifications_per_s": q.max_rate,
                    "stack_setting": q.stack_setting,
                    "source": q.source,
                }
                for q in quotas()
            ],
            "scenarios": summary,
            "rows": rows,
            "before": before,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
