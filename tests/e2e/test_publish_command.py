"""``snsflow publish`` as a user runs it against the local stack: the installed command, in its
own process, with nothing but the info file (no AWS configuration at all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import DEADLINE_SECONDS, Driver

pytestmark = pytest.mark.e2e

SNSFLOW = Path(sys.executable).with_name("snsflow")
WORKFLOW = "order-events"
#: The other example workflow: nothing subscribes a topic to it in this module.
UNSUBSCRIBED_WORKFLOW = "audit-log"


def _snsflow(*argv: str) -> subprocess.CompletedProcess[str]:
    # Nothing of the developer's AWS configuration or snsflow settings: the info file is all.
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SNSFLOW_"))
    }
    return subprocess.run(
        [str(SNSFLOW), *argv],
        env=environment,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS * 2,
        check=False,
    )


@pytest.fixture
def info_file(driver: Driver, tmp_path: Path) -> Path:
    path = tmp_path / "local.json"
    driver.stack.write_info_file(path)
    return path


@pytest.fixture
def subscribed(driver: Driver) -> str:
    """The one topic subscribed to the workflow in this module's local stack."""
    for subscription in driver.api.workflow(WORKFLOW).subscriptions:
        return subscription.topic_arn
    topic = driver.new_topic()
    driver.subscribe_confirmed(WORKFLOW, topic)
    return topic


def _publish(info_file: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    timeout = str(DEADLINE_SECONDS)
    return _snsflow("publish", *argv, "--info-file", str(info_file), "--timeout", timeout)


def test_an_accepted_order_runs_the_workflow_and_prints_its_success(
    subscribed: str, info_file: Path
) -> None:
    result = _publish(info_file, WORKFLOW, "--message", '{"orderId":"A-1","status":"accepted"}')

    assert result.returncode == 0, result.stderr
    assert f"Publishing a JSON message (37 bytes) to {subscribed}" in result.stderr
    assert "SUCCEEDED" in result.stderr.splitlines()[-1]
    outcome = dict(line.split(None, 1) for line in result.stdout.splitlines()[:3])
    assert outcome["Workflow"] == WORKFLOW
    assert outcome["Status"] == "SUCCEEDED"
    assert '"outcome": "accepted"' in result.stdout
    assert '"orderId": "A-1"' in result.stdout


def test_a_rejected_order_fails_the_workflow_and_exits_1_with_its_error(
    subscribed: str, info_file: Path
) -> None:
    result = _publish(
        info_file, WORKFLOW, "--message", '{"orderId":"A-2","status":"rejected"}', "--json"
    )

    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["topicArn"] == subscribed
    assert document["executionId"] == f"{WORKFLOW}.{document['messageId']}"
    assert document["execution"]["status"] == "FAILED"
    assert document["execution"]["error"] == "OrderRejected"
    assert result.stderr.splitlines()[-1].startswith("snsflow publish: the execution FAILED")
    assert result.stderr.splitlines()[-1].endswith(": OrderRejected")


def test_a_workflow_no_topic_is_subscribed_to_is_a_usage_error(info_file: Path) -> None:
    result = _publish(info_file, UNSUBSCRIBED_WORKFLOW)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"snsflow publish: error: workflow '{UNSUBSCRIBED_WORKFLOW}' has no confirmed "
        f"subscription: subscribe a topic first (snsflow subscribe {UNSUBSCRIBED_WORKFLOW} "
        "TOPIC_ARN), or name one with --topic ARN\n"
    )
