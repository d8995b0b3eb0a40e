"""The local stand-in for the status rule: one event per ended execution, none for a start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from mypy_boto3_stepfunctions import SFNClient

from snsflow import aws
from snsflow.local.events import StatusEventPump
from snsflow.status import EVENT_STATUSES, ExecutionStatusChangeEvent

ACCOUNT_ID = "123456789012"
DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}})


@pytest.fixture
def step_functions(aws_environment: None) -> Iterator[SFNClient]:
    with mock_aws():  # moto leaves executions RUNNING until they are stopped
        aws.reset()
        yield aws.stepfunctions_client()


def _machine(client: SFNClient) -> str:
    return client.create_state_machine(
        name="orders",
        definition=DEFINITION,
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/states",
    )["stateMachineArn"]


def test_a_run_sends_its_end_only_once_and_nothing_while_it_runs(
    step_functions: SFNClient,
) -> None:
    machine = _machine(step_functions)
    events: list[dict[str, Any]] = []
    pump = StatusEventPump(
        step_functions, [machine], events.append, region="us-east-1", account_id=ACCOUNT_ID
    )
    ends, runs = (
        step_functions.start_execution(stateMachineArn=machine, name=name, input="{}")[
            "executionArn"
        ]
        for name in ("ends", "runs")
    )
    step_functions.stop_execution(executionArn=ends, error="Stopped", cause="by the test")

    assert pump.poll() == 1
    [event] = events
    assert event["detail"]["executionArn"] == ends
    assert event["detail"]["status"] == "ABORTED"
    assert event["detail"]["status"] in EVENT_STATUSES
    ExecutionStatusChangeEvent.model_validate(event)  # what the status function reads

    assert pump.poll() == 0  # the running one sends nothing, the ended one nothing more
    step_functions.stop_execution(executionArn=runs)
    assert pump.poll() == 1
    assert [e["detail"]["executionArn"] for e in events] == [ends, runs]
    assert pump.poll() == 0
