"""``snsflow subscribe`` against moto: what SNS is asked for, where, and how failures exit."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from snsflow.cli.main import main
from snsflow.subscribe import subscription_attributes

TOPIC_REGION, STACK_REGION = "eu-west-1", "us-east-1"
TOPIC_NAME = "orders"
WEBHOOK_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/webhooks/order-events"
KEY = "snsf_" + "Kq3" * 14 + "Z"
DLQ = "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"


@pytest.fixture
def aws(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto with a deployed stack (in the default region) and a topic in another region;
    any real network connection fails the test (moto must not try to deliver)."""

    def no_network(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the test opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.delenv("SNSFLOW_WEBHOOK_KEY", raising=False)
    with mock_aws():
        template = {
            "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"WebhookUrlOrderEvents": {"Value": WEBHOOK_URL}},
        }
        boto3.client("cloudformation", region_name=STACK_REGION).create_stack(
            StackName="snsflow", TemplateBody=json.dumps(template)
        )
        yield boto3.client("sns", region_name=TOPIC_REGION).create_topic(Name=TOPIC_NAME)[
            "TopicArn"
        ]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["subscribe", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _attributes(subscription_arn: str) -> dict[str, str]:
    sns = boto3.client("sns", region_name=TOPIC_REGION)
    return dict(sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"])


def test_subscribes_the_stacks_webhook_over_https_with_the_delivery_policy(
    aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "order-events", aws, "--stack", "snsflow", "--webhook-key", KEY)

    assert code == 0, err
    subscription_arn = out.strip()
    assert out.count("\n") == 1
    attributes = _attributes(subscription_arn)
    assert attributes["TopicArn"] == aws
    assert attributes["Protocol"] == "https"
    assert attributes["Endpoint"] == f"{WEBHOOK_URL}?x-api-key={KEY}"
    assert attributes["DeliveryPolicy"] == subscription_attributes()["DeliveryPolicy"]
    assert "RedrivePolicy" not in attributes
    assert "Confirmed" in err


def test_the_key_is_never_printed_only_its_prefix(
    aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "order-events", aws, "--stack", "snsflow", "--webhook-key", KEY)

    assert code == 0
    assert KEY not in out + err
    assert f"{WEBHOOK_URL}?x-api-key={KEY[:13]}…" in err


def test_throttle_and_dead_letter_queue_are_set_on_the_subscription(
    aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys,
        "order-events",
        aws,
        "--stack",
        "snsflow",
        "--webhook-key",
        KEY,
        "--max-receives-per-second",
        "10",
        "--dead-letter-queue-arn",
        DLQ,
    )

    assert code == 0, err
    attributes = _attributes(out.strip())
    assert json.loads(attributes["DeliveryPolicy"])["throttlePolicy"] == {
        "maxReceivesPerSecond": 10
    }
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ}
    assert DLQ in err


def test_dlq_takes_the_queue_by_its_url_too(aws: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"

    code, out, err = _run(
        capsys, "order-events", aws, "--stack", "snsflow", "--webhook-key", KEY, "--dlq", url
    )

    assert code == 0, err
    assert json.loads(_attributes(out.strip())["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ}


def test_key_comes_from_the_environment_when_not_given(
    aws: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNSFLOW_WEBHOOK_KEY", KEY)

    code, out, err = _run(capsys, "order-events", aws, "--webhook-url", WEBHOOK_URL, "--no-wait")

    assert code == 0, err
    assert _attributes(out.strip())["Endpoint"] == f"{WEBHOOK_URL}?x-api-key={KEY}"
    assert "Not waiting" in err


def test_region_option_overrides_the_topics_region(
    aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The topic exists in eu-west-1 only: asked in us-east-1, SNS does not find it.
    code, out, err = _run(
        capsys, "order-events", aws, "--webhook-url", WEBHOOK_URL, "--webhook-key", KEY,
        "--region", STACK_REGION,
    )  # fmt: skip

    assert code == 1
    assert out == ""
    assert "SNS refused" in err
    assert "NotFound" in err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["arn:aws:sns:eu-west-1:123456789012"], "is not an SNS topic ARN"),
        (["TOPIC", "--stack", "snsflow"], "no webhook key"),
        (["TOPIC", "--webhook-key", KEY], "no webhook URL"),
        (["TOPIC", "--webhook-url", "http://api.example/w", "--webhook-key", KEY], "https"),
        (
            ["TOPIC", "--stack", "snsflow", "--webhook-key", KEY, "--dead-letter-queue-arn",
             "arn:aws:sqs:us-east-1:123456789012:dlq"],
            "account and region",
        ),
    ],
)  # fmt: skip
def test_usage_problems_exit_2_and_subscribe_nothing(
    aws: str, capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    code, out, err = _run(capsys, "order-events", *(aws if a == "TOPIC" else a for a in argv))

    assert code == 2
    assert out == ""
    assert problem in err
    assert KEY not in err
    sns = boto3.client("sns", region_name=TOPIC_REGION)
    assert sns.list_subscriptions()["Subscriptions"] == []


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_throttle_must_be_a_positive_whole_number(
    aws: str, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["subscribe", "order-events", aws, "--max-receives-per-second", value])

    assert exit_info.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_workflow_missing_from_the_stack_exits_1_naming_the_output(
    aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = _run(capsys, "audit-log", aws, "--stack", "snsflow", "--webhook-key", KEY)

    assert code == 1
    assert "no output 'WebhookUrlAuditLog'" in err
