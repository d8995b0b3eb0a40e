"""An EXPRESS workflow on the local stack: Step Functions sends no status events for it, so its
outcome is recorded by the deployed (wrapped) definition itself, through moto's DynamoDB."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from snsflow.executions import execution_name
from snsflow.local.stack import LocalStack, LocalStackConfig, wait_until
from snsflow.store.executions import ExecutionStatus
from tests.e2e.conftest import DEADLINE_SECONDS, Driver

pytestmark = pytest.mark.e2e

WORKFLOWS = Path(__file__).resolve().parents[1] / "fixtures" / "workflows-three"
EXPRESS_WORKFLOW = "metrics-fast"


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    with LocalStack(LocalStackConfig(workflows_dir=WORKFLOWS, sns_delay_scale=0.01)) as stack:
        yield stack


def test_express_run_records_its_own_outcome_once(driver: Driver) -> None:
    assert driver.stack.workflow(EXPRESS_WORKFLOW).state_machine_type == "EXPRESS"
    topic = driver.new_topic("metrics")
    driver.subscribe_confirmed(EXPRESS_WORKFLOW, topic)

    message_id = driver.sns.publish(TopicArn=topic, Message=json.dumps({"cpu": 0.5}))["MessageId"]

    detail = wait_until(
        lambda: driver.finished_execution(f"{EXPRESS_WORKFLOW}.{execution_name(message_id)}"),
        timeout=DEADLINE_SECONDS,
        what="the EXPRESS run to record its outcome",
    )
    assert detail.status is ExecutionStatus.SUCCEEDED
    assert detail.stopped_at is not None
    assert detail.output["message"] == {"cpu": 0.5}  # the workflow's pass-through output
    assert Counter(driver.step_functions_runs(EXPRESS_WORKFLOW))[execution_name(message_id)] == 1
