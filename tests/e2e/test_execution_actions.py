"""Acting on executions on the local stack, over HTTP: step history, redrive, re-run.

The ``flagged-orders`` workflow fails until an item in a table of its own says it may go on, so
a failed execution's cause can be fixed outside the definition (a redrive keeps the definition
the execution started with, as in AWS) and the redrive then succeeds.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from snsflow.cli.main import main
from snsflow.cli.stack import ApiRequestError, ReadApi
from snsflow.executions import execution_name
from snsflow.local.stack import LocalStack, LocalStackConfig, wait_until
from snsflow.query import ExecutionDetail
from snsflow.store.executions import ExecutionStatus
from tests.e2e.conftest import DEADLINE_SECONDS, Driver, http_request

pytestmark = pytest.mark.e2e

WORKFLOWS = Path(__file__).resolve().parents[1] / "fixtures" / "workflows-actions"
FLAGGED = "flagged-orders"
FLAGS_TABLE = "snsflow-e2e-flags"  # named by the workflow's definition


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    config = LocalStackConfig(
        workflows_dir=WORKFLOWS, sns_delay_scale=0.01, status_poll_seconds=0.1
    )
    with LocalStack(config) as stack:
        dynamodb = boto3.client(
            "dynamodb", endpoint_url=stack.aws_endpoint, region_name=stack.config.region
        )
        dynamodb.create_table(
            TableName=FLAGS_TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield stack


@pytest.fixture
def operator(local_stack: LocalStack) -> ReadApi:
    return ReadApi(local_stack.api_url, local_stack.operate_key)


def _set_fixed(stack: LocalStack, fixed: bool) -> None:
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=stack.aws_endpoint, region_name=stack.config.region
    )
    dynamodb.put_item(TableName=FLAGS_TABLE, Item={"id": {"S": "fixed"}, "ok": {"BOOL": fixed}})


@pytest.fixture
def broken(local_stack: LocalStack) -> Iterator[None]:
    _set_fixed(local_stack, False)
    yield
    _set_fixed(local_stack, False)


def _failed_executions(driver: Driver, workflow_id: str, count: int) -> list[ExecutionDetail]:
    topic = driver.new_topic(workflow_id)
    driver.subscribe_confirmed(workflow_id, topic)
    published = [
        driver.sns.publish(TopicArn=topic, Message=json.dumps({"n": n}))["MessageId"]
        for n in range(count)
    ]
    return [
        _ended(driver, f"{workflow_id}.{execution_name(message_id)}") for message_id in published
    ]


def _ended(driver: Driver, execution_id: str) -> ExecutionDetail:
    return wait_until(
        lambda: driver.finished_execution(execution_id),
        timeout=DEADLINE_SECONDS,
        what=f"{execution_id} to end",
    )


def _finished(driver: Driver, execution_id: str, status: ExecutionStatus) -> ExecutionDetail:
    return wait_until(
        lambda: detail if (detail := driver.api.execution(execution_id)).status is status else None,
        timeout=DEADLINE_SECONDS,
        what=f"{execution_id} to be {status}",
    )


def test_history_shows_the_state_that_failed(driver: Driver, broken: None) -> None:
    [failed] = _failed_executions(driver, FLAGGED, 1)
    assert failed.status is ExecutionStatus.FAILED

    history = driver.api.history(failed.execution_id)

    assert [state.name for state in history.states] == ["ReadFlag", "CheckFlag", "NotFixedYet"]
    assert history.failed_state == "NotFixedYet"
    failing = history.states[-1]
    assert (failing.type, failing.status, failing.error) == ("Fail", "FAILED", "NotFixedYet")
    assert history.states[0].status == "SUCCEEDED"
    assert history.states[0].duration_ms is not None
    assert history.states[0].input["messageId"] == failed.message_id


def test_a_redriven_execution_succeeds_once_its_cause_is_fixed(
    driver: Driver, operator: ReadApi, broken: None
) -> None:
    [failed] = _failed_executions(driver, FLAGGED, 1)
    _set_fixed(driver.stack, True)

    redriven = operator.redrive(failed.execution_id)

    assert redriven.redrive_count == 1
    assert redriven.status in (ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED)
    [action] = redriven.actions
    assert (action.action, action.by, action.redrive_count) == ("redrive", "local-operate", 1)
    settled = _finished(driver, failed.execution_id, ExecutionStatus.SUCCEEDED)
    assert settled.error is None
    assert settled.output == {"fulfilled": failed.message_id}
    history = driver.api.history(failed.execution_id)
    assert history.failed_state is None
    assert [s.name for s in history.states][-2:] == ["CheckFlag", "Fulfil"]
    assert driver.step_functions_runs(FLAGGED).count(failed.execution_name) == 1  # same run


def test_redrive_refusals_start_and_write_nothing(
    driver: Driver, operator: ReadApi, broken: None
) -> None:
    [failed] = _failed_executions(driver, FLAGGED, 1)
    _set_fixed(driver.stack, True)
    operator.redrive(failed.execution_id)
    succeeded = _finished(driver, failed.execution_id, ExecutionStatus.SUCCEEDED)
    runs = driver.step_functions_runs(FLAGGED)

    with pytest.raises(ApiRequestError) as refused:
        operator.redrive(failed.execution_id)
    with pytest.raises(ApiRequestError) as read_only:
        ReadApi(driver.stack.api_url, driver.stack.read_key).redrive(failed.execution_id)
    with pytest.raises(ApiRequestError) as unknown:
        operator.redrive(f"{FLAGGED}.no-such-execution")

    assert (refused.value.status, refused.value.error_code) == (409, "not_redrivable")
    assert "SUCCEEDED" in refused.value.message
    assert (read_only.value.status, read_only.value.error_code) == (403, "insufficient_scope")
    assert (unknown.value.status, unknown.value.error_code) == (404, "execution_not_found")
    assert driver.api.execution(failed.execution_id) == succeeded
    assert driver.step_functions_runs(FLAGGED) == runs


def test_a_rerun_is_a_second_linked_execution_started_once_per_idempotency_key(
    driver: Driver, operator: ReadApi, broken: None
) -> None:
    [failed] = _failed_executions(driver, FLAGGED, 1)
    _set_fixed(driver.stack, True)
    key = str(uuid.uuid4())

    first = operator.rerun(failed.execution_id, idempotency_key=key)
    again = http_request(
        driver.stack.api_url,
        "POST",
        f"/executions/{failed.execution_id}/rerun",
        b"",
        {"x-api-key": driver.stack.operate_key, "Idempotency-Key": key},
    )

    rerun = first.execution
    assert first.rerun_of == failed.execution_id
    assert rerun.execution_name == f"{failed.execution_name}.r1"
    assert rerun.rerun_of == failed.execution_id
    assert rerun.input == failed.input
    assert rerun.sns_message["MessageId"] == failed.message_id  # the same message, run again
    assert again.status == 200
    assert again.json["execution"]["executionId"] == rerun.execution_id
    done = _finished(driver, rerun.execution_id, ExecutionStatus.SUCCEEDED)
    assert done.output == {"fulfilled": failed.message_id}
    original = driver.api.execution(failed.execution_id)
    assert original.reruns == [rerun.execution_id]
    assert original.status is ExecutionStatus.FAILED  # the original stays as it ended
    assert [(a.action, a.by, a.execution_id) for a in original.actions] == [
        ("rerun", "local-operate", rerun.execution_id)
    ]
    assert driver.step_functions_runs(FLAGGED).count(rerun.execution_name) == 1


def test_rerun_refusals_start_and_write_nothing(driver: Driver, operator: ReadApi) -> None:
    express = _failed_executions(driver, "metrics-fast", 1)[0]
    runs = driver.step_functions_runs("metrics-fast")

    answers = [
        http_request(
            driver.stack.api_url,
            "POST",
            f"/executions/{express.execution_id}/{action}",
            b"",
            {"x-api-key": key},
        )
        for action in ("rerun", "redrive")
        for key in (driver.stack.operate_key, driver.stack.read_key)
    ]
    history = http_request(
        driver.stack.api_url,
        "GET",
        f"/executions/{express.execution_id}/history",
        headers={"x-api-key": driver.stack.read_key},
    )

    assert [(a.status, a.code) for a in answers] == [
        (409, "not_rerunnable"),
        (403, "insufficient_scope"),
        (409, "not_redrivable"),
        (403, "insufficient_scope"),
    ]
    assert "EXPRESS" in answers[2].json["error"]["message"]
    assert (history.status, history.code) == (409, "history_not_available")
    assert driver.api.execution(express.execution_id) == express
    assert driver.step_functions_runs("metrics-fast") == runs


def test_me_names_the_key_and_its_scope(driver: Driver, operator: ReadApi) -> None:
    assert (operator.me().key_name, operator.me().scope) == ("local-operate", "operate")
    assert driver.api.me().scope == "read"


def _snsflow(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bulk_rerun_starts_exactly_one_run_per_failed_execution_even_when_run_twice(
    driver: Driver, broken: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = tmp_path / "info.json"
    driver.stack.write_info_file(info)
    since = datetime.now(UTC).isoformat()
    failed = _failed_executions(driver, FLAGGED, 3)
    selection = ["--workflow", FLAGGED, "--status", "FAILED", "--since", since]
    runs = Counter(driver.step_functions_runs(FLAGGED))

    listed = _snsflow(
        capsys, "executions", "rerun", *selection, "--dry-run", "--info-file", str(info)
    )
    unasked = _snsflow(capsys, "executions", "rerun", *selection, "--info-file", str(info))
    first = _snsflow(capsys, "executions", "rerun", *selection, "--yes", "--info-file", str(info))
    again = _snsflow(capsys, "executions", "rerun", *selection, "--yes", "--info-file", str(info))

    assert listed[0] == 0
    assert unasked[0] == 2  # no terminal to ask on, and no --yes: nothing started
    assert "pass --yes" in unasked[2]
    assert all(execution.execution_id in listed[1] for execution in failed)
    assert Counter(driver.step_functions_runs(FLAGGED)) - runs == Counter(
        f"{execution.execution_name}.r1" for execution in failed
    )
    assert first[0] == 0
    assert "Started 3, skipped 0, failed 0." in first[1]
    assert "[3/3]" in first[2]
    assert again[0] == 0
    assert "Started 0, skipped " in again[1]  # the originals, and any re-run failed by now
    assert ", failed 0." in again[1]
    for execution in failed:
        assert (
            f"{execution.execution_id}: re-run before, as {execution.execution_id}.r1" in again[1]
        )
        assert driver.api.execution(execution.execution_id).reruns == [
            f"{execution.execution_id}.r1"
        ]


def test_cli_history_redrive_and_rerun(
    driver: Driver, broken: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = tmp_path / "info.json"
    driver.stack.write_info_file(info)
    [failed] = _failed_executions(driver, FLAGGED, 1)
    target = [failed.execution_id, "--info-file", str(info)]

    history = _snsflow(capsys, "executions", "history", *target)
    _set_fixed(driver.stack, True)
    keyed = [*target, "--idempotency-key", "cli-redrive-1"]
    redrive = _snsflow(capsys, "executions", "redrive", *keyed)
    _finished(driver, failed.execution_id, ExecutionStatus.SUCCEEDED)
    replayed = _snsflow(capsys, "executions", "redrive", *keyed)
    refused = _snsflow(capsys, "executions", "redrive", *target)
    rerun = _snsflow(capsys, "executions", "rerun", *target)

    assert history[0] == 0
    assert "Failed in state 'NotFixedYet'." in history[1]
    assert redrive[0] == 0
    assert f"Redriven {failed.execution_id}" in redrive[1]
    assert replayed[0] == 0  # the same key again: the redrive it did, nothing redriven twice
    assert "(redrive 1)" in replayed[1]
    assert refused[0] == 1
    assert refused[2].count("\n") == 1
    assert "not_redrivable" in refused[2]
    assert rerun[0] == 0
    assert f"as {failed.execution_id}.r1" in rerun[1]
    shown = _snsflow(capsys, "executions", "show", *target)
    assert f"Re-runs        {failed.execution_id}.r1" in shown[1]
    assert "redrive 1  by local-operate" in shown[1]
    assert f"re-run as {failed.execution_id}.r1  by local-operate" in shown[1]


def test_the_firewall_refuses_an_operate_key_on_the_webhook_route(driver: Driver) -> None:
    answer = http_request(
        driver.stack.api_url,
        "POST",
        f"/webhooks/{FLAGGED}",
        b"{}",
        {"x-api-key": driver.stack.operate_key, "Content-Type": "text/plain"},
    )

    # Only webhook values are in the firewall's key-prefix set: refused before the authorizer.
    assert (answer.status, answer.code) == (403, "invalid_api_key")
