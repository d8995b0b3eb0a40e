"""Redrive and re-run on moto's DynamoDB with an in-memory Step Functions: what is written and
started, and that a refusal writes and starts nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from snsflow import aws
from snsflow.actions import (
    ActionService,
    HistoryNotAvailableError,
    IdempotencyKeyReusedError,
    NotRedrivableError,
    NotRerunnableError,
    rerun_name,
)
from snsflow.errors import DependencyUnavailableError
from snsflow.executions import MAX_EXECUTION_NAME_LENGTH, ExecutionLauncher
from snsflow.pagination import PageTokens
from snsflow.query import ExecutionNotFoundError, InvalidParameterError
from snsflow.reconciler import Reconciler, ReconcilerLimits
from snsflow.stepfunctions import ExecutionDescription, HistoryPage
from snsflow.store.executions import (
    ExecutionClaim,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionStore,
    StatusChange,
)
from snsflow.store.workflows import WorkflowRecord
from tests.unit.executions.fakes import T0, Clock, FakeStarter, workflow

ARN = "arn:aws:states:us-east-1:123456789012:execution:order-events:msg-1"


@dataclass
class FakeStepFunctions:
    """Describes, redrives and pages histories like Step Functions, and counts the redrives."""

    description: dict[str, Any] = field(default_factory=dict)
    redrives: list[tuple[str, str]] = field(default_factory=list)
    pages: list[HistoryPage] = field(default_factory=list)
    asked: list[str | None] = field(default_factory=list)
    #: Runs as Step Functions redrives (the new attempt may end before the caller goes on).
    while_redriving: Callable[[], object] = lambda: None

    #: Client token -> redrive time: Step Functions answers a repeated token as the first time.
    tokens: dict[str, datetime] = field(default_factory=dict)

    def describe(self, arn: str) -> ExecutionDescription:
        fields = {
            "execution_arn": arn,
            "status": "RUNNING" if self.tokens else "FAILED",
            "started_at": T0,
            "redrive_count": len(self.tokens),
        }
        return ExecutionDescription.model_validate(fields | self.description)

    def history(self, arn: str, *, next_token: str | None, max_results: int) -> HistoryPage:
        self.asked.append(next_token)
        return self.pages[len(self.asked) - 1]

    def redrive(self, arn: str, *, client_token: str) -> datetime:
        self.redrives.append((arn, client_token))
        if client_token in self.tokens:
            return self.tokens[client_token]
        self.tokens[client_token] = T0 + timedelta(hours=len(self.tokens) + 1)
        self.while_redriving()
        return self.tokens[client_token]


@dataclass
class Workflows:
    known: dict[str, WorkflowRecord]

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        return self.known.get(workflow_id)

    def all(self) -> list[WorkflowRecord]:
        return list(self.known.values())


@pytest.fixture
def store(dynamodb_tables: dict[str, str]) -> ExecutionStore:
    return ExecutionStore(aws.dynamodb_resource().Table(dynamodb_tables["Executions"]))


@pytest.fixture
def step_functions() -> FakeStepFunctions:
    return FakeStepFunctions()


@pytest.fixture
def starter() -> FakeStarter:
    return FakeStarter()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(hours=1))


@pytest.fixture
def service(
    store: ExecutionStore, step_functions: FakeStepFunctions, starter: FakeStarter, clock: Clock
) -> ActionService:
    retention = timedelta(days=30)
    return ActionService(
        records=store,
        workflows=Workflows(
            {
                "order-events": workflow(),
                "metrics": workflow("metrics", state_machine_type="EXPRESS"),
            }
        ),
        step_functions=step_functions,
        launcher=ExecutionLauncher(store, starter, clock=clock, retention=retention),
        tokens=PageTokens(b"s" * 32),
        clock=clock,
        retention=retention,
    )


def _ended(
    store: ExecutionStore,
    status: ExecutionStatus = ExecutionStatus.FAILED,
    *,
    workflow_id: str = "order-events",
    name: str = "msg-1",
    stopped: datetime = T0,
) -> ExecutionRecord:
    store.claim(
        ExecutionClaim(
            workflow_id=workflow_id,
            message_id=name,
            execution_id=f"{workflow_id}.{name}",
            execution_name=name,
            topic_arn="arn:aws:sns:us-east-1:123456789012:orders",
            subject="s",
            message_timestamp="2026-03-01T09:00:00.000Z",
            input='{"messageId": "msg-1"}',
            received_at=T0,
            expires_at=T0 + timedelta(days=30),
        )
    )
    change = StatusChange(
        status=status,
        execution_arn=ARN,
        started_at=T0,
        stopped_at=stopped if status.is_terminal else None,
        error="Boom" if status is ExecutionStatus.FAILED else None,
        redrive_count=0,
    )
    store.change_status(workflow_id, name, change)
    record = store.get(workflow_id, name)
    assert record is not None
    return record


# -- redrive --------------------------------------------------------------------------------------


def test_a_redrive_puts_the_record_back_to_running_and_notes_who(
    service: ActionService, store: ExecutionStore, step_functions: FakeStepFunctions
) -> None:
    record = _ended(store)

    detail = service.redrive(record.execution_id, caller="on-call", idempotency_key="k-1")

    assert len(step_functions.redrives) == 1
    assert detail.status is ExecutionStatus.RUNNING
    assert detail.redrive_count == 1
    assert detail.error is None and detail.stopped_at is None  # noqa: PT018 - the old outcome
    [action] = detail.actions
    assert (action.action, action.by, action.redrive_count) == ("redrive", "on-call", 1)
    assert action.at == T0 + timedelta(hours=1)  # Step Functions' redrive time


def test_a_redrive_retried_after_its_record_write_failed_completes_once(
    service: ActionService,
    store: ExecutionStore,
    step_functions: FakeStepFunctions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = _ended(store)
    with monkeypatch.context() as outage:
        outage.setattr(store, "record_redrive", _raise_outage)
        with pytest.raises(DependencyUnavailableError):
            service.redrive(record.execution_id, caller="on-call", idempotency_key="k-1")

    detail = service.redrive(record.execution_id, caller="on-call", idempotency_key="k-1")

    assert len(step_functions.tokens) == 1  # one redrive: the retry was answered as the first
    assert (detail.status, detail.redrive_count) == (ExecutionStatus.RUNNING, 1)
    assert [(a.action, a.redrive_count) for a in detail.actions] == [("redrive", 1)]


def _raise_outage(*_args: object, **_kwargs: object) -> bool:
    raise DependencyUnavailableError("DynamoDB is unavailable")


def test_the_same_redrive_request_again_redrives_once(
    service: ActionService, store: ExecutionStore, step_functions: FakeStepFunctions
) -> None:
    record = _ended(store)

    first = service.redrive(record.execution_id, caller="on-call", idempotency_key="k-1")
    again = service.redrive(record.execution_id, caller="on-call", idempotency_key="k-1")

    assert len(step_functions.redrives) == 1
    assert again == first


@pytest.mark.parametrize(
    ("status", "stopped", "description", "reason"),
    [
        (ExecutionStatus.SUCCEEDED, T0, {}, "it is SUCCEEDED"),
        (ExecutionStatus.RUNNING, T0, {}, "it is RUNNING"),
        (ExecutionStatus.FAILED, T0 - timedelta(days=15), {}, "more than 14 days ago"),
        (
            ExecutionStatus.FAILED,
            T0,
            {"redrive_status": "NOT_REDRIVABLE", "redrive_status_reason": "Too many events"},
            "Too many events",
        ),
    ],
)
def test_a_refused_redrive_redrives_and_writes_nothing(
    service: ActionService,
    store: ExecutionStore,
    step_functions: FakeStepFunctions,
    status: ExecutionStatus,
    stopped: datetime,
    description: dict[str, Any],
    reason: str,
) -> None:
    record = _ended(store, status, stopped=stopped)
    step_functions.description = description

    with pytest.raises(NotRedrivableError, match=reason):
        service.redrive(record.execution_id, caller="on-call", idempotency_key=None)

    assert step_functions.redrives == []
    assert store.get(record.workflow_id, record.message_id) == record


def test_an_express_execution_is_neither_redriven_nor_re_run_nor_has_a_history(
    service: ActionService,
    store: ExecutionStore,
    step_functions: FakeStepFunctions,
    starter: FakeStarter,
) -> None:
    record = _ended(store, workflow_id="metrics")

    with pytest.raises(NotRedrivableError, match="EXPRESS"):
        service.redrive(record.execution_id, caller="on-call", idempotency_key=None)
    with pytest.raises(NotRerunnableError, match="EXPRESS"):
        service.rerun(record.execution_id, caller="on-call", idempotency_key=None)
    with pytest.raises(HistoryNotAvailableError, match="EXPRESS"):
        service.history(record.execution_id)

    assert step_functions.redrives == []
    assert starter.calls == 0
    assert store.get(record.workflow_id, record.message_id) == record


def test_unknown_and_malformed_executions(service: ActionService) -> None:
    with pytest.raises(ExecutionNotFoundError):
        service.redrive("order-events.nope", caller="on-call", idempotency_key=None)
    with pytest.raises(InvalidParameterError, match="executionId"):
        service.rerun("no dots here", caller="on-call", idempotency_key=None)
    with pytest.raises(InvalidParameterError, match="Idempotency-Key"):
        service.rerun("order-events.nope", caller="on-call", idempotency_key="with space")


# -- status events around a redrive ---------------------------------------------------------------


def test_a_late_outcome_of_the_attempt_before_a_redrive_changes_nothing(
    service: ActionService, store: ExecutionStore
) -> None:
    record = _ended(store)
    service.redrive(record.execution_id, caller="on-call", idempotency_key=None)
    late = StatusChange(status=ExecutionStatus.FAILED, execution_arn=ARN, redrive_count=0)
    new = StatusChange(
        status=ExecutionStatus.SUCCEEDED, execution_arn=ARN, output="{}", redrive_count=1
    )

    assert not store.change_status(record.workflow_id, record.message_id, late)
    assert store.change_status(record.workflow_id, record.message_id, new)
    settled = store.get(record.workflow_id, record.message_id)
    assert settled is not None
    assert (settled.status, settled.redrive_count, settled.error) == (
        ExecutionStatus.SUCCEEDED,
        1,
        None,
    )


def test_the_new_attempts_outcome_may_arrive_before_the_redrive_is_recorded(
    service: ActionService, store: ExecutionStore, step_functions: FakeStepFunctions
) -> None:
    record = _ended(store)
    early = StatusChange(
        status=ExecutionStatus.SUCCEEDED, execution_arn=ARN, output="{}", redrive_count=1
    )
    step_functions.while_redriving = lambda: store.change_status(
        record.workflow_id, record.message_id, early
    )

    detail = service.redrive(record.execution_id, caller="on-call", idempotency_key=None)

    assert detail.status is ExecutionStatus.SUCCEEDED  # not set back to RUNNING
    assert detail.error is None
    assert [a.action for a in detail.actions] == ["redrive"]


# -- re-run ---------------------------------------------------------------------------------------


def test_a_rerun_is_its_own_record_linked_both_ways_and_started(
    service: ActionService, store: ExecutionStore, starter: FakeStarter
) -> None:
    record = _ended(store)

    result, created = service.rerun(record.execution_id, caller="on-call", idempotency_key="k")
    second, _ = service.rerun(record.execution_id, caller="on-call", idempotency_key="k2")
    of_rerun, _ = service.rerun(
        second.execution.execution_id, caller="on-call", idempotency_key="k3"
    )

    assert created
    rerun = result.execution
    assert (rerun.execution_name, rerun.rerun_of, rerun.status) == (
        "msg-1.r1",
        record.execution_id,
        ExecutionStatus.RUNNING,
    )
    assert rerun.input == {"messageId": "msg-1"}
    assert second.execution.execution_name == "msg-1.r2"
    assert of_rerun.rerun_of == record.execution_id  # a re-run of a re-run re-runs the original
    assert of_rerun.execution.execution_name == "msg-1.r3"
    original = store.get(record.workflow_id, record.message_id)
    assert original is not None
    assert original.reruns == (
        "order-events.msg-1.r1",
        "order-events.msg-1.r2",
        "order-events.msg-1.r3",
    )
    assert [(a.action, a.by) for a in original.actions] == [("rerun", "on-call")] * 3
    assert original.status is ExecutionStatus.FAILED
    assert sorted(starter.started) == ["msg-1.r1", "msg-1.r2", "msg-1.r3"]


def test_the_same_rerun_request_again_starts_one_run(
    service: ActionService, store: ExecutionStore, starter: FakeStarter
) -> None:
    record = _ended(store)

    first, created = service.rerun(record.execution_id, caller="on-call", idempotency_key="k")
    again, created_again = service.rerun(record.execution_id, caller="on-call", idempotency_key="k")
    other_caller, _ = service.rerun(record.execution_id, caller="robot", idempotency_key="k")

    assert (created, created_again) == (True, False)
    assert again == first
    assert starter.calls == 2  # "robot"'s key is its own
    assert other_caller.execution.execution_name == "msg-1.r2"


def test_a_rerun_that_could_not_start_starts_when_asked_again(
    service: ActionService, store: ExecutionStore, starter: FakeStarter
) -> None:
    record = _ended(store)
    starter.failure = "throttled"

    with pytest.raises(Exception, match="throttled"):
        service.rerun(record.execution_id, caller="on-call", idempotency_key="k")
    starter.failure = None
    result, created = service.rerun(record.execution_id, caller="on-call", idempotency_key="k")

    assert not created
    assert result.execution.status is ExecutionStatus.RUNNING
    assert list(starter.started) == ["msg-1.r1"]


def test_an_idempotency_key_used_for_another_execution_is_refused(
    service: ActionService, store: ExecutionStore, starter: FakeStarter
) -> None:
    first = _ended(store)
    other = _ended(store, name="msg-2")
    service.rerun(first.execution_id, caller="on-call", idempotency_key="k")

    with pytest.raises(IdempotencyKeyReusedError):
        service.rerun(other.execution_id, caller="on-call", idempotency_key="k")

    assert starter.calls == 1
    assert store.get(other.workflow_id, other.message_id) == other


def test_an_unfinished_execution_is_not_re_run(
    service: ActionService, store: ExecutionStore, starter: FakeStarter
) -> None:
    record = _ended(store, ExecutionStatus.RUNNING)

    with pytest.raises(NotRerunnableError, match="RUNNING"):
        service.rerun(record.execution_id, caller="on-call", idempotency_key=None)

    assert starter.calls == 0
    assert store.get(record.workflow_id, record.message_id) == record


def test_rerun_names_stay_within_80_characters_and_apart() -> None:
    long_a, long_b = "a" * 79 + "x", "a" * 79 + "y"

    assert rerun_name("msg", 12) == "msg.r12"
    for name in (long_a, long_b):
        assert len(rerun_name(name, 1000)) == MAX_EXECUTION_NAME_LENGTH
        assert rerun_name(name, 1000).endswith(".r1000")
    assert rerun_name(long_a, 1) != rerun_name(long_b, 1)


# -- history paging -------------------------------------------------------------------------------


def test_history_pages_end_where_no_state_is_open(
    service: ActionService, store: ExecutionStore, step_functions: FakeStepFunctions
) -> None:
    record = _ended(store)
    other = _ended(store, name="msg-2")

    def event(kind: str, name: str) -> dict[str, Any]:
        key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        return {"type": kind, "timestamp": T0, key: {"name": name}}

    step_functions.pages = [
        HistoryPage(events=[event("TaskStateEntered", "A")], next_token="sfn-1"),
        HistoryPage(events=[event("TaskStateExited", "A")], next_token="sfn-2"),
        HistoryPage(events=[event("PassStateEntered", "B"), event("PassStateExited", "B")]),
    ]

    first = service.history(record.execution_id)
    second = service.history(record.execution_id, first.next_token)

    assert [(s.name, s.status) for s in first.states] == [("A", "SUCCEEDED")]
    assert [(s.name, s.status) for s in second.states] == [("B", "SUCCEEDED")]
    assert second.next_token is None
    assert step_functions.asked == [None, "sfn-1", "sfn-2"]
    with pytest.raises(InvalidParameterError, match="nextToken"):
        service.history(other.execution_id, first.next_token)


def test_the_reconciler_settles_a_redriven_run_whose_status_events_were_lost(
    service: ActionService, store: ExecutionStore, starter: FakeStarter, clock: Clock
) -> None:
    record = _ended(store)
    service.redrive(record.execution_id, caller="on-call", idempotency_key=None)

    class SecondAttemptSucceeded:
        def describe(self, arn: str) -> ExecutionDescription:
            return ExecutionDescription(
                execution_arn=arn, status="SUCCEEDED", started_at=T0, output="{}", redrive_count=1
            )

    clock.advance(hours=1)
    report = Reconciler(
        workflows=Workflows({"order-events": workflow()}),
        records=store,
        launcher=ExecutionLauncher(store, starter, clock=clock, retention=timedelta(days=30)),
        describer=SecondAttemptSucceeded(),
        clock=clock,
        limits=ReconcilerLimits(
            start_grace=timedelta(minutes=5),
            running_check_after=timedelta(minutes=15),
            max_starts=10,
            max_checks=10,
        ),
    ).run()

    settled = store.get(record.workflow_id, record.message_id)
    assert settled is not None
    assert report.finished == 1
    assert (settled.status, settled.redrive_count, settled.error) == (
        ExecutionStatus.SUCCEEDED,
        1,
        None,
    )
