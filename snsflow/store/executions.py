"""Execution records: one item per (workflow, SNS MessageId) — the idempotency claim and the record.

Only this module reads or writes the executions table. Every write that changes the status is
conditional on the status it moves from, so a record never goes backwards: ``RECEIVED`` →
``RUNNING`` → one terminal status, which is final.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from snsflow.store.dynamodb import dynamodb_errors, is_conditional_check_failure, parse_time

# Re-exported: code outside the store formats query bounds with it.
from snsflow.store.dynamodb import format_time as format_time

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

#: DynamoDB's item size limit (attribute names plus values).
MAX_ITEM_BYTES = 400 * 1024
#: Room kept for every attribute of a record except the input, output, error and cause.
_ITEM_OVERHEAD_BYTES = 8 * 1024

BY_RECEIVED_AT_INDEX = "byReceivedAt"
BY_STATUS_INDEX = "byStatus"
BY_EXECUTION_ID_INDEX = "byExecutionId"


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

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ExecutionRecord:
        def optional_time(name: str) -> datetime | None:
            value = item.get(name)
            return parse_time(value) if value else None

        return cls(
            workflow_id=item["workflowId"],
            message_id=item["messageId"],
            execution_id=item["executionId"],
            execution_name=item["executionName"],
            status=ExecutionStatus(item["status"]),
            topic_arn=item["topicArn"],
            subject=item.get("subject"),
            message_timestamp=item["messageTimestamp"],
            input=item["input"],
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


def _workflow_status(workflow_id: str, status: ExecutionStatus) -> str:
    return f"{workflow_id}#{status.value}"


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

    def __init__(self, table: Table) -> None:
        self._table = table

    def claim(self, claim: ExecutionClaim) -> ExecutionRecord:
        """Record one delivery of a message, atomically, in one request.

        The first delivery creates the record (status ``RECEIVED``, ``deliveries`` 1); every
        later one only adds 1 to ``deliveries``. Returns the record as it is after the write.
        """
        update = _Update()
        for attribute, value in (
            ("executionId", claim.execution_id),
            ("executionName", claim.execution_name),
            ("status", ExecutionStatus.RECEIVED.value),
            ("workflowStatus", _workflow_status(claim.workflow_id, ExecutionStatus.RECEIVED)),
            ("topicArn", claim.topic_arn),
            ("messageTimestamp", claim.message_timestamp),
            ("input", claim.input),
            ("receivedAt", format_time(claim.received_at)),
            ("expiresAt", int(claim.expires_at.timestamp())),
        ):
            update.set_if_absent(attribute, value)
        if claim.subject is not None:
            update.set_if_absent("subject", claim.subject)
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
        return ExecutionRecord.from_item(response["Attributes"])

    def change_status(self, workflow_id: str, message_id: str, change: StatusChange) -> bool:
        """Move a record forward. False (nothing written) if it is already at or past
        ``change.status``, or does not exist."""
        update = _Update()
        update.set("status", change.status.value)
        update.set("workflowStatus", _workflow_status(workflow_id, change.status))
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
        return self._update_if(
            workflow_id,
            message_id,
            update,
            condition=f"{update.name('status')} IN ({allowed})",
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
                    ExpressionAttributeNames={"#n": "recoveries", "#id": "executionId"},
                    ExpressionAttributeValues={":none": [], ":note": [note.to_item()]},
                )
        except ClientError as error:
            if is_conditional_check_failure(error):
                return False
            raise
        return True

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
        with dynamodb_errors("read the execution record"):
            response = self._table.get_item(Key=_key(workflow_id, message_id), ConsistentRead=True)
        item = response.get("Item")
        return ExecutionRecord.from_item(item) if item else None

    def find_by_execution_id(self, execution_id: str) -> ExecutionRecord | None:
        with dynamodb_errors("look up the execution"):
            response = self._table.query(
                IndexName=BY_EXECUTION_ID_INDEX,
                KeyConditionExpression=Key("executionId").eq(execution_id),
                Limit=1,
            )
        items = response.get("Items", [])
        return ExecutionRecord.from_item(items[0]) if items else None

    def oldest_with_status(
        self,
        workflow_id: str,
        status: ExecutionStatus,
        *,
        received_before: datetime,
        limit: int,
    ) -> list[ExecutionRecord]:
        """Up to ``limit`` records of a workflow in ``status`` received before a time, oldest
        first. The status index is eventually consistent: callers act by conditional writes."""
        condition = Key("workflowStatus").eq(_workflow_status(workflow_id, status)) & Key(
            "receivedAt"
        ).lte(format_time(received_before))
        kwargs: dict[str, Any] = {
            "IndexName": BY_STATUS_INDEX,
            "KeyConditionExpression": condition,
            "ScanIndexForward": True,
        }
        records: list[ExecutionRecord] = []
        while len(records) < limit:
            with dynamodb_errors("list execution records"):
                page = self._table.query(Limit=limit - len(records), **kwargs)
            records.extend(ExecutionRecord.from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records


def _key(workflow_id: str, message_id: str) -> dict[str, str]:
    return {"workflowId": workflow_id, "messageId": message_id}


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
        "Key": {"workflowId": _literal(workflow_id), "messageId": _evaluated(run.message_id)},
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
    update.set("workflowStatus", _literal(_workflow_status(workflow_id, running)))
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
    update.set("workflowStatus", _literal(_workflow_status(workflow_id, status)))
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
