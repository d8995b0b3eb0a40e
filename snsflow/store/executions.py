"""Execution records: one item per (SNS MessageId, workflow) — the idempotency claim and the
record — and one beside it holding the execution input.

Only this module (and ``execution_queries`` beside it) reads or writes the executions table.
Every write that changes the status is conditional on the status it moves from, so a record
never goes backwards: ``RECEIVED`` → ``RUNNING`` → one terminal status, which is final for that
attempt. A redrive (Step Functions' RedriveExecution) starts a new attempt of the same execution:
the record counts attempts in ``redriveCount``, and a status of a newer attempt supersedes the
outcome of an older one, while a late status of an older attempt changes nothing.

The layout (``snsflow.store.tables.EXECUTIONS``) is chosen for write units: every write of an
item costs its whole size in 1 KB units, and every index entry it changes costs one more.

- Both are keyed ``recordKey`` = ``<workflowId>#<MessageId>``: every record's writes land on
  a key of its own, and IAM can still confine an EXPRESS workflow's role to its own records
  (``dynamodb:LeadingKeys`` like ``<workflowId>#*``).
- The record item (sort key: the workflow id) holds everything but the input, so the claim,
  the move to ``RUNNING``, the status events and every redelivery each rewrite well under 1 KB.
- The input item (sort key ``<workflowId>#input``) is written once, at the first delivery.
- ``workflowShard`` = ``<workflowId>#<shard>`` is set once: the ``byWorkflowShard`` index
  entry is never rewritten. ``statusShard`` = ``<workflowId>#OPEN#<shard>`` while the record is
  ``RECEIVED`` or ``RUNNING`` (the move between them rewrites no index), then
  ``<workflowId>#<status>#<shard>``. The shard spreads one workflow's index writes over
  :data:`INDEX_SHARDS` partition keys; readers query every shard in parallel and merge.
- The execution id is not stored: it is ``<workflowId>.<executionName>``.
- ``aliasExecutionId`` is set only when the execution name is not the MessageId (the sparse
  ``byExecutionId`` index); any other execution id names its record's key directly.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from snsflow.errors import DependencyUnavailableError
from snsflow.store.dynamodb import (
    dynamodb_errors,
    error_code,
    is_conditional_check_failure,
    parse_time,
    shard_key_condition,
)

# Re-exported: code outside the store formats query bounds with it.
from snsflow.store.dynamodb import format_time as format_time

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

#: DynamoDB's item size limit (attribute names plus values).
MAX_ITEM_BYTES = 400 * 1024
#: Room kept for every attribute of a record except the input, output, error and cause.
_ITEM_OVERHEAD_BYTES = 8 * 1024

BY_WORKFLOW_INDEX = "byWorkflowShard"
BY_STATUS_INDEX = "byStatusShard"
BY_EXECUTION_ID_INDEX = "byExecutionId"
#: How many partition keys one workflow's index entries are spread over. Part of the stored
#: layout: readers query each of them, so changing it re-keys every record (a migration).
INDEX_SHARDS = 8
#: The status group of ``RECEIVED`` and ``RUNNING`` records in ``byStatusShard``.
OPEN_GROUP = "OPEN"
_INPUT_SUFFIX = "#input"
#: DynamoDB's limit on keys per BatchGetItem.
_BATCH_GET_KEYS = 100
#: How often keys a BatchGetItem left unprocessed (throttled, or past its 16 MB) are asked for
#: again, after pauses doubling from the first: about 1.5 s in all, then a 503 to retry.
_BATCH_GET_RETRIES = 5
_BATCH_GET_FIRST_PAUSE_SECONDS = 0.05


class ExecutionStatus(StrEnum):
    RECEIVED = "RECEIVED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"

    @property
    def is_terminal(self) -> bool:
        return self not in (ExecutionStatus.RECEIVED, ExecutionStatus.RUNNING)

    @property
    def predecessors(self) -> tuple[ExecutionStatus, ...]:
        """The statuses a record may move to this one from (never backwards, never sideways
        between terminal statuses)."""
        if self is ExecutionStatus.RECEIVED:
            return ()
        if self is ExecutionStatus.RUNNING:
            return (ExecutionStatus.RECEIVED,)
        return (ExecutionStatus.RECEIVED, ExecutionStatus.RUNNING)


#: The outcomes Step Functions can redrive an execution from.
REDRIVABLE_STATUSES = (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED)


def detail_budget_bytes(input_bytes: int) -> int:
    """How many bytes the output, error and cause of a record may take together."""
    return MAX_ITEM_BYTES - _ITEM_OVERHEAD_BYTES - input_bytes


class ExecutionClaim(BaseModel):
    """What the first delivery of a message writes."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    message_id: str
    execution_id: str
    execution_name: str
    topic_arn: str
    subject: str | None
    #: The SNS ``Timestamp`` string, as signed.
    message_timestamp: str
    #: The execution input (JSON text), kept so that any later start sends exactly the same.
    input: str
    received_at: datetime
    expires_at: datetime
    #: An EXPRESS run records its own outcome (``run_outcome_request``): the claim then keeps
    #: the index keys of each outcome, which a run cannot compute.
    express: bool = False


class RecoveryNote(BaseModel):
    """What ``snsflow recover`` did with a copy of the message from a dead-letter queue: who
    (an operator's identity, never a secret), when, and whether it started the record or found
    it there already."""

    model_config = ConfigDict(frozen=True)

    by: str
    at: datetime
    outcome: Literal["recovered", "duplicate"]
    #: The queue (URL) the copy came from, and its SQS MessageId.
    queue: str
    sqs_message_id: str

    def to_item(self) -> dict[str, str]:
        return {
            "by": self.by,
            "at": format_time(self.at),
            "outcome": self.outcome,
            "queue": self.queue,
            "sqsMessageId": self.sqs_message_id,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RecoveryNote:
        return cls(
            by=item["by"],
            at=parse_time(item["at"]),
            outcome=item["outcome"],
            queue=item["queue"],
            sqs_message_id=item["sqsMessageId"],
        )


class ActionNote(BaseModel):
    """An action taken on the execution through the API: who (the key's name, never the key),
    when, what, and the Idempotency-Key it came with (a digest, see ``snsflow.actions``)."""

    model_config = ConfigDict(frozen=True)

    action: Literal["redrive", "rerun"]
    by: str
    at: datetime
    #: ``rerun``: the execution id of the new run.
    execution_id: str | None = None
    #: ``redrive``: the attempt it started (1 for the first redrive).
    redrive_count: int | None = None
    request_key: str | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"action": self.action, "by": self.by, "at": format_time(self.at)}
        for name, value in (
            ("executionId", self.execution_id),
            ("redriveCount", self.redrive_count),
            ("requestKey", self.request_key),
        ):
            if value is not None:
                item[name] = value
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ActionNote:
        count = item.get("redriveCount")
        return cls(
            action=item["action"],
            by=item["by"],
            at=parse_time(item["at"]),
            execution_id=item.get("executionId"),
            redrive_count=int(count) if count is not None else None,
            request_key=item.get("requestKey"),
        )


class ExecutionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_id: str
    message_id: str
    execution_id: str
    execution_name: str
    status: ExecutionStatus
    topic_arn: str
    subject: str | None = None
    message_timestamp: str
    #: The execution input; empty on a record read by a listing (which reads no input).
    input: str
    received_at: datetime
    expires_at: datetime
    deliveries: int
    execution_arn: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    output: str | None = None
    output_truncated: bool = False
    error: str | None = None
    cause: str | None = None
    cause_truncated: bool = False
    #: Why the last attempt to start the execution failed (cleared once it runs).
    last_start_error: str | None = None
    #: Each time ``snsflow recover`` brought a dead-letter copy of the message here.
    recoveries: tuple[RecoveryNote, ...] = ()
    #: A re-run: the execution id of the execution it re-runs (always a first run).
    rerun_of: str | None = None
    #: The execution ids of this execution's re-runs, oldest first; their number is
    #: ``rerun_count``, which names the next one.
    reruns: tuple[str, ...] = ()
    rerun_count: int = 0
    #: How many times the execution was redriven (the attempt the status belongs to).
    redrive_count: int = 0
    #: Redrives and re-runs asked for through the API, oldest first.
    actions: tuple[ActionNote, ...] = ()
    #: A re-run: the digest of the request that made it (its Idempotency-Key and caller).
    request_key: str | None = None

    @classmethod
    def from_item(
        cls, item: Mapping[str, Any], input_item: Mapping[str, Any] | None = None
    ) -> ExecutionRecord:
        """From the record item and its input item (without one, the input is read from the
        record item itself, where items before issue 15 held it, else left empty)."""

        def optional_time(name: str) -> datetime | None:
            value = item.get(name)
            return parse_time(value) if value else None

        return cls(
            workflow_id=item["workflowId"],
            message_id=item.get("messageId") or message_of(item),
            # Not stored since issue 15: always ``<workflowId>.<executionName>``.
            execution_id=item.get("executionId") or f"{item['workflowId']}.{item['executionName']}",
            execution_name=item["executionName"],
            status=ExecutionStatus(item["status"]),
            topic_arn=item["topicArn"],
            subject=item.get("subject"),
            message_timestamp=item["messageTimestamp"],
            input=str((input_item if input_item is not None else item).get("input", "")),
            received_at=parse_time(item["receivedAt"]),
            expires_at=datetime.fromtimestamp(int(item["expiresAt"]), UTC),
            deliveries=int(item["deliveries"]),
            execution_arn=item.get("executionArn"),
            started_at=optional_time("startedAt"),
            stopped_at=optional_time("stoppedAt"),
            output=item.get("output"),
            output_truncated=bool(item.get("outputTruncated", False)),
            error=item.get("error"),
            cause=item.get("cause"),
            cause_truncated=bool(item.get("causeTruncated", False)),
            last_start_error=item.get("lastStartError"),
            recoveries=tuple(RecoveryNote.from_item(note) for note in item.get("recoveries", ())),
            rerun_of=item.get("rerunOf"),
            reruns=tuple(item.get("reruns", ())),
            rerun_count=int(item.get("rerunCount", 0)),
            redrive_count=int(item.get("redriveCount", 0)),
            actions=tuple(ActionNote.from_item(note) for note in item.get("actions", ())),
            request_key=item.get("requestKey"),
        )


class StatusChange(BaseModel):
    """A move of a record to ``RUNNING`` or to a terminal status, with what is known of the run."""

    model_config = ConfigDict(frozen=True)

    status: ExecutionStatus
    execution_arn: str
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    output: str | None = None
    output_truncated: bool = False
    error: str | None = None
    cause: str | None = None
    cause_truncated: bool = False
    #: The attempt this status belongs to (``redriveCount`` of the event or description);
    #: None when not known (a start, an EXPRESS run's settlement).
    redrive_count: int | None = None


#: What a redrive's new attempt leaves behind of the outcome of the attempt before it.
_OUTCOME_ATTRIBUTES = ("output", "outputTruncated", "error", "cause", "causeTruncated", "stoppedAt")


def _written_outcome(change: StatusChange) -> set[str]:
    """The outcome attributes ``change`` sets."""
    values = (
        ("output", change.output),
        ("error", change.error),
        ("cause", change.cause),
        ("stoppedAt", change.stopped_at),
    )
    flags = (
        ("outputTruncated", change.output_truncated),
        ("causeTruncated", change.cause_truncated),
    )
    return {name for name, value in values if value is not None} | {n for n, f in flags if f}


#: The outcomes an EXPRESS run records itself (``snsflow.definitions``).
EXPRESS_OUTCOMES = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)


def shard_of(message_id: str) -> int:
    """The index shard of a message's records: spread evenly, the same for every writer."""
    digest = hashlib.sha256(message_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % INDEX_SHARDS


def workflow_shard(workflow_id: str, shard: int) -> str:
    """A ``byWorkflowShard`` partition key."""
    return f"{workflow_id}#{shard}"


def status_group(status: ExecutionStatus) -> str:
    return status.value if status.is_terminal else OPEN_GROUP


def status_shard(workflow_id: str, group: str, shard: int) -> str:
    """A ``byStatusShard`` partition key: one shard of a status group of a workflow."""
    return f"{workflow_id}#{group}#{shard}"


def _record_status_shard(workflow_id: str, message_id: str, status: ExecutionStatus) -> str:
    return status_shard(workflow_id, status_group(status), shard_of(message_id))


class _Update:
    """Builds an UpdateExpression with placeholder names for every attribute (several of ours,
    such as ``status`` and ``input``, are DynamoDB reserved words)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._set: list[str] = []
        self._add: list[str] = []
        self._remove: list[str] = []

    def name(self, attribute: str) -> str:
        placeholder = f"#{attribute}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, attribute: str, value: Any) -> str:
        placeholder = f":{attribute}"
        self.values[placeholder] = value
        return placeholder

    def set(self, attribute: str, value: Any) -> None:
        self._set.append(f"{self.name(attribute)} = {self.value(attribute, value)}")

    def set_to(self, attribute: str, expression: str) -> None:
        """``attribute = expression`` (an expression of placeholders made here)."""
        self._set.append(f"{self.name(attribute)} = {expression}")

    def set_if_absent(self, attribute: str, value: Any) -> None:
        name = self.name(attribute)
        self._set.append(f"{name} = if_not_exists({name}, {self.value(attribute, value)})")

    def add(self, attribute: str, value: int) -> None:
        self._add.append(f"{self.name(attribute)} {self.value(attribute, value)}")

    def remove(self, attribute: str) -> None:
        self._remove.append(self.name(attribute))

    def expression(self) -> str:
        clauses = []
        for keyword, parts in (("SET", self._set), ("ADD", self._add), ("REMOVE", self._remove)):
            if parts:
                clauses.append(f"{keyword} {', '.join(parts)}")
        return " ".join(clauses)


class ExecutionStore:
    """The executions table (a boto3 DynamoDB ``Table`` is passed in)."""

    def __init__(self, table: Table, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._sleep = sleep

    def claim(self, claim: ExecutionClaim) -> ExecutionRecord:
        """Record one delivery of a message, atomically, in one request.

        The first delivery creates the record (status ``RECEIVED``, ``deliveries`` 1); every
        later one only adds 1 to ``deliveries``. Returns the record as it is after the write.
        """
        update = _Update()
        for attribute, value in _claim_attributes(claim).items():
            if value is not None:
                update.set_if_absent(attribute, value)
        update.set("lastDeliveryAt", format_time(claim.received_at))
        update.add("deliveries", 1)
        with dynamodb_errors("record the message"):
            response = self._table.update_item(
                Key=_key(claim.workflow_id, claim.message_id),
                UpdateExpression=update.expression(),
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_NEW",
            )
        record = ExecutionRecord.from_item(response["Attributes"], {"input": claim.input})
        if record.status is not ExecutionStatus.RECEIVED:
            return record  # started already: its input was stored before that
        # To be started: its input is stored first (every start reads it from there). Written
        # after the record item, so that a redelivery of a started message costs one write;
        # a record left without its input (this write failed) is not started until a
        # redelivery of the message writes it.
        try:
            with dynamodb_errors("record the message"):
                self._table.put_item(
                    Item=_input_item(claim),
                    ConditionExpression="attribute_not_exists(recordKey)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as error:
            if not is_conditional_check_failure(error):
                raise
            # The first delivery's input stays (a message's input is the same every time).
            old: dict[str, Any] = dict(error.response.get("Item", {}))  # type: ignore[call-overload]
            stored = old.get("input", {}).get("S")
            if stored is not None:
                record = record.model_copy(update={"input": str(stored)})
        return record

    def change_status(self, workflow_id: str, message_id: str, change: StatusChange) -> bool:
        """Move a record forward. False (nothing written) if it is already at or past
        ``change.status``, or does not exist."""
        update = _Update()
        update.set("status", change.status.value)
        # Unchanged (no index write) between RECEIVED and RUNNING, which share their index key;
        # a newer attempt's RUNNING (a redrive) moves a terminal record back to the OPEN group.
        update.set("statusShard", _record_status_shard(workflow_id, message_id, change.status))
        update.set("executionArn", change.execution_arn)
        if change.started_at is not None:
            update.set("startedAt", format_time(change.started_at))
        if change.stopped_at is not None:
            update.set("stoppedAt", format_time(change.stopped_at))
        for attribute, text in (
            ("output", change.output),
            ("error", change.error),
            ("cause", change.cause),
        ):
            if text is not None:
                update.set(attribute, text)
        for attribute, flag in (
            ("outputTruncated", change.output_truncated),
            ("causeTruncated", change.cause_truncated),
        ):
            if flag:
                update.set(attribute, True)
        update.remove("lastStartError")
        allowed = ", ".join(
            update.value(f"from{status.value}", status.value)
            for status in change.status.predecessors
        )
        condition = f"{update.name('status')} IN ({allowed})"
        if change.redrive_count is not None:
            # Within an attempt the status only moves forward; a newer attempt's status
            # supersedes whatever an older one recorded (and what it left is removed).
            update.set("redriveCount", change.redrive_count)
            count = update.name("redriveCount")
            attempt = update.value("redriveCount", change.redrive_count)  # the one set above
            newer = f"{count} < {attempt}"
            if change.redrive_count > 0:  # a record that never counted is of the first attempt
                newer = f"{newer} OR attribute_not_exists({count})"
            condition = (
                f"({condition} AND (attribute_not_exists({count}) OR {count} <= {attempt}))"
                f" OR {newer}"
            )
            for attribute in set(_OUTCOME_ATTRIBUTES) - _written_outcome(change):
                update.remove(attribute)
        return self._update_if(
            workflow_id,
            message_id,
            update,
            condition=condition,
            action="update the execution record",
        )

    def record_start_failure(self, workflow_id: str, message_id: str, reason: str) -> None:
        """Note why a start failed, on a record still ``RECEIVED`` (for operators)."""
        update = _Update()
        update.set("lastStartError", reason[:1000])
        received = update.value("received", ExecutionStatus.RECEIVED.value)
        self._update_if(
            workflow_id,
            message_id,
            update,
            condition=f"{update.name('status')} = {received}",
            action="record the start failure",
        )

    def record_recovery(self, workflow_id: str, message_id: str, note: RecoveryNote) -> bool:
        """Append ``note`` to the record's ``recoveries``; False if there is no such record."""
        try:
            with dynamodb_errors("record the recovery"):
                self._table.update_item(
                    Key=_key(workflow_id, message_id),
                    UpdateExpression="SET #n = list_append(if_not_exists(#n, :none), :note)",
                    ConditionExpression="attribute_exists(#id)",
                    ExpressionAttributeNames={"#n": "recoveries", "#id": "executionName"},
                    ExpressionAttributeValues={":none": [], ":note": [note.to_item()]},
                )
        except ClientError as error:
            if is_conditional_check_failure(error):
                return False
            raise
        return True

    def record_redrive(
        self, record: ExecutionRecord, note: ActionNote, *, redrive_count: int
    ) -> bool:
        """The record goes back to ``RUNNING`` for the attempt ``redrive_count`` (which
        Step Functions has just started), with ``note``; the previous outcome is removed.

        False (nothing written) unless the record has a terminal status of an older attempt:
        a status event of the new attempt may have got there first, see :meth:`add_action`."""
        update = _Update()
        running = ExecutionStatus.RUNNING
        update.set("status", running.value)
        update.set(
            "statusShard", _record_status_shard(record.workflow_id, record.message_id, running)
        )
        update.set("redriveCount", redrive_count)
        update.set("redrivenAt", format_time(note.at))
        update.set_to("actions", _appended(update, note))
        for attribute in _OUTCOME_ATTRIBUTES:
            update.remove(attribute)
        ended = ", ".join(
            update.value(f"from{status.value}", status.value) for status in REDRIVABLE_STATUSES
        )
        count = update.name("redriveCount")
        condition = (
            f"{update.name('status')} IN ({ended}) AND (attribute_not_exists({count}) OR "
            f"{count} < {update.value('redriveCount', redrive_count)})"
        )
        return self._update_if(
            record.workflow_id,
            record.message_id,
            update,
            condition=condition,
            action="record the redrive",
        )

    def add_action(self, workflow_id: str, message_id: str, note: ActionNote) -> bool:
        """Append ``note`` to the record's actions; False if there is no such record."""
        update = _Update()
        update.set_to("actions", _appended(update, note))
        return self._update_if(
            workflow_id,
            message_id,
            update,
            condition=f"attribute_exists({update.name('executionName')})",
            action="record the action",
        )

    def claim_rerun(
        self, original: ExecutionRecord, claim: ExecutionClaim, note: ActionNote
    ) -> Literal["claimed", "exists", "conflict"]:
        """Write a re-run's record (``RECEIVED``, pointing at ``original``) and, in the same
        transaction, count it on the original and note the action there.

        ``exists``: a record with the claim's key is there already (the same request, retried);
        ``conflict``: the original changed since it was read (another re-run took the number).
        """
        item = {
            **_key(claim.workflow_id, claim.message_id),
            **_claim_attributes(claim),
            "deliveries": 0,
            "rerunOf": original.execution_id,
            "requestKey": note.request_key,
        }
        # The re-run's record item and its input item, each only if absent.
        puts: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": {name: value for name, value in written.items() if value is not None},
                    "ConditionExpression": "attribute_not_exists(recordKey)",
                }
            }
            for written in (item, _input_item(claim))
        ]
        update = _Update()
        update.set("rerunCount", original.rerun_count + 1)
        update.set_to("reruns", _appended(update, claim.execution_id, name="rerun"))
        update.set_to("actions", _appended(update, note))
        count = update.name("rerunCount")
        condition = f"attribute_exists({update.name('executionName')}) AND " + (
            f"{count} = {update.value('expectedRerunCount', original.rerun_count)}"
            if original.rerun_count
            else f"attribute_not_exists({count})"
        )
        counted: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table.name,
                "Key": _key(original.workflow_id, original.message_id),
                "UpdateExpression": update.expression(),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": update.names,
                "ExpressionAttributeValues": update.values,
            }
        }
        try:
            # The table's client takes plain Python values (boto3's resource layer types them).
            with dynamodb_errors("record the re-run"):
                self._table.meta.client.transact_write_items(TransactItems=[*puts, counted])
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons[:2]:
                return "exists"
            if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                return "conflict"
            raise DependencyUnavailableError(
                f"DynamoDB did not record the re-run ({', '.join(map(str, reasons))})"
            ) from error
        return "claimed"

    def _update_if(
        self, workflow_id: str, message_id: str, update: _Update, *, condition: str, action: str
    ) -> bool:
        try:
            with dynamodb_errors(action):
                self._table.update_item(
                    Key=_key(workflow_id, message_id),
                    UpdateExpression=update.expression(),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=update.names,
                    ExpressionAttributeValues=update.values,
                )
        except ClientError as error:
            if is_conditional_check_failure(error):
                return False
            raise
        return True

    def get(self, workflow_id: str, message_id: str) -> ExecutionRecord | None:
        """The record with its input: both items (one partition key) in one consistent query."""
        with dynamodb_errors("read the execution record"):
            response = self._table.query(
                KeyConditionExpression=Key("recordKey").eq(record_key(workflow_id, message_id)),
                ConsistentRead=True,
            )
        by_sort_key = {item["workflowId"]: item for item in response.get("Items", [])}
        item = by_sort_key.get(workflow_id)
        if item is None:
            return None
        return ExecutionRecord.from_item(item, by_sort_key.get(f"{workflow_id}{_INPUT_SUFFIX}", {}))

    def find_by_execution_id(self, execution_id: str) -> ExecutionRecord | None:
        """An execution id is ``<workflowId>.<execution name>``, and the name is the MessageId
        unless the record says otherwise (the sparse ``byExecutionId`` index)."""
        workflow_id, _, name = execution_id.partition(".")
        record = self.get(workflow_id, name) if workflow_id and name else None
        if record is not None and record.execution_id == execution_id:
            return record
        with dynamodb_errors("look up the execution"):
            response = self._table.query(
                IndexName=BY_EXECUTION_ID_INDEX,
                KeyConditionExpression=Key("aliasExecutionId").eq(execution_id),
                Limit=1,
            )
        items = response.get("Items", [])
        if not items:
            return None
        return self.get(str(items[0]["workflowId"]), message_of(items[0]))

    def get_many(
        self, keys: Iterable[tuple[str, str]], *, with_input: bool
    ) -> list[ExecutionRecord]:
        """The records of these (workflow id, MessageId) keys that exist, in the keys' order;
        eventually consistent, like the indexes the keys come from."""
        wanted = list(dict.fromkeys(keys))
        item_keys = [_key(*key) for key in wanted]
        if with_input:
            item_keys += [input_key(*key) for key in wanted]
        items = self._batch_get(item_keys)
        records = []
        for workflow_id, message_id in wanted:
            key = record_key(workflow_id, message_id)
            item = items.get((key, workflow_id))
            if item is not None:
                input_item = items.get((key, f"{workflow_id}{_INPUT_SUFFIX}"), {})
                records.append(ExecutionRecord.from_item(item, input_item))
        return records

    def _batch_get(self, keys: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        client, name = self._table.meta.client, self._table.name
        for start in range(0, len(keys), _BATCH_GET_KEYS):
            pending: Any = keys[start : start + _BATCH_GET_KEYS]
            for attempt in range(_BATCH_GET_RETRIES + 1):
                if attempt:  # DynamoDB asks for an exponential backoff before a retry
                    self._sleep(_BATCH_GET_FIRST_PAUSE_SECONDS * 2 ** (attempt - 1))
                with dynamodb_errors("read execution records"):
                    response: Any = client.batch_get_item(RequestItems={name: {"Keys": pending}})
                for item in response.get("Responses", {}).get(name, []):
                    found[(str(item["recordKey"]), str(item["workflowId"]))] = dict(item)
                pending = response.get("UnprocessedKeys", {}).get(name, {}).get("Keys", [])
                if not pending:
                    break
            else:
                raise DependencyUnavailableError(
                    f"DynamoDB is unavailable: could not read execution records ({len(pending)} "
                    f"keys left unprocessed after {_BATCH_GET_RETRIES} retries)"
                )
        return found

    def oldest_with_status(
        self,
        workflow_id: str,
        status: ExecutionStatus,
        *,
        received_before: datetime,
        limit: int,
    ) -> list[ExecutionRecord]:
        """Up to ``limit`` records of a workflow in ``status`` received before a time, oldest
        first, with their inputs. The index is eventually consistent: callers act by
        conditional writes."""
        found = read_shards(
            self,
            status_partitions(workflow_id, status),
            received=(None, format_time(received_before)),
            after=None,
            newest_first=False,
            need=limit,
            status=status,
            with_input=True,
        )
        # A claim whose input was never stored cannot be started: its delivery failed, and
        # SNS's redelivery stores the input and starts it.
        return [record for _, record in found if record is not None and record.input]

    def oldest_open(
        self,
        workflow_id: str,
        *,
        received_before: Mapping[ExecutionStatus, datetime],
        limits: Mapping[ExecutionStatus, int],
    ) -> dict[ExecutionStatus, list[ExecutionRecord]]:
        """:meth:`oldest_with_status` for each of the open statuses given (``RECEIVED``,
        ``RUNNING``), which share their index partitions: one round of queries reads them all
        when the open entries received before the later time number at most the limits' sum
        (a reconciler's usual run, and every idle one), else one round per status."""
        latest = format_time(max(received_before.values()))
        room = sum(limits.values())
        entries = read_shards(
            self,
            status_partitions(workflow_id, ExecutionStatus.RECEIVED),
            received=(None, latest),
            after=None,
            newest_first=False,
            need=room + 1,
            status=None,
        )
        if len(entries) > room:  # a backlog: each status's oldest, read on their own
            return {
                status: self.oldest_with_status(
                    workflow_id, status, received_before=received_before[status], limit=limit
                )
                for status, limit in limits.items()
            }
        records = self.get_many(
            ((str(entry["workflowId"]), message_of(entry)) for entry, _ in entries),
            with_input=True,
        )
        return {
            status: [
                record
                for record in records
                if record.status is status
                and record.input  # as oldest_with_status: not startable without it
                and format_time(record.received_at) <= format_time(received_before[status])
            ][:limit]
            for status, limit in limits.items()
        }


#: An index entry (the keys) and, where it was read, the record it points to.
ShardEntry = tuple[dict[str, Any], "ExecutionRecord | None"]


@dataclass(frozen=True)
class IndexPartitions:
    """The partition keys one read of an index queries: one per shard, in shard order."""

    workflow_id: str
    index: str
    key_attribute: str
    values: tuple[str, ...]


def workflow_partitions(workflow_id: str) -> IndexPartitions:
    return IndexPartitions(
        workflow_id,
        BY_WORKFLOW_INDEX,
        "workflowShard",
        tuple(workflow_shard(workflow_id, shard) for shard in range(INDEX_SHARDS)),
    )


def status_partitions(workflow_id: str, status: ExecutionStatus) -> IndexPartitions:
    group = status_group(status)
    return IndexPartitions(
        workflow_id,
        BY_STATUS_INDEX,
        "statusShard",
        tuple(status_shard(workflow_id, group, shard) for shard in range(INDEX_SHARDS)),
    )


def read_shards(
    store: ExecutionStore,
    partitions: IndexPartitions,
    *,
    received: tuple[str | None, str | None],
    after: tuple[str, str] | None,
    newest_first: bool,
    need: int,
    status: ExecutionStatus | None,
    with_input: bool = False,
) -> list[ShardEntry]:
    """Scatter-gather: up to ``need`` entries of every shard's partition, in one round of
    parallel queries (each shard pages on only while it has fewer than ``need``), merged in
    receive order. The order among equal receive times is by shard, then as DynamoDB keeps
    them within a shard; ``after`` (receivedAt, MessageId) resumes right after an entry.

    A non-terminal ``status`` shares its partitions with the other (``OPEN``): those entries'
    records are read and kept only when they are in ``status``; with no ``status``, or a
    terminal one, no record is read here.
    """
    filtered = status is not None and not status.is_terminal

    def one_shard(shard: int) -> list[ShardEntry]:
        since, until = received
        kwargs: dict[str, Any] = {
            "IndexName": partitions.index,
            "ScanIndexForward": not newest_first,
        }
        skip_equal: str | None = None
        if after is not None:
            after_received, after_message = after
            after_shard = shard_of(after_message)
            if shard == after_shard:
                kwargs["ExclusiveStartKey"] = {
                    partitions.key_attribute: partitions.values[shard],
                    "receivedAt": after_received,
                    "recordKey": record_key(partitions.workflow_id, after_message),
                    "workflowId": partitions.workflow_id,
                }
            else:
                until = after_received if until is None else min(until, after_received)
                if shard < after_shard:  # its entries of that time came before the cursor's
                    skip_equal = after_received
        kwargs |= shard_key_condition(
            partitions.key_attribute, partitions.values[shard], since=since, until=until
        )
        kept: list[ShardEntry] = []
        while len(kept) < need:
            with dynamodb_errors("list executions"):
                page = store._table.query(Limit=need - len(kept) + 1, **kwargs)
            entries = [
                dict(item) for item in page.get("Items", []) if item["receivedAt"] != skip_equal
            ]
            if filtered:
                records = store.get_many(
                    ((str(e["workflowId"]), message_of(e)) for e in entries),
                    with_input=with_input,
                )
                by_message = {r.message_id: r for r in records if r.status is status}
                kept += [
                    (e, by_message[message_of(e)]) for e in entries if message_of(e) in by_message
                ]
            else:
                kept += [(e, None) for e in entries]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return kept[:need]

    with ThreadPoolExecutor(max_workers=len(partitions.values)) as pool:
        per_shard = list(pool.map(one_shard, range(len(partitions.values))))
    merged = heapq.merge(
        *per_shard, key=lambda pair: str(pair[0]["receivedAt"]), reverse=newest_first
    )
    taken = [pair for pair, _ in zip(merged, range(need), strict=False)]
    if with_input and not filtered:
        records = store.get_many(
            ((str(e["workflowId"]), message_of(e)) for e, _ in taken), with_input=True
        )
        by_message = {r.message_id: r for r in records}
        taken = [(e, by_message.get(message_of(e))) for e, _ in taken]
    return taken


def record_key(workflow_id: str, message_id: str) -> str:
    """The partition key of a message's record and input items (workflow ids never hold "#")."""
    return f"{workflow_id}#{message_id}"


def message_of(item: Mapping[str, Any]) -> str:
    """The MessageId of a record item or index entry (from its partition key)."""
    return str(item["recordKey"]).split("#", 1)[1]


def _key(workflow_id: str, message_id: str) -> dict[str, str]:
    return {"recordKey": record_key(workflow_id, message_id), "workflowId": workflow_id}


def input_key(workflow_id: str, message_id: str) -> dict[str, str]:
    return {
        "recordKey": record_key(workflow_id, message_id),
        "workflowId": f"{workflow_id}{_INPUT_SUFFIX}",
    }


def _appended(update: _Update, entry: ActionNote | str, *, name: str = "action") -> str:
    """``list_append`` of one entry to the list attribute of ``name`` (created if absent)."""
    attribute = {"action": "actions", "rerun": "reruns"}[name]
    value = entry.to_item() if isinstance(entry, ActionNote) else entry
    empty = update.value("emptyList", [])
    return (
        f"list_append(if_not_exists({update.name(attribute)}, {empty}), "
        f"{update.value(f'new{name.title()}', [value])})"
    )


def _claim_attributes(claim: ExecutionClaim) -> dict[str, Any]:
    """The attributes a claim writes on the record item, as stored (None: not written); the
    input goes to the input item (:func:`_input_item`)."""
    shard = shard_of(claim.message_id)
    return {
        "executionName": claim.execution_name,
        "status": ExecutionStatus.RECEIVED.value,
        "topicArn": claim.topic_arn,
        "subject": claim.subject,
        "messageTimestamp": claim.message_timestamp,
        "receivedAt": format_time(claim.received_at),
        "expiresAt": int(claim.expires_at.timestamp()),
        "workflowShard": workflow_shard(claim.workflow_id, shard),
        "statusShard": status_shard(claim.workflow_id, OPEN_GROUP, shard),
        "aliasExecutionId": (
            claim.execution_id if claim.execution_name != claim.message_id else None
        ),
        "outcomeKeys": (
            express_outcome_keys(claim.workflow_id, claim.message_id) if claim.express else None
        ),
    }


def express_outcome_keys(workflow_id: str, message_id: str) -> dict[str, str]:
    """The ``byStatusShard`` key of each outcome an EXPRESS run records itself, which the run
    cannot compute (``run_outcome_request``): kept on the record by its claim."""
    shard = shard_of(message_id)
    return {
        status.value: status_shard(workflow_id, status.value, shard) for status in EXPRESS_OUTCOMES
    }


def _input_item(claim: ExecutionClaim) -> dict[str, Any]:
    return {
        **input_key(claim.workflow_id, claim.message_id),
        "input": claim.input,
        "expiresAt": int(claim.expires_at.timestamp()),
    }


# Writes made by a running EXPRESS state machine itself (Step Functions sends no status events
# for EXPRESS executions): UpdateItem parameters for the DynamoDB service integration, in
# DynamoDB's typed JSON. ``snsflow.definitions`` decides when they run; the item layout and the
# conditions stay here, beside every other write of the table.


class RunReferences(BaseModel):
    """Where a running state finds the values its write needs: JSONPath expressions or intrinsic
    functions, evaluated by Step Functions (``$$.Execution.Id``, ``$.Error``...)."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    execution_arn: str
    #: The time of the write.
    now: str
    #: Identifies one attempt at the run: the same across retries of the claiming state, and
    #: different for any other execution or re-run of the same one.
    run_id: str


def _evaluated(expression: str) -> dict[str, str]:
    return {"S.$": expression}


def _literal(text: str) -> dict[str, str]:
    return {"S": text}


def _run_update_request(
    table_name: str, workflow_id: str, run: RunReferences, update: _Update, condition: str
) -> dict[str, Any]:
    return {
        "TableName": table_name,
        "Key": {
            "recordKey": _evaluated(f"States.Format('{workflow_id}#{{}}', {run.message_id})"),
            "workflowId": _literal(workflow_id),
        },
        "UpdateExpression": update.expression(),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": update.names,
        "ExpressionAttributeValues": update.values,
    }


def run_claim_request(table_name: str, workflow_id: str, run: RunReferences) -> dict[str, Any]:
    """The run takes its record: ``RECEIVED`` → ``RUNNING`` with its execution ARN, start time
    and run id. Refused (``ConditionalCheckFailedException``) when any other run has taken
    it or the record is gone; a retry of the same claim succeeds again."""
    update = _Update()
    running = ExecutionStatus.RUNNING
    update.set("status", _literal(running.value))
    update.set("executionArn", _evaluated(run.execution_arn))
    update.set("startedAt", _evaluated(run.now))
    update.set("runId", _evaluated(run.run_id))
    update.remove("lastStartError")
    received = update.value("fromRECEIVED", _literal(ExecutionStatus.RECEIVED.value))
    own_run = update.value("runId", _evaluated(run.run_id))  # the placeholder set above
    condition = f"{update.name('status')} = {received} OR {update.name('runId')} = {own_run}"
    return _run_update_request(table_name, workflow_id, run, update, condition)


def run_outcome_request(
    table_name: str,
    workflow_id: str,
    run: RunReferences,
    status: ExecutionStatus,
    *,
    output: str | None = None,
    error: str | None = None,
    cause: str | None = None,
    output_truncated: bool = False,
    cause_truncated: bool = False,
) -> dict[str, Any]:
    """The run records how it ended, only on its own record while that is ``RUNNING``: never
    backwards, never over an outcome recorded otherwise. ``output`` (JSON text), ``error`` and
    ``cause`` are expressions giving strings; a ``*_truncated`` flag records a text left out."""
    if not status.is_terminal:
        raise ValueError(f"{status} is not an outcome")
    update = _Update()
    # The large values first: moto (the local stack's DynamoDB) applies the actions one by one
    # and keeps those applied before one that makes the item too large; DynamoDB applies none.
    for attribute, expression in (("output", output), ("cause", cause), ("error", error)):
        if expression is not None:
            update.set(attribute, _evaluated(expression))
    update.set("status", _literal(status.value))
    if status not in EXPRESS_OUTCOMES:
        raise ValueError(f"an EXPRESS run does not record {status}")
    # Its index key, kept by the claim: a run has no way to compute the shard.
    update.set_to("statusShard", f"{update.name('outcomeKeys')}.{update.name(status.value)}")
    update.set("stoppedAt", _evaluated(run.now))
    for attribute, flag in (
        ("outputTruncated", output_truncated),
        ("causeTruncated", cause_truncated),
    ):
        if flag:
            update.set(attribute, {"BOOL": True})
    running = update.value("fromRUNNING", _literal(ExecutionStatus.RUNNING.value))
    own_run = update.value("executionArn", _evaluated(run.execution_arn))
    condition = f"{update.name('status')} = {running} AND {update.name('executionArn')} = {own_run}"
    return _run_update_request(table_name, workflow_id, run, update, condition)
