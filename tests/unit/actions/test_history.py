"""Step Functions history events grouped into states (pure)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from snsflow.actions import HISTORY_VALUE_MAX_BYTES, group_states
from tests.unit.executions.fakes import T0


class History:
    """Builds events as GetExecutionHistory gives them, one millisecond apart."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, details_key: str | None = None, **details: Any) -> History:
        event: dict[str, Any] = {
            "type": kind,
            "id": len(self.events) + 1,
            "timestamp": T0 + timedelta(milliseconds=len(self.events)),
        }
        if details:
            event[details_key or f"{kind[0].lower()}{kind[1:]}EventDetails"] = details
        self.events.append(event)
        return self

    def entered(self, kind: str, name: str, value: str = "{}") -> History:
        return self.add(f"{kind}StateEntered", "stateEnteredEventDetails", name=name, input=value)

    def exited(self, kind: str, name: str, value: str = "{}") -> History:
        return self.add(f"{kind}StateExited", "stateExitedEventDetails", name=name, output=value)


def test_a_run_that_fails_in_a_fail_state_names_it() -> None:
    history = (
        History()
        .add("ExecutionStarted")
        .entered("Choice", "Route", '{"status": "rejected"}')
        .exited("Choice", "Route")
        .entered("Fail", "Rejected")
        .add("ExecutionFailed", error="OrderRejected", cause="rejected")
    )

    states, failed_state, still_open = group_states(history.events)

    assert [(s.name, s.type, s.status) for s in states] == [
        ("Route", "Choice", "SUCCEEDED"),
        ("Rejected", "Fail", "FAILED"),
    ]
    assert states[0].input == {"status": "rejected"}
    assert states[0].duration_ms == 1
    assert (states[1].error, states[1].cause) == ("OrderRejected", "rejected")
    assert failed_state == "Rejected"
    assert not still_open


def test_a_task_failure_a_catch_handles_is_caught_and_the_run_goes_on() -> None:
    history = (
        History()
        .entered("Task", "Charge")
        .add("TaskFailed", error="Card.Declined", cause="no funds")
        .exited("Task", "Charge")
        .entered("Pass", "Refund")
        .exited("Pass", "Refund")
        .add("ExecutionSucceeded")
    )

    states, failed_state, _ = group_states(history.events)

    assert [(s.name, s.status, s.error) for s in states] == [
        ("Charge", "CAUGHT", "Card.Declined"),
        ("Refund", "SUCCEEDED", None),
    ]
    assert failed_state is None


def test_a_task_that_fails_the_run_and_its_enclosing_parallel_end_with_it() -> None:
    history = (
        History()
        .entered("Parallel", "Fan")
        .entered("Task", "Call")
        .add("TaskFailed", error="States.Timeout", cause="slow")
        .add("ExecutionTimedOut")
    )

    states, failed_state, still_open = group_states(history.events)

    assert [(s.name, s.status) for s in states] == [("Fan", "TIMED_OUT"), ("Call", "TIMED_OUT")]
    assert states[1].error == "States.Timeout"
    assert failed_state == "Call"
    assert not still_open


def test_a_state_still_running_has_no_exit() -> None:
    states, failed_state, still_open = group_states(History().entered("Wait", "Pause").events)

    assert [(s.status, s.exited_at, s.duration_ms) for s in states] == [("RUNNING", None, None)]
    assert failed_state is None
    assert still_open


def test_a_redriven_run_that_succeeds_has_no_failed_state() -> None:
    history = (
        History()
        .entered("Fail", "Broken")
        .add("ExecutionFailed", error="E", cause="c")
        .add("ExecutionRedriven", redriveCount=1)
        .entered("Pass", "Fixed")
        .exited("Pass", "Fixed")
        .add("ExecutionSucceeded")
    )

    states, failed_state, _ = group_states(history.events)

    assert [(s.name, s.status) for s in states] == [("Broken", "FAILED"), ("Fixed", "SUCCEEDED")]
    assert failed_state is None


def test_large_values_are_cut_and_flagged_small_ones_parsed() -> None:
    large = '{"blob": "' + "é" * HISTORY_VALUE_MAX_BYTES + '"}'
    history = History().entered("Pass", "Big", large).exited("Pass", "Big", "not json")

    [state] = group_states(history.events)[0]

    assert state.input_truncated
    assert isinstance(state.input, str)
    assert len(state.input.encode("utf-8")) <= HISTORY_VALUE_MAX_BYTES
    assert (state.output, state.output_truncated) == ("not json", False)
