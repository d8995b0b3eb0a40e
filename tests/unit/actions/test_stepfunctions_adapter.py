"""The Step Functions adapter's history, redrive and describe, against botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from snsflow.errors import DependencyUnavailableError
from snsflow.stepfunctions import ExecutionNotRedrivableError, StepFunctionsExecutions
from tests.unit.executions.fakes import T0

ARN = "arn:aws:states:us-east-1:123456789012:execution:snsflow-order-events:m-1"


@pytest.fixture
def stubbed() -> Iterator[tuple[StepFunctionsExecutions, Stubber]]:
    client = boto3.client(
        "stepfunctions",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield StepFunctionsExecutions(client), stubber
        stubber.assert_no_pending_responses()


def test_history_asks_for_a_page_and_hands_on_its_token(
    stubbed: tuple[StepFunctionsExecutions, Stubber],
) -> None:
    adapter, stubber = stubbed
    event = {"timestamp": T0, "type": "ExecutionStarted", "id": 1}
    stubber.add_response(
        "get_execution_history",
        {"events": [event], "nextToken": "t-2"},
        {"executionArn": ARN, "maxResults": 1000, "nextToken": "t-1"},
    )

    page = adapter.history(ARN, next_token="t-1", max_results=1000)

    assert page.next_token == "t-2"
    assert [e["type"] for e in page.events] == ["ExecutionStarted"]


def test_a_refused_redrive_says_why_and_an_outage_is_a_503(
    stubbed: tuple[StepFunctionsExecutions, Stubber],
) -> None:
    adapter, stubber = stubbed
    stubber.add_client_error(
        "redrive_execution",
        "ExecutionNotRedrivable",
        "Execution is SUCCEEDED and cannot be redriven",
        expected_params={"executionArn": ARN, "clientToken": "c" * 32},
    )
    stubber.add_client_error("redrive_execution", "ThrottlingException", http_status_code=400)

    with pytest.raises(ExecutionNotRedrivableError, match="SUCCEEDED and cannot be redriven"):
        adapter.redrive(ARN, client_token="c" * 32)
    with pytest.raises(DependencyUnavailableError, match="ThrottlingException"):
        adapter.redrive(ARN, client_token="c" * 32)


def test_describe_reads_the_redrive_fields(
    stubbed: tuple[StepFunctionsExecutions, Stubber],
) -> None:
    adapter, stubber = stubbed
    stubber.add_response(
        "describe_execution",
        {
            "executionArn": ARN,
            "stateMachineArn": ARN.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
            "status": "FAILED",
            "startDate": T0,
            "redriveCount": 2,
            "redriveStatus": "NOT_REDRIVABLE",
            "redriveStatusReason": "Execution history event limit exceeded",
        },
    )

    described = adapter.describe(ARN)

    assert (described.redrive_count, described.redrive_status) == (2, "NOT_REDRIVABLE")
    assert described.redrive_status_reason == "Execution history event limit exceeded"
