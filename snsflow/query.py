"""The read side: workflows with their subscriptions and counts, executions listed and shown.

The response models here are the HTTP API's shapes (ARCHITECTURE §5): camelCase JSON, times
ISO 8601 UTC. The CLI reads the API's answers back into the same models.

Listing with several statuses merges one newest-first stream per status (the ``byStatusShard``
index); the page token keeps, per stream, the last record taken from it. Each stream resumes
exactly after its own last record, so walking the pages of an unchanging set of records yields
every record once, in order. (A record that changes status between two pages moves from one
stream to another and may then be seen twice or not at all: a status filter is a snapshot.
Listing without one walks the ``byWorkflowShard`` index, whose order never changes.)
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AliasGenerator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from snsflow.clock import as_utc
from snsflow.errors import BadRequestError, NotFoundError, SnsflowError
from snsflow.executions import MAX_EXECUTION_NAME_LENGTH
from snsflow.pagination import PageTokenError, PageTokens
from snsflow.store.execution_queries import ListedExecution, ListPosition
from snsflow.store.executions import ExecutionRecord, ExecutionStatus, format_time
from snsflow.store.subscriptions import (
    SnsCheck,
    SnsCheckResult,
    SubscriptionRecord,
    SubscriptionStatus,
)
from snsflow.store.workflows import WorkflowRecord
from snsflow.workflows import WORKFLOW_ID_PATTERN

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
#: ``<workflowId>.<execution name>`` (see :func:`snsflow.executions.execution_id`).
#: A re-run's name ends in ``.r<n>`` (:func:`snsflow.actions.rerun_name`).
_EXECUTION_ID = re.compile(
    WORKFLOW_ID_PATTERN.strip("^$")
    + r"\.(?=[A-Za-z0-9_.-]{1,"
    + f"{MAX_EXECUTION_NAME_LENGTH}"
    + r"}$)[A-Za-z0-9_-]+(\.r[0-9]+)?"
)
_WORKFLOW_ID = re.compile(WORKFLOW_ID_PATTERN)
#: A bare SNS MessageId (SNS sends UUIDs): never an execution id, which holds a ".".
_MESSAGE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
_UNSHOWN_SUBSCRIPTION_FIELDS = {"workflow_id", "subscription_arn", "last_error_code", "sns_check"}

Clock = Callable[[], datetime]
#: ISO 8601 UTC with milliseconds and a ``Z``, as stored.
UtcTime = Annotated[datetime, PlainSerializer(format_time, return_type=str, when_used="json")]


def _not_a_number(value: Any) -> Any:
    # pydantic reads a number as seconds or milliseconds since 1970, guessing which from its
    # size: ambiguous, and not the ISO 8601 the API documents.
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise PydanticCustomError(
            "iso_8601_time", "Input should be an ISO 8601 date and time, not a number"
        )
    return value


#: A time given as a query parameter: ISO 8601 with a time zone (``2026-03-01T09:00:00Z``).
ParameterTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]


# -- errors ---------------------------------------------------------------------------------------


class InvalidParameterError(BadRequestError):
    """A request parameter is malformed or out of range; the body names it."""

    code = "invalid_parameter"

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"parameter '{parameter}' {problem}")
        self.parameter = parameter

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        body["error"]["parameter"] = self.parameter
        return body


class WorkflowNotFoundError(NotFoundError):
    code = "workflow_not_found"


class ExecutionNotFoundError(NotFoundError):
    code = "execution_not_found"


class AmbiguousMessageIdError(SnsflowError):
    """A bare MessageId that several workflows received: the body lists their executions."""

    code = "ambiguous_message_id"
    http_status = 409

    def __init__(self, message_id: str, candidates: list[str]) -> None:
        super().__init__(
            f"MessageId '{message_id}' was received by {len(candidates)} workflows: "
            "ask for one of their execution ids"
        )
        self.candidates = candidates

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        body["error"]["candidates"] = self.candidates
        return body


# -- response models ------------------------------------------------------------------------------


class ApiModel(BaseModel):
    """A JSON shape of the API: snake_case in Python, camelCase on the wire."""

    model_config = ConfigDict(
        frozen=True,
        populate_by_name=True,
        alias_generator=AliasGenerator(serialization_alias=to_camel, validation_alias=to_camel),
    )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class SnsCheckView(ApiModel):
    """What SNS said of the subscription when the reconciler last checked (snsflow.sns_check):
    ``at`` is when it first said so; every check since agreed."""

    result: SnsCheckResult
    at: UtcTime

    @classmethod
    def of(cls, check: SnsCheck | None) -> SnsCheckView | None:
        return cls(result=check.result, at=check.checked_at) if check is not None else None


class Subscription(ApiModel):
    """What snsflow knows of a topic's subscription to a workflow (never its ARN: whoever
    holds it could unsubscribe the endpoint)."""

    topic_arn: str
    status: SubscriptionStatus
    status_since: UtcTime | None = None
    confirmed_at: UtcTime | None = None
    unsubscribed_at: UtcTime | None = None
    updated_at: UtcTime
    last_error: str | None = None
    last_error_at: UtcTime | None = None
    #: Derived from the delivery log when read (snsflow.delivery_reads, docs/deliveries.md).
    health: str | None = None
    #: Why ``health`` differs from what the webhook saw (SNS said otherwise), else None.
    health_reason: str | None = None
    last_delivery_at: UtcTime | None = None
    last_accepted_at: UtcTime | None = None
    refusals_last_hour: int = 0
    refusals_last_day: int = 0
    last_refusal_code: str | None = None
    #: None: not checked against SNS (a topic of another account, or not yet).
    checked_against_sns: SnsCheckView | None = None


class WorkflowView(ApiModel):
    id: str
    name: str
    webhook_url: str
    api_key_name: str
    #: None: any topic may deliver.
    allowed_topic_arns: tuple[str, ...] | None
    state_machine_arn: str
    state_machine_type: Literal["STANDARD", "EXPRESS"]
    subscriptions: list[Subscription]
    #: Records per status received since ``counts_since`` (the retention window).
    counts: dict[ExecutionStatus, int]
    counts_since: UtcTime


class WorkflowList(ApiModel):
    items: list[WorkflowView]


class Execution(ApiModel):
    """An execution record as listed (ARCHITECTURE §5)."""

    execution_id: str
    workflow_id: str
    message_id: str
    status: ExecutionStatus
    topic_arn: str
    subject: str | None
    received_at: UtcTime
    started_at: UtcTime | None
    stopped_at: UtcTime | None
    #: How many times SNS delivered the message (1 + redeliveries; 0 for a re-run).
    deliveries: int
    execution_arn: str | None
    #: A re-run: the execution it re-runs.
    rerun_of: str | None = None
    #: How many times the execution was redriven.
    redrive_count: int = 0


class ExecutionPage(ApiModel):
    items: list[Execution]
    next_token: str | None


class Action(ApiModel):
    """Something done to an execution: a redrive or re-run through the API, or a recovery of
    its message from a dead-letter queue (``snsflow recover``). ``by`` is a name, never a key."""

    action: Literal["redrive", "rerun", "recover"]
    by: str
    at: UtcTime
    #: ``rerun``: the new run.
    execution_id: str | None = None
    #: ``redrive``: the attempt it started (1 for the first redrive).
    redrive_count: int | None = None
    #: ``recover``: ``recovered`` or ``duplicate``.
    outcome: str | None = None


class ExecutionDetail(Execution):
    """One execution in full: the record, its input, its outcome, and the SNS message."""

    execution_name: str
    #: The execution input (ARCHITECTURE §4), parsed.
    input: Any
    #: The execution output: parsed when it is JSON, else the text (e.g. when truncated).
    output: Any = None
    output_truncated: bool = False
    error: str | None = None
    cause: str | None = None
    cause_truncated: bool = False
    #: Why the last attempt to start the execution failed, while it has not started.
    last_start_error: str | None = None
    #: The SNS notification as delivered, less what only proves its origin (the signature,
    #: certificate URL) and the UnsubscribeURL (a capability to unsubscribe the endpoint).
    sns_message: dict[str, Any]
    #: The execution in the Step Functions console, when it has been started.
    console_url: str | None = None
    #: When the record expires (the retention).
    expires_at: UtcTime
    #: The execution ids of its re-runs, oldest first.
    reruns: list[str] = []
    #: What was done to it, oldest first.
    actions: list[Action] = []


# -- filters --------------------------------------------------------------------------------------


class ExecutionFilters(BaseModel):
    """What a listing of executions is restricted to; also the identity of its page tokens."""

    model_config = ConfigDict(frozen=True)

    #: None: every status. Otherwise distinct, in the order of :class:`ExecutionStatus`.
    statuses: tuple[ExecutionStatus, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_parameters(
        cls,
        status: Iterable[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> ExecutionFilters:
        """From query parameters: ``status`` may repeat and hold comma-separated values (any
        case); ``since`` and ``until`` must carry a time zone, and are kept in UTC."""
        wanted: set[ExecutionStatus] = set()
        for value in status or ():
            for part in value.split(","):
                name = part.strip().upper()
                if not name:
                    continue
                try:
                    wanted.add(ExecutionStatus(name))
                except ValueError:
                    allowed = ", ".join(s.value for s in ExecutionStatus)
                    raise InvalidParameterError(
                        "status", f"has an unknown status '{part.strip()[:40]}' (one of {allowed})"
                    ) from None
        since, until = _utc_parameter("since", since), _utc_parameter("until", until)
        if since is not None and until is not None and since > until:
            raise InvalidParameterError("until", "is earlier than 'since'")
        statuses = tuple(s for s in ExecutionStatus if s in wanted) or None
        return cls(statuses=statuses, since=since, until=until)

    def token_scope(self, workflow_id: str) -> dict[str, Any]:
        return {
            "workflowId": workflow_id,
            "statuses": [s.value for s in self.statuses] if self.statuses else None,
            "since": format_time(self.since) if self.since else None,
            "until": format_time(self.until) if self.until else None,
        }


def _utc_parameter(name: str, moment: datetime | None) -> datetime | None:
    """The time in UTC, which the store can compare and format; a 400 naming the parameter
    when it has no time zone or UTC cannot hold it."""
    if moment is None:
        return None
    try:
        return as_utc(moment)
    except ValueError as error:
        raise InvalidParameterError(name, str(error)) from None


#: Per stream (a status, or ``*`` for all): where it resumes, or ``end`` once exhausted. A
#: stream not yet read from is absent.
_Cursor = dict[str, tuple[str, str] | Literal["end"]]
_CURSOR = TypeAdapter(_Cursor)
_ALL_STATUSES = "*"


# -- what the queries need from outside ------------------------------------------------------------


class WorkflowSource(Protocol):
    """The part of :class:`~snsflow.executions.CachedWorkflows` used here."""

    def get(self, workflow_id: str) -> WorkflowRecord | None: ...

    def all(self) -> list[WorkflowRecord]: ...


class ExecutionSource(Protocol):
    """Listing and counting (:class:`~snsflow.store.execution_queries.ExecutionQueries`)."""

    def newest_first(
        self,
        workflow_id: str,
        *,
        status: ExecutionStatus | None,
        since: datetime | None,
        until: datetime | None,
        after: ListPosition | None,
        limit: int,
    ) -> tuple[list[ListedExecution], bool]: ...

    def count(self, workflow_id: str, status: ExecutionStatus, *, since: datetime) -> int: ...


class ExecutionLookup(Protocol):
    """The part of :class:`~snsflow.store.executions.ExecutionStore` used here."""

    def find_by_execution_id(self, execution_id: str) -> ExecutionRecord | None: ...

    def get(self, workflow_id: str, message_id: str) -> ExecutionRecord | None: ...


class SubscriptionSource(Protocol):
    def list_for_workflow(self, workflow_id: str) -> list[SubscriptionRecord]: ...


class DeliveryLogReader(Protocol):
    """:class:`snsflow.delivery_reads.DeliveryReader`."""

    def page(
        self, workflow_id: str, filters: Any, *, limit: int, next_token: str | None
    ) -> ApiModel: ...

    def health(
        self, workflow_id: str, records: Iterable[SubscriptionRecord]
    ) -> tuple[Mapping[str, ApiModel], list[SubscriptionRecord]]: ...


# -- the queries ----------------------------------------------------------------------------------


class QueryService:
    """Answers the read routes of the API."""

    def __init__(
        self,
        *,
        workflows: WorkflowSource,
        executions: ExecutionSource,
        lookup: ExecutionLookup,
        subscriptions: SubscriptionSource,
        tokens: PageTokens,
        clock: Clock,
        retention: timedelta,
        deliveries: DeliveryLogReader | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._workflows = workflows
        self._executions = executions
        self._lookup = lookup
        self._subscriptions = subscriptions
        self._tokens = tokens
        self._clock = clock
        self._retention = retention

    def list_workflows(self, api_url: str) -> WorkflowList:
        """Every workflow; ``api_url`` is the API's base URL (for the webhook URLs)."""
        return WorkflowList(items=[self._view(w, api_url) for w in self._workflows.all()])

    def get_workflow(self, workflow_id: str, api_url: str) -> WorkflowView:
        return self._view(self._workflow(workflow_id), api_url)

    def list_executions(
        self,
        workflow_id: str,
        filters: ExecutionFilters,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        next_token: str | None = None,
    ) -> ExecutionPage:
        """A page of a workflow's executions, newest first, and the token of the next page."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidParameterError("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
        self._workflow(workflow_id)
        scope = filters.token_scope(workflow_id)
        cursor = self._open_token(next_token, scope) if next_token else {}
        streams = [s.value for s in filters.statuses] if filters.statuses else [_ALL_STATUSES]
        fetched: dict[str, tuple[list[ListedExecution], bool]] = {}
        for stream in streams:
            resume = cursor.get(stream)
            if resume == "end":
                continue
            fetched[stream] = self._executions.newest_first(
                workflow_id,
                status=None if stream == _ALL_STATUSES else ExecutionStatus(stream),
                since=filters.since,
                until=filters.until,
                after=ListPosition(*resume) if resume else None,
                limit=limit,
            )
        taken = _newest(fetched, limit)
        for stream, (listed, more) in fetched.items():
            used = sum(1 for s, _ in taken if s == stream)
            if used == len(listed) and not more:
                cursor[stream] = "end"
            elif used:
                last = listed[used - 1].position
                cursor[stream] = (last.received_at, last.message_id)
        exhausted = all(cursor.get(stream) == "end" for stream in streams)
        return ExecutionPage(
            items=[_execution(listed.record) for _, listed in taken],
            next_token=None if exhausted else self._tokens.issue(scope, cursor),
        )

    def list_deliveries(
        self,
        workflow_id: str,
        filters: Any,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        next_token: str | None = None,
    ) -> ApiModel:
        """A page of a workflow's delivery log, newest first (snsflow.delivery_reads)."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidParameterError("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
        self._workflow(workflow_id)
        if self._deliveries is None:
            raise NotFoundError("this API keeps no delivery log")
        return self._deliveries.page(workflow_id, filters, limit=limit, next_token=next_token)

    def get_execution(self, execution_id: str) -> ExecutionDetail:
        """By execution id, or by a bare SNS MessageId: one read per workflow (the records' key
        is ``<workflowId>#<MessageId>``), no scan, no index."""
        if _MESSAGE_ID.fullmatch(execution_id):
            return execution_detail(self._by_message_id(execution_id))
        check_execution_id(execution_id)
        record = self._lookup.find_by_execution_id(execution_id)
        if record is None:
            raise ExecutionNotFoundError(f"no execution '{execution_id}'")
        return execution_detail(record)

    def _by_message_id(self, message_id: str) -> ExecutionRecord:
        found = [
            record
            for workflow in sorted(self._workflows.all(), key=lambda w: w.workflow_id)
            if (record := self._lookup.get(workflow.workflow_id, message_id)) is not None
        ]
        if not found:
            raise ExecutionNotFoundError(
                f"no execution has the id or the SNS MessageId '{message_id}'"
            )
        if len(found) > 1:
            raise AmbiguousMessageIdError(message_id, [r.execution_id for r in found])
        return found[0]

    def _workflow(self, workflow_id: str) -> WorkflowRecord:
        workflow = self._workflows.get(workflow_id) if _WORKFLOW_ID.fullmatch(workflow_id) else None
        if workflow is None:
            raise WorkflowNotFoundError(f"no workflow '{workflow_id[:64]}'")
        return workflow

    def _open_token(self, token: str, scope: dict[str, Any]) -> _Cursor:
        try:
            return _CURSOR.validate_python(self._tokens.open(token, scope))
        except PageTokenError as error:
            raise InvalidParameterError("nextToken", str(error)) from None
        except ValidationError:
            raise InvalidParameterError("nextToken", "is not a token this API issued") from None

    def _view(self, workflow: WorkflowRecord, api_url: str) -> WorkflowView:
        since = self._clock() - self._retention
        subscriptions = self._subscriptions.list_for_workflow(workflow.workflow_id)
        health: Mapping[str, ApiModel] = {}
        if self._deliveries is not None:
            health, unrecorded = self._deliveries.health(workflow.workflow_id, subscriptions)
            subscriptions = [*subscriptions, *unrecorded]
        return WorkflowView(
            id=workflow.workflow_id,
            name=workflow.name,
            webhook_url=webhook_url(api_url, workflow.workflow_id),
            api_key_name=workflow.api_key_name,
            allowed_topic_arns=workflow.allowed_topic_arns,
            state_machine_arn=workflow.state_machine_arn,
            state_machine_type=workflow.state_machine_type,
            subscriptions=[
                Subscription.model_validate(
                    {
                        **s.model_dump(exclude=_UNSHOWN_SUBSCRIPTION_FIELDS),
                        **(h.model_dump() if (h := health.get(s.topic_arn)) else {}),
                        "checked_against_sns": SnsCheckView.of(s.sns_check),
                    }
                )
                for s in sorted(subscriptions, key=lambda s: s.topic_arn)
            ],
            counts={
                status: self._executions.count(workflow.workflow_id, status, since=since)
                for status in ExecutionStatus
            },
            counts_since=since,
        )


def _newest(
    fetched: dict[str, tuple[list[ListedExecution], bool]], limit: int
) -> list[tuple[str, ListedExecution]]:
    """The ``limit`` newest of the streams' records (each stream is newest first already)."""
    tagged = (
        [(stream, listed) for listed in records] for stream, (records, _more) in fetched.items()
    )
    merged = heapq.merge(*tagged, key=lambda pair: pair[1].position.received_at, reverse=True)
    return [pair for pair, _ in zip(merged, range(limit), strict=False)]


def check_execution_id(execution_id: str) -> None:
    """A 400 naming the parameter unless ``execution_id`` could be an execution's id."""
    if not _EXECUTION_ID.fullmatch(execution_id):
        raise InvalidParameterError(
            "executionId", "is not an execution id ('<workflowId>.<execution name>')"
        )


def webhook_path(workflow_id: str) -> str:
    """The end of a workflow's webhook URL (what follows the API's base URL)."""
    return f"/webhooks/{workflow_id}"


def webhook_url(api_url: str, workflow_id: str) -> str:
    return f"{api_url.rstrip('/')}{webhook_path(workflow_id)}"


def console_url(execution_arn: str) -> str | None:
    """The execution's page in the AWS console (commercial partition ARNs only)."""
    parts = execution_arn.split(":")
    if len(parts) < 4 or parts[:3] != ["arn", "aws", "states"] or not parts[3]:
        return None
    region = parts[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def _execution(record: ExecutionRecord) -> Execution:
    return Execution.model_validate(record.model_dump(include=set(Execution.model_fields)))


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _sns_message(record: ExecutionRecord, document: Any) -> dict[str, Any]:
    fields = document if isinstance(document, dict) else {}
    return {
        "Type": "Notification",
        # The input's: a re-run's record is keyed by its request, its message is the original's.
        "MessageId": fields.get("messageId") or record.message_id,
        "TopicArn": record.topic_arn,
        "Subject": record.subject,
        # None when the message was too large to keep twice (``rawMessageOmitted``); the input's
        # ``message`` still holds it.
        "Message": fields.get("rawMessage"),
        "Timestamp": record.message_timestamp,
        "MessageAttributes": fields.get("messageAttributes") or {},
    }


def _actions(record: ExecutionRecord) -> list[Action]:
    taken = [
        Action(
            action=note.action,
            by=note.by,
            at=note.at,
            execution_id=note.execution_id,
            redrive_count=note.redrive_count,
        )
        for note in record.actions
    ]
    recovered = [
        Action(action="recover", by=note.by, at=note.at, outcome=note.outcome)
        for note in record.recoveries
    ]
    return sorted([*taken, *recovered], key=lambda action: action.at)


def execution_detail(record: ExecutionRecord) -> ExecutionDetail:
    execution_input = _json_or_text(record.input)
    summary = record.model_dump(include=set(Execution.model_fields))
    return ExecutionDetail(
        **summary,
        execution_name=record.execution_name,
        input=execution_input,
        output=_json_or_text(record.output) if not record.output_truncated else record.output,
        output_truncated=record.output_truncated,
        error=record.error,
        cause=record.cause,
        cause_truncated=record.cause_truncated,
        last_start_error=record.last_start_error,
        sns_message=_sns_message(record, execution_input),
        console_url=console_url(record.execution_arn) if record.execution_arn else None,
        expires_at=record.expires_at,
        reruns=list(record.reruns),
        actions=_actions(record),
    )
