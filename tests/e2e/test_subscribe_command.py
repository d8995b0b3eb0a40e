"""``snsflow subscribe`` as a user runs it against the local stack: the installed command, in its
own process, reading the info file; then a published message runs the workflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snsflow.executions import execution_name
from snsflow.local.stack import wait_until
from snsflow.store.executions import ExecutionStatus
from snsflow.store.subscriptions import SubscriptionStatus
from snsflow.subscribe import subscription_attributes
from tests.e2e.conftest import DEADLINE_SECONDS, Driver

pytestmark = pytest.mark.e2e

SNSFLOW = Path(sys.executable).with_name("snsflow")
WORKFLOW = "order-events"


def _command_environment() -> dict[str, str]:
    # Nothing of the developer's AWS configuration or snsflow settings; the local SNS takes any
    # credentials.
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SNSFLOW_"))
    }
    return kept | {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def _subscribe(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SNSFLOW), "subscribe", *argv],
        env=_command_environment(),
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS * 2,
        check=False,
    )


def test_subscribe_with_the_info_file_confirms_and_a_message_then_runs_the_workflow(
    driver: Driver, tmp_path: Path
) -> None:
    info_file = tmp_path / "local.json"
    driver.stack.write_info_file(info_file)
    key = json.loads(info_file.read_text())["keys"]["prod-sns"]
    topic = driver.new_topic()

    result = _subscribe(WORKFLOW, topic, "--info-file", str(info_file), "--timeout", "30")

    assert result.returncode == 0, result.stderr
    subscription_arn = result.stdout.strip()
    assert subscription_arn.startswith(f"{topic}:")
    assert key not in result.stdout + result.stderr
    assert "Confirmed" in result.stderr
    assert f"?x-api-key={key[:13]}…" in result.stderr
    attributes = driver.sns.get_subscription_attributes(SubscriptionArn=subscription_arn)[
        "Attributes"
    ]
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["Protocol"] == "http"
    assert attributes["Endpoint"] == driver.stack.workflow(WORKFLOW).sns_endpoint
    assert attributes["DeliveryPolicy"] == subscription_attributes()["DeliveryPolicy"]
    wait_until(
        lambda: driver.subscription_status(WORKFLOW, topic) is SubscriptionStatus.CONFIRMED,
        timeout=DEADLINE_SECONDS,
        what="snsflow's record of the subscription to say confirmed",
    )

    message_id = driver.sns.publish(
        TopicArn=topic, Message=json.dumps({"orderId": "S-1", "status": "accepted"})
    )["MessageId"]
    detail = wait_until(
        lambda: driver.finished_execution(f"{WORKFLOW}.{execution_name(message_id)}"),
        timeout=DEADLINE_SECONDS,
        what="the published order's run to end",
    )

    assert detail.status is ExecutionStatus.SUCCEEDED
    assert detail.input["message"] == {"orderId": "S-1", "status": "accepted"}


def test_subscribe_of_a_workflow_the_local_stack_lacks_exits_2_naming_the_known_ones(
    driver: Driver, tmp_path: Path
) -> None:
    info_file = tmp_path / "local.json"
    driver.stack.write_info_file(info_file)

    result = _subscribe("no-such-flow", driver.new_topic(), "--info-file", str(info_file))

    assert result.returncode == 2
    assert result.stdout == ""
    assert "no workflow 'no-such-flow'" in result.stderr
    assert "order-events" in result.stderr
