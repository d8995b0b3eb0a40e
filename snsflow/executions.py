"""One Step Functions execution per SNS message: execution input, names, claim → start → running.

The order is what makes "nothing lost, nothing twice" hold:

1. the claim is written first (one conditional-in-effect write per delivery), so once SNS gets a
   2xx the message is durably recorded;
2. the execution is started with a name derived from the MessageId and the input stored in the
   claim, so a retried start (a redelivery, the reconciler) is idempotent for STANDARD
   workflows — Step Functions refuses a second execution of the same name;
3. the record is moved to ``RUNNING`` conditionally, so it never overtakes a status event.

EXPRESS starts are not idempotent by name: a retried start may begin a second execution. Their
deployed definition (:mod:`snsflow.definitions`) makes that harmless — each run first takes the
record (``RECEIVED`` → ``RUNNING``, conditionally) and a run that finds it taken does nothing —
so step 3 is the run's own, and starting an EXPRESS claim again is always safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from snsflow.errors import DependencyUnavailableError, PayloadTooLargeError, SnsflowError
from snsflow.store.executions import (
    ExecutionClaim,
    ExecutionRecord,
    ExecutionStatus,
    StatusChange,
)
from snsflow.store.workflows import WorkflowRecord

if TYPE_CHECKING:
    # Annotations only: the status, reconciler and query functions import this module and never
    # see a notification, so they need not load the SNS message models (~8 ms of cold start).
    from snsflow.sns.messages import Notification

logger = logging.getLogger(__name__)

#: Step Functions' limit on an execution input (UTF-8 bytes).
MAX_EXECUTION_INPUT_BYTES = 256 * 1024
#: Step Functions' limit on an execution name.
MAX_EXECUTION_NAME_LENGTH = 80

# A MessageId made only of these characters is used as the execution name as is (real SNS
# MessageIds are UUIDs). They are valid in execution names and in CloudWatch log names. Any other
# MessageId is hashed into a name that contains "_", which a verbatim name never does, so the two
# forms cannot collide.
_VERBATIM_NAME = re.compile(rf"[A-Za-z0-9-]{{1,{MAX_EXECUTION_NAME_LENGTH}}}")
_HASHED_NAME_PREFIX = "m_"


class ExecutionInputTooLargeError(PayloadTooLargeError):
    code = "execution_input_too_large"


class ExecutionStartFailedError(DependencyUnavailableError):
    """Step Functions did not start the execution; the claim stays, a later try may succeed."""

    code = "execution_start_failed"


#: The current time, timezone-aware (``snsflow.clock.utc_now`` in production).
Clock = Callable[[], datetime]


class StartedExecution(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution_arn: str
    started_at: datetime


class ExecutionStarter(Protocol):
    def start(self, *, state_machine_arn: str, name: str, execution_input: str) -> StartedExecution:
        """Start (or find, if one of that name already exists) the execution.

        Raises :class:`ExecutionStartFailedError` when it could not.
        """
        ...


class ExecutionRecords(Protocol):
    """The part of :class:`~snsflow.store.executions.ExecutionStore` used here."""

    def claim(self, claim: ExecutionClaim) -> ExecutionRecord: ...

    def change_status(self, workflow_id: str, message_id: str, change: StatusChange) -> bool: ...

    def record_start_failure(self, workflow_id: str, message_id: str, reason: str) -> None: ...


def execution_name(message_id: str) -> str:
    """The execution name of a message: deterministic, valid, at most 80 characters."""
    if _VERBATIM_NAME.fullmatch(message_id):
        return message_id
    return _HASHED_NAME_PREFIX + hashlib.sha256(message_id.encode("utf-8")).hexdigest()


def execution_id(workflow_id: str, message_id: str) -> str:
    """The public, URL-safe id of an execution record: ``<workflowId>.<execution name>``.

    Workflow ids never contain ".", so the id splits unambiguously; it is stable across
    redeliveries and names its record: the execution name is the MessageId, or the record is in the
    ``byExecutionId`` index.
    """
    return execution_id_for_name(workflow_id, execution_name(message_id))


def execution_id_for_name(workflow_id: str, name: str) -> str:
    return f"{workflow_id}.{name}"


def _reject_constant(name: str) -> Any:
    # NaN and Infinity parse in Python but are not JSON: Step Functions would refuse the input.
    raise ValueError(name)


# One decoder for every message: ``json.loads`` with options builds a new one per call.
_MESSAGE_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _message_value(message: str) -> Any:
    """The message as JSON if it is JSON, else the string itself (contract §4)."""
    try:
        return _MESSAGE_DECODER.decode(message)
    except (ValueError, RecursionError):
        return message


def _encode(document: dict[str, Any]) -> tuple[str, int]:
    """The document as JSON text and that text's size in UTF-8 bytes."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    if text.isascii():  # O(1): the size is the length, no need to encode
        return text, len(text)
    try:
        return text, len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # The message, parsed, can hold a lone surrogate (a "\\ud800" escape inside its JSON),
        # which UTF-8 cannot carry: escape it (and everything else) instead.
        text = json.dumps(document, separators=(",", ":"))
        return text, len(text)


def build_execution_input(workflow_id: str, notification: Notification) -> str:
    """The execution input of ARCHITECTURE §4, as JSON text.

    When the document would exceed Step Functions' 256 KiB input limit, ``rawMessage`` is left
    out (``null``, with ``"rawMessageOmitted": true``): ``message`` still carries the content.
    If even that is too large the message cannot be run at all.
    """
    document: dict[str, Any] = {
        "workflowId": workflow_id,
        "messageId": notification.message_id,
        "topicArn": notification.topic_arn,
        "subject": notification.subject,
        "timestamp": notification.timestamp_raw,
        "message": _message_value(notification.message),
        "rawMessage": notification.message,
        "messageAttributes": notification.message_attributes,
    }
    text, size = _encode(document)
    if size > MAX_EXECUTION_INPUT_BYTES:
        document["rawMessage"] = None
        document["rawMessageOmitted"] = True
        text, size = _encode(document)
    if size > MAX_EXECUTION_INPUT_BYTES:
        raise ExecutionInputTooLargeError(
            f"the execution input would be {size} bytes; Step Functions accepts at most "
            f"{MAX_EXECUTION_INPUT_BYTES}"
        )
    return text


class WorkflowSource(Protocol):
    """The part of :class:`~snsflow.store.workflows.WorkflowRegistry` used here."""

    def get(self, workflow_id: str) -> WorkflowRecord | None: ...

    def list(self) -> list[WorkflowRecord]: ...


class CachedWorkflows:
    """Workflows from the registry, each read reused for ``ttl``: the registry changes only at
    deploy time, and a read per delivery would be one more AWS call on the hot path."""

    def __init__(self, source: WorkflowSource, *, ttl: timedelta, clock: Clock) -> None:
        self._source = source
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[datetime, WorkflowRecord]] = {}
        self._all: tuple[datetime, list[WorkflowRecord]] | None = None

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        """The workflow, or None. A miss is not remembered: a workflow deployed a moment ago
        must be found at once."""
        now = self._clock()
        with self._lock:
            cached = self._by_id.get(workflow_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        workflow = self._source.get(workflow_id)
        if workflow is not None:
            with self._lock:
                self._by_id[workflow_id] = (now, workflow)
        return workflow

    def all(self) -> list[WorkflowRecord]:
        now = self._clock()
        with self._lock:
            cached = self._all
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        workflows = self._source.list()
        with self._lock:
            self._all = (now, workflows)
        return workflows

    def by_state_machine(self, state_machine_arn: str) -> WorkflowRecord | None:
        return next((w for w in self.all() if w.state_machine_arn == state_machine_arn), None)


class Acceptance(BaseModel):
    """What became of one delivery of a notification."""

    model_config = ConfigDict(frozen=True)

    #: "accepted" for the first delivery of a MessageId, "duplicate" for any later one.
    outcome: Literal["accepted", "duplicate"]
    record: ExecutionRecord


class ExecutionLauncher:
    """Claims messages and starts their executions (used by the webhook and the reconciler)."""

    def __init__(
        self,
        records: ExecutionRecords,
        starter: ExecutionStarter,
        *,
        clock: Clock,
        retention: timedelta,
    ) -> None:
        self._records = records
        self._starter = starter
        self._clock = clock
        self._retention = retention

    def accept(self, workflow: WorkflowRecord, notification: Notification) -> Acceptance:
        """Record a delivery and make sure its execution is started.

        Raises :class:`ExecutionInputTooLargeError` before writing anything if the message cannot
        be run; a failed write or start raises a retryable error (the claim, once written, stays
        for the next delivery or the reconciler).
        """
        execution_input = build_execution_input(workflow.workflow_id, notification)
        name = execution_name(notification.message_id)
        now = self._clock()
        record = self._records.claim(
            ExecutionClaim(
                workflow_id=workflow.workflow_id,
                message_id=notification.message_id,
                execution_id=execution_id_for_name(workflow.workflow_id, name),
                execution_name=name,
                topic_arn=notification.topic_arn,
                subject=notification.subject,
                message_timestamp=notification.timestamp_raw,
                input=execution_input,
                received_at=now,
                expires_at=now + self._retention,
                express=workflow.state_machine_type == "EXPRESS",
            )
        )
        outcome: Literal["accepted", "duplicate"] = (
            "accepted" if record.deliveries == 1 else "duplicate"
        )
        if record.status is ExecutionStatus.RECEIVED:
            # First delivery, or an earlier start failed (or is still in flight: starting by the
            # same name and input is then answered with the same execution).
            record = self.start(workflow, record)
        return Acceptance(outcome=outcome, record=record)

    def start(self, workflow: WorkflowRecord, record: ExecutionRecord) -> ExecutionRecord:
        """Start the execution of a claimed record and mark it ``RUNNING`` (an EXPRESS run
        marks its record itself, when it begins)."""
        try:
            started = self._starter.start(
                state_machine_arn=workflow.state_machine_arn,
                name=record.execution_name,
                execution_input=record.input,
            )
        except SnsflowError as exc:
            self._note_start_failure(record, exc)
            raise
        if workflow.state_machine_type == "EXPRESS":
            # The run takes its record itself (snsflow.definitions): that claim, not this start,
            # is what lets only one run per message do anything, so starting again is safe.
            return record
        change = StatusChange(
            status=ExecutionStatus.RUNNING,
            execution_arn=started.execution_arn,
            started_at=started.started_at,
        )
        try:
            self._records.change_status(record.workflow_id, record.message_id, change)
        except DependencyUnavailableError:
            # The execution runs and the claim is durable: the status event or the reconciler
            # will bring the record up to date, so this delivery is still a success.
            logger.warning(
                "execution started but its record could not be marked RUNNING",
                extra={"executionId": record.execution_id},
                exc_info=True,
            )
        return record.model_copy(
            update={
                "status": ExecutionStatus.RUNNING,
                "execution_arn": started.execution_arn,
                "started_at": started.started_at,
                "last_start_error": None,
            }
        )

    def _note_start_failure(self, record: ExecutionRecord, error: SnsflowError) -> None:
        try:
            self._records.record_start_failure(record.workflow_id, record.message_id, error.message)
        except DependencyUnavailableError:
            logger.warning(
                "could not note the start failure",
                extra={"executionId": record.execution_id},
                exc_info=True,
            )
