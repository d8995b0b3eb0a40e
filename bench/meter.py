"""The DynamoDB capacity units the real handlers' requests are charged: a meter.

It hooks the botocore clients the handlers use (``before-call`` and ``after-call``) and, for
every write, computes the write request units DynamoDB charges on the base table and on every
secondary-index copy the write causes. It reads the table's key schema and projections with
``DescribeTable`` and the item as it is before and after the write with ``GetItem``, through a
client of its own that is not hooked (the meter never meters itself). It knows nothing of
snsflow's tables: whatever ``snsflow/store/tables.py`` defines is what it measures. Each unit
is recorded with its table, index, partition key value and operation, so that the capacity
model (``bench/capacity.py``) sees where units land, not only how many.

DynamoDB's rules, as applied here:

1. Item size [1]: the sum, over attributes, of the name's UTF-8 length plus the value's size.
   String: its UTF-8 length. Binary: its raw length. Number: about one byte per two
   significant digits (leading and trailing zeros trimmed) plus one. Boolean and null: one
   byte. List and map: three bytes, plus one byte and the size of each element (a map element
   also counts its name). Sets: the sizes of their elements.
2. Write units [2]: one per 1 KB, the size rounded up per item and per write (a 1.6 KB item
   costs 2), at least 1. PutItem: the larger of the item it replaces and the new one.
   UpdateItem: the larger of the item before and after, however little changes. DeleteItem:
   the deleted item (1 when there was none). BatchWriteItem: each put or delete on its own.
3. A conditional write whose condition fails still consumes write units [2]: 1 when the item
   does not exist, else the size of the item — taken here as the larger of the existing item
   and the one the write would have made (found by applying the same write, without its
   condition, to a copy in a scratch table). No index is written.
4. Secondary-index copies [3]: a write that gives an item an index's key attributes puts its
   entry (one write); one that changes an index key value deletes the old entry and puts the
   new (two writes); one that removes the key deletes the entry (one write); one that changes
   only projected non-key attributes updates the entry (one write); when the entry does not
   change — not in the index before or after, or no projected attribute changed — the index
   is not written. Each write is sized by the index entry (the table's key, the index key and
   the projected attributes [4]) and rounded up to 1 KB; an entry update is charged the larger
   of before and after, as UpdateItem is. The 100 bytes per index entry in [4] are storage
   overhead, not counted in writes. Local secondary indexes follow the same rules [5].
5. Transactions [6]: DynamoDB makes two underlying writes of every item, to prepare and to
   commit, so each TransactWriteItems action costs twice its base-table units (a
   ConditionCheck twice the units of the item it checks, 2 when absent); index copies cost
   what they cost outside a transaction, as measured against DynamoDB by [7]. A cancelled
   transaction is assumed to cost its prepare phase (each action once, no index copy): not
   documented.
6. Reads [2]: one unit per 4 KB for a strongly consistent read, half for an eventually
   consistent one. GetItem and BatchGetItem: each item on its own, from its full size whatever
   attributes were asked for (a missing item costs the minimum). Query and Scan: the sum of the
   items returned, rounded up once — a lower bound when the request filters or projects.

[1] https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
[2] https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
    (capacity unit consumption for read and for write operations, conditional writes)
[3] https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html
    (provisioned throughput considerations: write capacity units)
[4] the same page: storage considerations for global secondary indexes
[5] https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/LSI.html
    (provisioned throughput considerations: write capacity units)
[6] https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html
    (capacity management for transactions)
[7] https://github.com/nubo-db/dynoxide/pull/188 (a DynamoDB emulator's capacity figures,
    checked against DynamoDB: the transactional factor applies to the base table alone)
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_dynamodb import DynamoDBClient

#: Bytes per write request unit and per read request unit.
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4 * 1024

Item = Mapping[str, Any]
"""An item in DynamoDB's typed form (``{"name": {"S": "value"}}``), as the low-level client
parses it (binary as ``bytes``) or as the wire carries it (binary as base64 text)."""

WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


# --- sizes and units -------------------------------------------------------------------------


def _binary_bytes(data: bytes | str) -> int:
    return len(data) if isinstance(data, bytes) else len(base64.b64decode(data))


def _number_bytes(text: str) -> int:
    try:
        significant = len(Decimal(text).normalize().as_tuple().digits)
    except InvalidOperation:  # not a number DynamoDB would accept: count its digits
        significant = sum(c.isdigit() for c in text)
    significant = max(significant, 1)
    return math.ceil(significant / 2) + 1


def value_bytes(value: Mapping[str, Any]) -> int:
    """The size of one typed attribute value, without its name."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        return _number_bytes(str(data))
    if kind == "B":
        return _binary_bytes(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(member).encode("utf-8")) for member in data)
    if kind == "NS":
        return sum(_number_bytes(str(member)) for member in data)
    if kind == "BS":
        return sum(_binary_bytes(member) for member in data)
    if kind == "L":
        return 3 + sum(1 + value_bytes(member) for member in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + value_bytes(v) for name, v in data.items())
    raise ValueError(f"not a DynamoDB attribute value type: {kind!r}")


def item_bytes(item: Item) -> int:
    """DynamoDB's size of an item: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + value_bytes(value) for name, value in item.items())


def write_units(size_bytes: int) -> int:
    """Write request units of one write of an item this large (rounded up to 1 KB, at least 1)."""
    return max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES))


def read_units(size_bytes: int, *, consistent: bool) -> float:
    """Read request units of reading this many bytes (rounded up to 4 KB, at least one block);
    an eventually consistent read costs half."""
    blocks = max(1, math.ceil(size_bytes / READ_UNIT_BYTES))
    return float(blocks) if consistent else blocks / 2


def key_text(value: Mapping[str, Any]) -> str:
    """A key attribute value as text (numbers as written, binary as base64)."""
    ((kind, data),) = value.items()
    if kind == "B" and isinstance(data, bytes):
        return base64.b64encode(data).decode("ascii")
    return str(data)


# --- table designs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexDesign:
    name: str
    partition_key: str
    sort_key: str | None
    #: ``ALL``, ``KEYS_ONLY`` or ``INCLUDE``.
    projection: str
    non_key_attributes: frozenset[str] = frozenset()
    local: bool = False

    @property
    def key_attributes(self) -> tuple[str, ...]:
        return (
            (self.partition_key,) if self.sort_key is None else (self.partition_key, self.sort_key)
        )


@dataclass(frozen=True)
class TableDesign:
    """What decides a write's cost: the keys and, per index, its key and projection."""

    name: str
    partition_key: str
    sort_key: str | None
    indexes: tuple[IndexDesign, ...] = ()

    @property
    def key_attributes(self) -> tuple[str, ...]:
        return (
            (self.partition_key,) if self.sort_key is None else (self.partition_key, self.sort_key)
        )

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> TableDesign:
        """From ``DescribeTable``'s ``Table``."""

        def keys(schema: Sequence[Mapping[str, str]]) -> tuple[str, str | None]:
            by_type = {element["KeyType"]: element["AttributeName"] for element in schema}
            return by_type["HASH"], by_type.get("RANGE")

        indexes = []
        for kind, local in (("GlobalSecondaryIndexes", False), ("LocalSecondaryIndexes", True)):
            for index in table.get(kind, []):
                partition_key, sort_key = keys(index["KeySchema"])
                projection = index.get("Projection", {})
                indexes.append(
                    IndexDesign(
                        name=index["IndexName"],
                        partition_key=partition_key,
                        sort_key=sort_key,
                        projection=projection.get("ProjectionType", "ALL"),
                        non_key_attributes=frozenset(projection.get("NonKeyAttributes", ())),
                        local=local,
                    )
                )
        partition_key, sort_key = keys(table["KeySchema"])
        return cls(table["TableName"], partition_key, sort_key, tuple(indexes))

    def key_of(self, item: Item) -> dict[str, Any]:
        return {name: item[name] for name in self.key_attributes}

    def entry(self, index: IndexDesign, item: Item | None) -> dict[str, Any] | None:
        """The item's entry in ``index`` (what the index stores), or None when it has none."""
        if item is None or any(name not in item for name in index.key_attributes):
            return None
        if index.projection == "ALL":
            return dict(item)
        kept = set(self.key_attributes) | set(index.key_attributes)
        if index.projection == "INCLUDE":
            kept |= index.non_key_attributes
        return {name: value for name, value in item.items() if name in kept}


# --- charges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Charge:
    """Capacity units consumed on one table or index by one request."""

    kind: Literal["write", "read"]
    #: The table's label (its logical name where the meter was given one).
    table: str
    #: None for the base table.
    index: str | None
    #: The partition key value the units land on (of the index, for an index copy).
    partition_key: str
    #: The sort key value of the item or entry written, where the table or index has one.
    sort_key: str | None
    #: ``put``, ``update``, ``delete``, ``condition-failed``, ``condition-check``, ``read``.
    action: str
    operation: str
    units: float
    #: Numbers the metered requests: charges of one request share it.
    request: int

    @property
    def target(self) -> str:
        """``Table`` or ``Table/index``."""
        return self.table if self.index is None else f"{self.table}/{self.index}"


def _charge_entry(
    *,
    table: str,
    index: IndexDesign | None,
    entry: Item,
    partition_key: str,
    sort_key: str | None,
    action: str,
    operation: str,
    units: float,
    request: int,
) -> Charge:
    return Charge(
        kind="write",
        table=table,
        index=None if index is None else index.name,
        partition_key=key_text(entry[partition_key]),
        sort_key=key_text(entry[sort_key]) if sort_key is not None and sort_key in entry else None,
        action=action,
        operation=operation,
        units=units,
        request=request,
    )


def write_charges(
    design: TableDesign,
    before: Item | None,
    after: Item | None,
    *,
    label: str,
    operation: str,
    request: int,
    base_factor: int = 1,
) -> list[Charge]:
    """The units of one successful write that turned ``before`` into ``after`` (None: absent):
    the base table's, times ``base_factor`` (2 in a transaction), and each index copy's."""
    image = after if after is not None else before
    if image is None:  # a delete of an item that was not there
        return []
    base_action = "put" if before is None else "delete" if after is None else "update"
    base_size = max(item_bytes(before or {}), item_bytes(after or {}))
    charges = [
        _charge_entry(
            table=label,
            index=None,
            entry=image,
            partition_key=design.partition_key,
            sort_key=design.sort_key,
            action=base_action,
            operation=operation,
            units=write_units(base_size) * base_factor,
            request=request,
        )
    ]
    for index in design.indexes:
        old, new = design.entry(index, before), design.entry(index, after)
        if old == new:
            continue
        moves: list[tuple[str, Item, int]] = []
        if old is not None and (new is None or _index_key(index, old) != _index_key(index, new)):
            moves.append(("delete", old, item_bytes(old)))
            old = None
        if new is not None:
            if old is None:
                moves.append(("put", new, item_bytes(new)))
            else:
                moves.append(("update", new, max(item_bytes(old), item_bytes(new))))
        for action, entry, size in moves:
            charges.append(
                _charge_entry(
                    table=label,
                    index=index,
                    entry=entry,
                    partition_key=index.partition_key,
                    sort_key=index.sort_key,
                    action=action,
                    operation=operation,
                    units=write_units(size),
                    request=request,
                )
            )
    return charges


def _index_key(index: IndexDesign, entry: Item) -> tuple[Any, ...]:
    return tuple(
        json.dumps(entry[name], sort_keys=True, default=str) for name in index.key_attributes
    )


def refused_write_charge(
    design: TableDesign,
    key: Item,
    existing: Item | None,
    attempted: Item | None,
    *,
    label: str,
    operation: str,
    request: int,
    action: str = "condition-failed",
    factor: int = 1,
) -> Charge:
    """The units of a write refused by its condition (rule 3), or of a transaction's
    ConditionCheck (rule 5): base table only."""
    if existing is None:
        units = 1
    else:
        units = write_units(max(item_bytes(existing), item_bytes(attempted or {})))
    return _charge_entry(
        table=label,
        index=None,
        entry=key,
        partition_key=design.partition_key,
        sort_key=design.sort_key,
        action=action,
        operation=operation,
        units=units * factor,
        request=request,
    )


def total_units(charges: Iterable[Charge], kind: Literal["write", "read"] = "write") -> float:
    return sum(charge.units for charge in charges if charge.kind == kind)


def units_by_target(
    charges: Iterable[Charge], kind: Literal["write", "read"] = "write"
) -> dict[str, float]:
    """Units per ``Table`` / ``Table/index``, in the order first charged."""
    totals: dict[str, float] = {}
    for charge in charges:
        if charge.kind == kind:
            totals[charge.target] = totals.get(charge.target, 0) + charge.units
    return totals


def as_number(units: float) -> int | float:
    """Whole units as an int (for JSON and printing); halves (reads) stay floats."""
    return int(units) if float(units).is_integer() else units


# --- the meter -------------------------------------------------------------------------------

_PENDING = "capacity-meter"


@dataclass
class _Pending:
    operation: str
    body: dict[str, Any]
    #: (table name, key) of every item the request writes, and their images before it.
    targets: list[tuple[str, dict[str, Any]]]
    before: list[dict[str, Any] | None]
    request: int


@dataclass
class CapacityMeter:
    """Records the capacity units of every request made through the clients it is attached to.

    ``reader`` is a client of the meter's own (not attached) on the same endpoint; ``labels``
    names tables in the charges (e.g. by their logical names); ``take`` hands out what was
    recorded since the last take.
    """

    reader: DynamoDBClient
    labels: Mapping[str, str] = field(default_factory=dict)
    charges: list[Charge] = field(default_factory=list)
    _designs: dict[str, TableDesign] = field(default_factory=dict)
    _scratch: dict[str, str] = field(default_factory=dict)
    _requests: int = 0

    def attach(self, client: BaseClient) -> None:
        client.meta.events.register("before-call.dynamodb", self._before_call)
        # First: boto3's resource layer turns typed values into Python ones in an after-call
        # handler of its own; the meter sizes the typed values, as DynamoDB returned them.
        client.meta.events.register_first("after-call.dynamodb", self._after_call)

    def take(self) -> list[Charge]:
        taken, self.charges = self.charges, []
        return taken

    def design(self, table_name: str) -> TableDesign:
        name = _table_name(table_name)
        if name not in self._designs:
            description = self.reader.describe_table(TableName=name)["Table"]
            self._designs[name] = TableDesign.from_description(description)
        return self._designs[name]

    # botocore hooks ------------------------------------------------------------------------

    def _before_call(self, model: Any, params: Mapping[str, Any], context: Any, **_: Any) -> None:
        operation = model.name
        if operation not in WRITE_OPERATIONS | READ_OPERATIONS:
            return
        body = json.loads(params["body"])
        self._requests += 1
        targets = self._written_items(operation, body) if operation in WRITE_OPERATIONS else []
        before = [self._read(table, key) for table, key in targets]
        context[_PENDING] = _Pending(operation, body, targets, before, self._requests)

    def _after_call(
        self, http_response: Any, parsed: Mapping[str, Any], context: Any, **_: Any
    ) -> None:
        pending: _Pending | None = context.pop(_PENDING, None)
        if pending is None:  # not metered, or answered before it was sent (an injected fault)
            return
        if http_response.status_code < 300:
            if pending.operation in WRITE_OPERATIONS:
                self._charge_writes(pending, parsed)
            else:
                self._charge_reads(pending, parsed)
            return
        code = parsed.get("Error", {}).get("Code")
        if code == "ConditionalCheckFailedException":
            self._charge_refused(pending)
        elif code == "TransactionCanceledException":
            self._charge_cancelled(pending)
        # Anything else (throttling, validation...) wrote nothing that is charged.

    # writes --------------------------------------------------------------------------------

    def _written_items(self, operation: str, body: Mapping[str, Any]) -> list[tuple[str, Any]]:
        if operation == "PutItem":
            return [(body["TableName"], self.design(body["TableName"]).key_of(body["Item"]))]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(body["TableName"], body["Key"])]
        if operation == "BatchWriteItem":
            targets = []
            for table, requests in body["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        key = self.design(table).key_of(request["PutRequest"]["Item"])
                    else:
                        key = request["DeleteRequest"]["Key"]
                    targets.append((table, key))
            return targets
        # TransactWriteItems
        targets = []
        for action in body["TransactItems"]:
            ((kind, request),) = action.items()
            key = (
                self.design(request["TableName"]).key_of(request["Item"])
                if kind == "Put"
                else request["Key"]
            )
            targets.append((request["TableName"], key))
        return targets

    def _charge_writes(self, pending: _Pending, parsed: Mapping[str, Any]) -> None:
        unprocessed = parsed.get("UnprocessedItems", {})
        kinds = (
            [next(iter(action)) for action in pending.body["TransactItems"]]
            if pending.operation == "TransactWriteItems"
            else ["Write"] * len(pending.targets)
        )
        for (table, key), before, kind in zip(pending.targets, pending.before, kinds, strict=True):
            if _is_unprocessed(unprocessed.get(table, ()), key):
                continue
            design, label = self.design(table), self._label(table)
            if kind == "ConditionCheck":
                self.charges.append(
                    refused_write_charge(
                        design,
                        key,
                        before,
                        None,
                        label=label,
                        operation=pending.operation,
                        request=pending.request,
                        action="condition-check",
                        factor=2,
                    )
                )
                continue
            after = self._read(table, key)
            factor = 2 if pending.operation == "TransactWriteItems" else 1
            if before is None and after is None:  # deleting an item that is not there
                self.charges.append(
                    refused_write_charge(
                        design,
                        key,
                        None,
                        None,
                        label=label,
                        operation=pending.operation,
                        request=pending.request,
                        action="delete",
                        factor=factor,
                    )
                )
                continue
            self.charges += write_charges(
                design,
                before,
                after,
                label=label,
                operation=pending.operation,
                request=pending.request,
                base_factor=factor,
            )

    def _charge_refused(self, pending: _Pending) -> None:
        ((table, key),) = pending.targets
        (before,) = pending.before
        if pending.operation == "PutItem":
            attempted: dict[str, Any] | None = pending.body["Item"]
        elif pending.operation == "UpdateItem" and before is not None:
            attempted = self._update_without_condition(table, before, pending.body)
        else:
            attempted = None
        self.charges.append(
            refused_write_charge(
                self.design(table),
                key,
                before,
                attempted,
                label=self._label(table),
                operation=pending.operation,
                request=pending.request,
            )
        )

    def _charge_cancelled(self, pending: _Pending) -> None:
        for (table, key), before in zip(pending.targets, pending.before, strict=True):
            self.charges.append(
                refused_write_charge(
                    self.design(table),
                    key,
                    before,
                    None,
                    label=self._label(table),
                    operation=pending.operation,
                    request=pending.request,
                )
            )

    def _update_without_condition(
        self, table: str, before: dict[str, Any], body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The item a refused UpdateItem would have made: the same update, unconditional, on a
        copy of the item in a scratch table of the same key schema."""
        scratch = self._scratch_table(table)
        self.reader.put_item(TableName=scratch, Item=before)
        expression = str(body.get("UpdateExpression", ""))
        request: dict[str, Any] = {
            "TableName": scratch,
            "Key": _to_client(body["Key"]),
            "UpdateExpression": expression,
        }
        for parameter, placeholders in (
            ("ExpressionAttributeNames", body.get("ExpressionAttributeNames", {})),
            ("ExpressionAttributeValues", _to_client(body.get("ExpressionAttributeValues", {}))),
        ):
            # Placeholders only the condition used would be refused as unused.
            used = {name: v for name, v in placeholders.items() if _uses(expression, name)}
            if used:
                request[parameter] = used
        try:
            self.reader.update_item(**request)
            return self._read(scratch, body["Key"])
        except self.reader.exceptions.ClientError:
            return before
        finally:
            self.reader.delete_item(TableName=scratch, Key=_to_client(body["Key"]))

    def _scratch_table(self, table: str) -> str:
        name = _table_name(table)
        if name not in self._scratch:
            description = self.reader.describe_table(TableName=name)["Table"]
            key_names = {element["AttributeName"] for element in description["KeySchema"]}
            scratch = f"{name}.meter-scratch"
            self.reader.create_table(
                TableName=scratch,
                KeySchema=description["KeySchema"],
                AttributeDefinitions=[
                    d
                    for d in description["AttributeDefinitions"]
                    if d["AttributeName"] in key_names
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            self._scratch[name] = scratch
        return self._scratch[name]

    # reads ---------------------------------------------------------------------------------

    def _charge_reads(self, pending: _Pending, parsed: Mapping[str, Any]) -> None:
        body, operation = pending.body, pending.operation
        if operation == "GetItem":
            self._charge_item_read(
                body["TableName"], body["Key"], body.get("ConsistentRead", False), pending
            )
        elif operation == "BatchGetItem":
            for table, request in body["RequestItems"].items():
                for key in request["Keys"]:
                    self._charge_item_read(
                        table, key, request.get("ConsistentRead", False), pending
                    )
        elif operation == "TransactGetItems":
            for action in body["TransactItems"]:
                request = action["Get"]
                self._charge_item_read(request["TableName"], request["Key"], True, pending, 2)
        else:  # Query, Scan
            self._charge_collection_read(pending, parsed)

    def _charge_item_read(
        self,
        table: str,
        key: Item,
        consistent: bool,
        pending: _Pending,
        factor: int = 1,
    ) -> None:
        design = self.design(table)
        item = self._read(table, key)
        units = read_units(item_bytes(item) if item else 0, consistent=consistent) * factor
        self.charges.append(
            Charge(
                kind="read",
                table=self._label(table),
                index=None,
                partition_key=key_text(key[design.partition_key]),
                sort_key=key_text(key[design.sort_key]) if design.sort_key else None,
                action="read",
                operation=pending.operation,
                units=units,
                request=pending.request,
            )
        )

    def _charge_collection_read(self, pending: _Pending, parsed: Mapping[str, Any]) -> None:
        body = pending.body
        design = self.design(body["TableName"])
        index_name = body.get("IndexName")
        partition_key = design.partition_key
        for index in design.indexes:
            if index.name == index_name:
                partition_key = index.partition_key
        items = parsed.get("Items", [])
        size = sum(item_bytes(item) for item in items)
        where = key_text(items[0][partition_key]) if items and partition_key in items[0] else ""
        self.charges.append(
            Charge(
                kind="read",
                table=self._label(body["TableName"]),
                index=index_name,
                partition_key=where if pending.operation == "Query" else "(scan)",
                sort_key=None,
                action="read",
                operation=pending.operation,
                units=read_units(size, consistent=body.get("ConsistentRead", False)),
                request=pending.request,
            )
        )

    # helpers -------------------------------------------------------------------------------

    def _read(self, table: str, key: Item) -> dict[str, Any] | None:
        response = self.reader.get_item(
            TableName=_table_name(table), Key=_to_client(key), ConsistentRead=True
        )
        item = response.get("Item")
        return dict(item) if item is not None else None

    def _label(self, table: str) -> str:
        name = _table_name(table)
        return self.labels.get(name, name)


def _table_name(name_or_arn: str) -> str:
    """A table name from a name or a table ARN (``arn:...:table/<name>``)."""
    return name_or_arn.split(":table/", 1)[1] if ":table/" in name_or_arn else name_or_arn


def _uses(expression: str, placeholder: str) -> bool:
    return re.search(re.escape(placeholder) + r"(?![A-Za-z0-9_])", expression) is not None


def _is_unprocessed(requests: Iterable[Mapping[str, Any]], key: Item) -> bool:
    for request in requests:
        item = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get(
            "Key", {}
        )
        if all(name in item and item[name] == value for name, value in key.items()):
            return True
    return False


def _to_client(value: Any) -> Any:
    """Typed values as the wire carries them (binary as base64) → as a client takes them."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((kind, data),) = value.items()
            if kind == "B" and isinstance(data, str):
                return {"B": base64.b64decode(data)}
            if kind == "BS":
                return {"BS": [base64.b64decode(d) if isinstance(d, str) else d for d in data]}
            if kind in ("M", "L"):
                return {kind: _to_client(data)}
        return {name: _to_client(v) for name, v in value.items()}
    if isinstance(value, list):
        return [_to_client(v) for v in value]
    return value
