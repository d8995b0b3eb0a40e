"""Acting on executions: their step history, redrive and re-run (``operate`` keys).

**History** comes from Step Functions (GetExecutionHistory), grouped into one entry per state
entered: its name, type, times, input and output (each cut at :data:`HISTORY_VALUE_MAX_BYTES`,
flagged), and for a failure its error and cause. EXPRESS executions have no history API.

**Redrive** (STANDARD only; FAILED, TIMED_OUT or ABORTED; within Step Functions'
:data:`REDRIVE_WINDOW` of the stop): Step Functions' RedriveExecution continues the same
execution from the state that failed. The record goes back to ``RUNNING`` for the new attempt
and status events settle it as before.

**Re-run**: a new execution of the same workflow with the same input, named
``<name>.r<n>``, recorded as its own execution pointing at the original. A re-run of a re-run
re-runs its original, so names never nest.

Every action is written on the record (who: the key's name; when; what), and nothing is started
or written when an action is refused. A client may send an ``Idempotency-Key``: it is scoped to
the caller's key name, and the same key again answers with what the first request did instead
of acting twice (see :func:`request_digest`).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from snsflow.errors import BadRequestError, SnsflowError
from snsflow.executions import (
    MAX_EXECUTION_NAME_LENGTH,
    ExecutionLauncher,
    execution_id_for_name,
)
from snsflow.pagination import PageTokenError, PageTokens
from snsflow.query import (
    ApiModel,
    ExecutionDetail,
    ExecutionNotFoundError,
    InvalidParameterError,
    UtcTime,
    check_execution_id,
    execution_detail,
)
from snsflow.status import truncate_text
from snsflow.stepfunctions import ExecutionDescription, HistoryPage
from snsflow.store.executions import (
    REDRIVABLE_STATUSES,
    ActionNote,
    ExecutionClaim,
    ExecutionRecord,
    ExecutionStatus,
)
from snsflow.store.workflows import WorkflowRecord

#: A state's input or output longer than this (UTF-8 bytes) is cut there and flagged.
HISTORY_VALUE_MAX_BYTES = 8 * 1024
#: Events asked of Step Functions per call (its maximum).
HISTORY_EVENTS_PER_CALL = 1000
#: A history page ends after this many events at the latest, even inside a state.
HISTORY_EVENTS_PER_PAGE = 5000
#: Step Functions redrives an execution only within this time after it stopped.
REDRIVE_WINDOW = timedelta(days=14)
#: What an ``Idempotency-Key`` may be: visible ASCII, as the IETF draft's examples.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
#: Attempts at numbering a re-run when concurrent re-runs of one execution take numbers.
_RERUN_NUMBER_ATTEMPTS = 5

Clock = Callable[[], datetime]


# -- errors ---------------------------------------------------------------------------------------


class NotRedrivableError(SnsflowError):
    code = "not_redrivable"
    http_status = 409


class NotRerunnableError(SnsflowError):
    code = "not_rerunnable"
    http_status = 409


class HistoryNotAvailableError(SnsflowError):
    code = "history_not_available"
    http_status = 409


class IdempotencyKeyReusedError(SnsflowError):
    """The Idempotency-Key was used before for another request."""

    code = "idempotency_key_reused"
    http_status = 422


class RerunConflictError(SnsflowError):
    code = "rerun_conflict"
    http_status = 409
    retryable = True


# -- response shapes ------------------------------------------------------------------------------


class HistoryState(ApiModel):
    """One state entered by the execution."""

    name: str
    type: str
    entered_at: UtcTime
    exited_at: UtcTime | None = None
    duration_ms: int | None = None
    #: SUCCEEDED, FAILED, CAUGHT (a failure a Retry or Catch handled), TIMED_OUT, ABORTED,
    #: RUNNING.
    status: str
    input: Any = None
    input_truncated: bool = False
    output: Any = None
    output_truncated: bool = False
    error: str | None = None
    cause: str | None = None


class ExecutionHistory(ApiModel):
    execution_id: str
    states: list[HistoryState]
    #: The state the execution failed (or timed out, or was aborted) in, on this page.
    failed_state: str | None = None
    next_token: str | None = None


class RerunResult(ApiModel):
    execution: ExecutionDetail
    rerun_of: str


# -- history --------------------------------------------------------------------------------------


def _value(text: str | None) -> tuple[Any, bool]:
    """A state's input or output: parsed JSON when it is whole and JSON, else the text."""
    cut, truncated = truncate_text(text, HISTORY_VALUE_MAX_BYTES)
    if cut is None or truncated:
        return cut, truncated
    try:
        return json.loads(cut), False
    except ValueError:
        return cut, False


def _details(event: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(
        (value for key, value in event.items() if key.endswith("EventDetails")),
        {},
    )


_ENDINGS = {
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


class _OpenState:
    def __init__(self, event: Mapping[str, Any]) -> None:
        details = _details(event)
        self.name = str(details.get("name", ""))
        self.type = str(event["type"]).removesuffix("StateEntered")
        self.entered_at: datetime = event["timestamp"]
        self.input, self.input_truncated = _value(details.get("input"))
        self.error: str | None = None
        self.cause: str | None = None

    def close(self, at: datetime | None, status: str, output: str | None = None) -> HistoryState:
        value, truncated = _value(output)
        duration = round((at - self.entered_at).total_seconds() * 1000) if at is not None else None
        return HistoryState(
            name=self.name,
            type=self.type,
            entered_at=self.entered_at,
            exited_at=at,
            duration_ms=duration,
            status=status,
            input=self.input,
            input_truncated=self.input_truncated,
            output=value,
            output_truncated=truncated,
            error=self.error,
            cause=self.cause,
        )


def group_states(
    events: Sequence[Mapping[str, Any]],
) -> tuple[list[HistoryState], str | None, bool]:
    """The states of ``events`` (oldest first) in the order they were entered, the state the
    execution ended in failure in, and whether a state is still open after the last event."""
    done: list[tuple[int, HistoryState]] = []
    opened: list[tuple[int, _OpenState]] = []
    failed_state: str | None = None
    last_failed: str | None = None
    for index, event in enumerate(events):
        kind = str(event.get("type", ""))
        details = _details(event)
        if kind.endswith("StateEntered"):
            opened.append((index, _OpenState(event)))
        elif kind.endswith("StateExited"):
            # The innermost open state of that name (a Parallel's branches nest inside it).
            name = details.get("name")
            found = [i for i, (_, state) in enumerate(opened) if state.name == name]
            if found:
                order, state = opened.pop(found[-1])
                status = "CAUGHT" if state.error is not None else "SUCCEEDED"
                output = details.get("output")
                done.append((order, state.close(event["timestamp"], status, output)))
        elif kind in _ENDINGS:
            ending = _ENDINGS[kind]
            if opened:
                opened[-1][1].error = details.get("error", opened[-1][1].error)
                opened[-1][1].cause = details.get("cause", opened[-1][1].cause)
                failed_state = opened[-1][1].name
            else:
                failed_state = last_failed
            done.extend((order, state.close(event["timestamp"], ending)) for order, state in opened)
            opened = []
        elif kind == "ExecutionRedriven":
            failed_state = last_failed = None  # a new attempt: the failure is behind it
        elif kind.endswith(("Failed", "TimedOut", "Aborted")) and opened:
            state = opened[-1][1]
            state.error, state.cause = details.get("error"), details.get("cause")
            last_failed = state.name
    done.extend((order, state.close(None, "RUNNING")) for order, state in opened)
    done.sort(key=lambda pair: pair[0])
    return [state for _, state in done], failed_state, bool(opened)


# -- ports ----------------------------------------------------------------------------------------


class ActionRecords(Protocol):
    """The part of :class:`~snsflow.store.executions.ExecutionStore` used here."""

    def get(self, workflow_id: str, message_id: str) -> ExecutionRecord | None: ...

    def find_by_execution_id(self, execution_id: str) -> ExecutionRecord | None: ...

    def record_redrive(
        self, record: ExecutionRecord, note: ActionNote, *, redrive_count: int
    ) -> bool: ...

    def add_action(self, workflow_id: str, message_id: str, note: ActionNote) -> bool: ...

    def claim_rerun(
        self, original: ExecutionRecord, claim: ExecutionClaim, note: ActionNote
    ) -> Literal["claimed", "exists", "conflict"]: ...


class StepFunctionsActions(Protocol):
    """:class:`~snsflow.stepfunctions.StepFunctionsExecutions`."""

    def describe(self, arn: str) -> ExecutionDescription: ...

    def history(self, arn: str, *, next_token: str | None, max_results: int) -> HistoryPage: ...

    def redrive(self, arn: str, *, client_token: str) -> datetime: ...


class WorkflowLookup(Protocol):
    def get(self, workflow_id: str) -> WorkflowRecord | None: ...


# -- the actions ----------------------------------------------------------------------------------


def request_digest(caller: str, idempotency_key: str | None) -> str:
    """What identifies a request: its Idempotency-Key within the caller's key name (as an API
    scopes its keys per account), or a new random value without one. 32 hex characters: a
    valid Step Functions client token, and a record key part."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidParameterError("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
    return hashlib.sha256(f"{caller}\n{idempotency_key}".encode()).hexdigest()[:32]


def rerun_name(name: str, number: int) -> str:
    """``<name>.r<number>``, within Step Functions' 80 characters: a name too long keeps its
    start and a hash of the whole, so two long names never share a re-run's name."""
    suffix = f".r{number}"
    if len(name) + len(suffix) <= MAX_EXECUTION_NAME_LENGTH:
        return name + suffix
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{name[: MAX_EXECUTION_NAME_LENGTH - len(suffix) - 9]}-{digest}{suffix}"


def rerun_message_key(digest: str) -> str:
    """The record key (in the ``messageId`` attribute) of the re-run a request makes."""
    return f"rerun#{digest}"


class ActionService:
    """Answers the history route and the action routes of the API."""

    def __init__(
        self,
        *,
        records: ActionRecords,
        workflows: WorkflowLookup,
        step_functions: StepFunctionsActions,
        launcher: ExecutionLauncher,
        tokens: PageTokens,
        clock: Clock,
        retention: timedelta,
    ) -> None:
        self._records = records
        self._workflows = workflows
        self._step_functions = step_functions
        self._launcher = launcher
        self._tokens = tokens
        self._clock = clock
        self._retention = retention

    def history(self, execution_id: str, next_token: str | None = None) -> ExecutionHistory:
        record = self._record(execution_id)
        workflow = self._workflow(record)
        if workflow.state_machine_type == "EXPRESS":
            raise HistoryNotAvailableError(
                f"'{workflow.workflow_id}' is an EXPRESS workflow: Step Functions keeps no "
                "history of EXPRESS executions (see the state machine's CloudWatch logs)"
            )
        if record.execution_arn is None:
            return ExecutionHistory(execution_id=execution_id, states=[])
        scope = {"history": execution_id}
        token = self._open_token(next_token, scope) if next_token else None
        events: list[dict[str, Any]] = []
        while True:
            page = self._step_functions.history(
                record.execution_arn, next_token=token, max_results=HISTORY_EVENTS_PER_CALL
            )
            events.extend(page.events)
            token = page.next_token
            # A page ends where no state is open, so that each state is whole on one page.
            states, failed_state, still_open = group_states(events)
            if token is None or not still_open or len(events) >= HISTORY_EVENTS_PER_PAGE:
                break
        return ExecutionHistory(
            execution_id=execution_id,
            states=states,
            failed_state=failed_state,
            next_token=self._tokens.issue(scope, token) if token else None,
        )

    def redrive(
        self, execution_id: str, *, caller: str, idempotency_key: str | None
    ) -> ExecutionDetail:
        """Redrive the execution; its detail (``RUNNING``, or already further)."""
        digest = request_digest(caller, idempotency_key)
        record = self._record(execution_id)
        if any(a.action == "redrive" and a.request_key == digest for a in record.actions):
            return execution_detail(record)  # the same request again: done already
        workflow = self._workflow(record)
        arn = self._check_redrivable(record, workflow, retry=idempotency_key is not None)
        at = self._step_functions.redrive(arn, client_token=digest)
        # Step Functions' count, read after the redrive: a retry whose first try redrove (and
        # then failed to write the record) is answered by Step Functions as the first was.
        attempt = self._step_functions.describe(arn).redrive_count
        note = ActionNote(
            action="redrive", by=caller, at=at, redrive_count=attempt, request_key=digest
        )
        if not self._records.record_redrive(record, note, redrive_count=attempt):
            # The new attempt's own status got there first: only the action is left to note.
            self._records.add_action(record.workflow_id, record.message_id, note)
        return execution_detail(self._fresh(record))

    def rerun(
        self, execution_id: str, *, caller: str, idempotency_key: str | None
    ) -> tuple[RerunResult, bool]:
        """Start a re-run; returns it and whether it is new (False: the same request again)."""
        digest = request_digest(caller, idempotency_key)
        record = self._record(execution_id)
        original = self._record(record.rerun_of) if record.rerun_of else record
        key = rerun_message_key(digest)
        if idempotency_key is not None:
            earlier = self._records.get(original.workflow_id, key)
            if earlier is not None:
                return self._replayed(earlier, original), False
        workflow = self._workflow(original)
        self._check_rerunnable(original, workflow)
        for _ in range(_RERUN_NUMBER_ATTEMPTS):
            now = self._clock()
            name = rerun_name(original.execution_name, original.rerun_count + 1)
            claim = ExecutionClaim(
                workflow_id=original.workflow_id,
                message_id=key,
                execution_id=execution_id_for_name(original.workflow_id, name),
                execution_name=name,
                topic_arn=original.topic_arn,
                subject=original.subject,
                message_timestamp=original.message_timestamp,
                input=original.input,
                received_at=now,
                expires_at=now + self._retention,
                express=workflow.state_machine_type == "EXPRESS",
            )
            note = ActionNote(
                action="rerun",
                by=caller,
                at=now,
                execution_id=claim.execution_id,
                request_key=digest,
            )
            outcome = self._records.claim_rerun(original, claim, note)
            if outcome == "claimed":
                created = self._fresh_by_key(original.workflow_id, key)
                started = self._launcher.start(workflow, created)
                return RerunResult(
                    execution=execution_detail(started), rerun_of=original.execution_id
                ), True
            if outcome == "exists":
                return self._replayed(
                    self._fresh_by_key(original.workflow_id, key), original
                ), False
            original = self._fresh(original)
        raise RerunConflictError(
            f"execution '{original.execution_id}' is being re-run by other requests; retry"
        )

    def _replayed(self, earlier: ExecutionRecord, original: ExecutionRecord) -> RerunResult:
        if earlier.rerun_of != original.execution_id:
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key was used for a re-run of another execution "
                f"('{earlier.rerun_of}'): use a new key for each re-run"
            )
        if earlier.status is ExecutionStatus.RECEIVED:
            # The first request recorded the re-run but could not start it: start it now (by
            # its name and stored input, so never twice).
            earlier = self._launcher.start(self._workflow(earlier), earlier)
        return RerunResult(execution=execution_detail(earlier), rerun_of=original.execution_id)

    def _check_redrivable(
        self, record: ExecutionRecord, workflow: WorkflowRecord, *, retry: bool
    ) -> str:
        """The execution's ARN, if it can be redriven. ``retry``: the request has an
        Idempotency-Key, so it may be a retry whose first try redrove the execution but did not
        get to write the record; Step Functions, not its current status, then has the say
        (it answers a repeated client token as it did the first time)."""

        def refuse(reason: str) -> NotRedrivableError:
            return NotRedrivableError(
                f"execution '{record.execution_id}' cannot be redriven: {reason}"
            )

        if workflow.state_machine_type == "EXPRESS":
            raise refuse("Step Functions redrives STANDARD executions only (this is EXPRESS)")
        if record.status not in REDRIVABLE_STATUSES:
            allowed = ", ".join(s.value for s in REDRIVABLE_STATUSES)
            raise refuse(f"it is {record.status.value}; only {allowed} executions can be")
        if record.execution_arn is None:
            raise refuse("it never started")
        stopped = record.stopped_at or record.started_at or record.received_at
        if self._clock() - stopped > REDRIVE_WINDOW:
            raise refuse(
                f"it stopped more than {REDRIVE_WINDOW.days} days ago (Step Functions' redrive "
                "window); re-run it"
            )
        if not retry:
            description = self._step_functions.describe(record.execution_arn)
            if description.redrive_status == "NOT_REDRIVABLE":
                raise refuse(description.redrive_status_reason or "Step Functions says it is not")
            if description.status not in {s.value for s in REDRIVABLE_STATUSES}:
                raise refuse(f"Step Functions has it {description.status}")
        return record.execution_arn

    @staticmethod
    def _check_rerunnable(record: ExecutionRecord, workflow: WorkflowRecord) -> None:
        if workflow.state_machine_type == "EXPRESS":
            raise NotRerunnableError(
                f"execution '{record.execution_id}' cannot be re-run: EXPRESS runs record "
                "themselves by the SNS message, so a second run of one message is not recorded "
                "(not supported yet)"
            )
        if not record.status.is_terminal:
            raise NotRerunnableError(
                f"execution '{record.execution_id}' cannot be re-run: it is "
                f"{record.status.value}; wait until it has ended"
            )

    def _record(self, execution_id: str) -> ExecutionRecord:
        check_execution_id(execution_id)
        record = self._records.find_by_execution_id(execution_id)
        if record is None:
            raise ExecutionNotFoundError(f"no execution '{execution_id}'")
        return record

    def _fresh(self, record: ExecutionRecord) -> ExecutionRecord:
        return self._fresh_by_key(record.workflow_id, record.message_id)

    def _fresh_by_key(self, workflow_id: str, message_id: str) -> ExecutionRecord:
        record = self._records.get(workflow_id, message_id)
        if record is None:  # written a moment ago: only a deleted table loses it
            raise SnsflowError(f"the execution record {message_id!r} has gone")
        return record

    def _workflow(self, record: ExecutionRecord) -> WorkflowRecord:
        workflow = self._workflows.get(record.workflow_id)
        if workflow is None:
            raise BadRequestError(f"the workflow '{record.workflow_id}' is no longer deployed")
        return workflow

    def _open_token(self, token: str, scope: dict[str, Any]) -> str:
        try:
            position = self._tokens.open(token, scope)
        except PageTokenError as error:
            raise InvalidParameterError("nextToken", str(error)) from None
        if not isinstance(position, str):
            raise InvalidParameterError("nextToken", "is not a token this API issued")
        return position
