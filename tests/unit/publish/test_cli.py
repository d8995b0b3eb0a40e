"""``snsflow publish`` with moto's SNS and a fake read API: what it publishes where, what it
prints while it waits, and how each outcome exits."""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from snsflow import aws
from snsflow.cli import publish
from snsflow.cli.main import main
from snsflow.cli.stack import ApiRequestError
from snsflow.publish import MAX_MESSAGE_BYTES
from snsflow.query import ExecutionDetail, WorkflowView
from snsflow.store.executions import ExecutionStatus
from tests.unit.publish.builders import OTHER_TOPIC, TOPIC, WORKFLOW, execution, workflow

TOPIC_REGION = "eu-west-1"


@dataclass
class FakeApi:
    """The read API: one workflow, and the statuses its execution goes through, one per read
    (the last one repeats); nothing before the first (404)."""

    view: WorkflowView
    statuses: list[ExecutionStatus | None] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def workflow(self, workflow_id: str) -> WorkflowView:
        assert workflow_id == self.view.id
        return self.view

    def execution(self, execution_id: str) -> ExecutionDetail:
        self.asked.append(execution_id)
        status = self.statuses[min(len(self.asked), len(self.statuses)) - 1]
        if status is None:
            raise ApiRequestError("no execution (execution_not_found, HTTP 404)", status=404)
        return execution(execution_id, status, **self.detail)


@dataclass
class Published:
    """What SNS was asked to publish."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)


@pytest.fixture
def sns(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Published]:
    """moto's SNS with the topics, each publish recorded with the region it went to."""
    published = Published()
    build_client = aws.sns_client.__wrapped__

    @functools.cache  # as the factory's own: aws.reset() clears it
    def recording_client() -> Any:
        client = build_client()

        def record(params: dict[str, Any], **_: Any) -> None:
            published.calls.append(dict(params))
            published.regions.append(client.meta.region_name)

        client.meta.events.register("provide-client-params.sns.Publish", record)
        return client

    monkeypatch.setattr(aws, "sns_client", recording_client)
    with mock_aws():
        for topic in (TOPIC, OTHER_TOPIC):
            boto3.client("sns", region_name=TOPIC_REGION).create_topic(Name=topic.split(":")[-1])
        yield published


def _with_api(monkeypatch: pytest.MonkeyPatch, api: FakeApi) -> FakeApi:
    monkeypatch.setattr(publish, "POLL_SECONDS", 0.0)  # the fake answers at once

    def read_api(_args: argparse.Namespace) -> tuple[FakeApi, None]:
        return api, None

    monkeypatch.setattr(publish, "read_api", read_api)
    return api


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["publish", WORKFLOW, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _message_id(err: str) -> str:
    line = next(line for line in err.splitlines() if line.startswith("Published message "))
    return line.removeprefix("Published message ").split(":")[0]


def test_a_message_that_runs_to_success_exits_0_with_the_outcome(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = [None, ExecutionStatus.RECEIVED, ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED]
    api = _with_api(
        monkeypatch,
        FakeApi(workflow({TOPIC: "confirmed"}), statuses, {"output": {"outcome": "accepted"}}),
    )

    code, out, err = _run(capsys, "--message", '{"orderId": "A-1"}')

    assert code == 0, err
    assert [call["TopicArn"] for call in sns.calls] == [TOPIC]
    assert sns.calls[0]["Message"] == '{"orderId": "A-1"}'
    assert sns.regions == [TOPIC_REGION]  # the topic's region, whatever the default
    assert "Publishing a JSON message (18 bytes) to " + TOPIC in err
    execution_id = f"{WORKFLOW}.{_message_id(err)}"
    assert set(api.asked) == {execution_id}
    progress = [line.split()[0] for line in err.splitlines() if line.startswith("  ")]
    assert progress == ["RECEIVED", "RUNNING", "SUCCEEDED"]
    assert f"Execution      {execution_id}" in out
    assert "Status         SUCCEEDED" in out
    assert "Duration       1.0s" in out
    assert '"outcome": "accepted"' in out


def test_text_is_published_as_text_with_its_subject_and_attributes(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"}), [ExecutionStatus.SUCCEEDED]))

    code, _, err = _run(
        capsys,
        "--message",
        "hello",
        "--subject",
        "Order A-1",
        "--attribute",
        "tenant=acme",
        "--attribute",
        "source=test",
    )

    assert code == 0, err
    assert "Publishing a text message" in err
    assert sns.calls[0]["Subject"] == "Order A-1"
    assert sns.calls[0]["MessageAttributes"] == {
        "tenant": {"DataType": "String", "StringValue": "acme"},
        "source": {"DataType": "String", "StringValue": "test"},
    }


def test_without_a_message_a_json_test_message_is_sent(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"}), [ExecutionStatus.SUCCEEDED]))

    code, _, _ = _run(capsys)

    assert code == 0
    assert json.loads(sns.calls[0]["Message"])["sentBy"] == "snsflow publish"
    assert "Subject" not in sns.calls[0]


def test_a_file_is_published_as_it_is(
    sns: Published,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"}), [ExecutionStatus.SUCCEEDED]))
    message = tmp_path / "order.json"
    message.write_text('{"orderId": "Ü-1"}\n', encoding="utf-8")

    code, _, _ = _run(capsys, "--file", str(message))

    assert code == 0
    assert sns.calls[0]["Message"] == '{"orderId": "Ü-1"}\n'


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (ExecutionStatus.FAILED, "OrderRejected"),
        (ExecutionStatus.TIMED_OUT, "States.Timeout"),
        (ExecutionStatus.ABORTED, None),
    ],
)
def test_a_run_that_did_not_succeed_exits_1_with_its_error(
    sns: Published,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: ExecutionStatus,
    error: str | None,
) -> None:
    cause = "The order event has status 'rejected'."
    detail = {"error": error, "cause": cause} if error else {}
    _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"}), [status], detail))

    code, out, err = _run(capsys, "--message", '{"status": "rejected"}')

    assert code == 1
    assert f"Status         {status.value}" in out
    if error:
        assert cause in out
    last = err.splitlines()[-1]
    reason = f": {error}" if error else ""
    assert last == f"snsflow publish: the execution {status.value} after 1.0s{reason}"


def test_no_record_by_the_deadline_exits_1_saying_where_to_look(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"}), [None]))

    code, out, err = _run(capsys, "--timeout", "0.01")

    assert code == 1
    assert api.asked  # it did look
    assert out.strip() == api.asked[0]  # the execution id, to look it up later
    assert err.splitlines()[-1] == (
        "snsflow publish: no execution record after 0.01 s: " + publish.no_record_hint(WORKFLOW)
    )


def test_a_run_still_going_at_the_deadline_exits_1_saying_how_to_follow_it(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"}), [ExecutionStatus.RUNNING]))

    code, out, err = _run(capsys, "--timeout", "0.01")

    assert code == 1
    assert "Status         RUNNING" in out
    assert err.splitlines()[-1] == (
        f"snsflow publish: the execution is still RUNNING after 0.01 s: follow it with "
        f"'snsflow executions show {api.asked[0]}'"
    )


def test_the_api_failing_while_waiting_names_the_published_message(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"})))

    def refuse(_execution_id: str) -> ExecutionDetail:
        raise ApiRequestError("forbidden (invalid_api_key, HTTP 403)", status=403)

    monkeypatch.setattr(api, "execution", refuse)

    code, _, err = _run(capsys)

    assert code == 1
    message_id = _message_id(err)
    assert err.splitlines()[-1] == (
        f"snsflow publish: message {message_id} was published, but its execution "
        f"{WORKFLOW}.{message_id} cannot be read: forbidden (invalid_api_key, HTTP 403)"
    )


def test_json_prints_one_document_with_the_ids_and_the_execution(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_api(
        monkeypatch,
        FakeApi(workflow({TOPIC: "confirmed"}), [ExecutionStatus.FAILED], {"error": "Oops"}),
    )

    code, out, err = _run(capsys, "--json")

    assert code == 1
    document = json.loads(out)
    message_id = _message_id(err)
    assert document["topicArn"] == TOPIC
    assert document["messageId"] == message_id
    assert document["executionId"] == f"{WORKFLOW}.{message_id}"
    assert document["execution"]["status"] == "FAILED"
    assert document["execution"]["error"] == "Oops"


def test_no_wait_prints_the_execution_id_and_reads_nothing(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"})))

    code, out, err = _run(capsys, "--no-wait")

    assert code == 0
    assert out == f"{WORKFLOW}.{_message_id(err)}\n"
    assert api.asked == []


def test_a_topic_named_on_the_command_line_wins_with_a_warning_when_unknown(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"}), [ExecutionStatus.SUCCEEDED]))

    code, _, err = _run(capsys, "--topic", OTHER_TOPIC)

    assert code == 0
    assert [call["TopicArn"] for call in sns.calls] == [OTHER_TOPIC]
    assert f"warning: snsflow knows no confirmed subscription of {OTHER_TOPIC}" in err


def test_a_confirmed_topic_named_on_the_command_line_needs_no_warning(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    view = workflow({TOPIC: "confirmed", OTHER_TOPIC: "confirmed"})
    _with_api(monkeypatch, FakeApi(view, [ExecutionStatus.SUCCEEDED]))

    code, _, err = _run(capsys, "--topic", TOPIC)

    assert code == 0
    assert "warning" not in err


@pytest.mark.parametrize(
    ("subscriptions", "says"),
    [
        ({}, "has no confirmed subscription: subscribe a topic first"),
        ({TOPIC: "confirmed", OTHER_TOPIC: "confirmed"}, "has 2 confirmed subscriptions"),
    ],
)
def test_no_single_topic_is_a_usage_error_and_nothing_is_published(
    sns: Published,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    subscriptions: dict[str, str],
    says: str,
) -> None:
    _with_api(monkeypatch, FakeApi(workflow(subscriptions)))

    code, out, err = _run(capsys)

    assert code == 2
    assert out == ""
    assert says in err
    assert err.count("\n") == 1
    assert sns.calls == []


@pytest.fixture
def nothing_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the API nor AWS may be asked anything."""

    def never(*_args: Any) -> Any:
        raise AssertionError("asked before the message was checked")

    monkeypatch.setattr(publish, "read_api", never)
    monkeypatch.setattr(aws, "sns_client", functools.cache(never))


def test_a_file_over_sns_s_limit_is_refused_before_anything_is_asked(
    nothing_asked: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b"x" * (MAX_MESSAGE_BYTES + 1))

    code, _, err = _run(capsys, "--file", str(big))

    assert code == 2
    assert err == (
        f"snsflow publish: error: {big} is larger than SNS's limit of 262144 bytes (256 KiB)\n"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"\xff\xfe not text", "is not UTF-8 text"), (b"", "the message is empty")],
)
def test_a_file_sns_cannot_take_is_refused_before_anything_is_asked(
    nothing_asked: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: bytes,
    says: str,
) -> None:
    path = tmp_path / "message"
    path.write_bytes(content)

    code, _, err = _run(capsys, "--file", str(path))

    assert code == 2
    assert says in err


def test_a_missing_file_is_a_usage_error(
    nothing_asked: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = _run(capsys, "--file", str(tmp_path / "nope.json"))

    assert code == 2
    assert "cannot read" in err


def test_a_message_over_the_limit_with_its_attributes_is_refused_before_anything_is_asked(
    nothing_asked: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys, "--message", "x" * (MAX_MESSAGE_BYTES - 10), "--attribute", "tenant=acme"
    )

    assert code == 2
    assert "bytes with its attributes; SNS takes at most 262144" in err


def test_an_attribute_given_twice_is_a_usage_error(
    nothing_asked: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "--attribute", "a=1", "--attribute", "a=2")

    assert code == 2
    assert "an attribute is given twice" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--subject", "two\nlines"], "argument --subject: the subject must be 1 to 99"),
        (["--attribute", "AWS.x=1"], "argument --attribute: the attribute name 'AWS.x'"),
        (["--topic", "orders"], "argument --topic: 'orders' is not an SNS topic ARN"),
        (["--topic", TOPIC + ".fifo"], "FIFO topics cannot deliver to HTTP/S endpoints"),
        (["--message", "a", "--file", "b"], "not allowed with argument --message"),
        (["--timeout", "0"], "argument --timeout: '0' is not a positive number"),
    ],
)
def test_what_sns_would_refuse_is_a_usage_error_of_argparse(
    nothing_asked: None, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["publish", WORKFLOW, *argv])

    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_sns_refusing_exits_1_with_its_reason(
    sns: Published, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = "arn:aws:sns:eu-west-1:123456789012:deleted"
    _with_api(monkeypatch, FakeApi(workflow({gone: "confirmed"})))

    code, _, err = _run(capsys)

    assert code == 1
    assert err.splitlines()[-1].startswith("snsflow publish: SNS refused: ")
    assert "(NotFound)" in err


def test_no_credentials_for_aws_is_one_line_saying_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    aws.configure()
    _with_api(monkeypatch, FakeApi(workflow({TOPIC: "confirmed"})))

    code, _, err = _run(capsys)

    assert code == 1
    assert err.splitlines()[-1].startswith("snsflow publish: no AWS credentials found")
