"""The local stack runs each function's handler as Lambda would, metrics included."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from snsflow.local.gateway import LambdaHandler, LocalLambdaContext
from snsflow.local.stack import load_function, one_instance
from tests.support.apigw import sns_delivery_event

#: Powertools prints its metric set once a metric holds this many values, flushed or not.
POWERTOOLS_MAX_VALUES = 100


@pytest.fixture
def webhook_module(
    monkeypatch: pytest.MonkeyPatch, dynamodb_tables: dict[str, str]
) -> Iterator[ModuleType]:
    # As the local stack sets them: metrics off, since there is no CloudWatch to send them to.
    # The tables (moto) answer the look-up of the workflow a refusal would be logged for.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    Metrics().clear_metrics()
    module = load_function("webhook")
    yield module
    sys.modules.pop(module.__name__, None)
    Metrics().clear_metrics()


def refuse_many(handler: LambdaHandler, capsys: pytest.CaptureFixture[str]) -> str:
    """Stdout of more deliveries than Powertools keeps values for, each refused (for a workflow
    the registry does not hold: nothing is logged)."""
    event = sns_delivery_event("order-events", "not an SNS envelope")
    capsys.readouterr()
    context = LocalLambdaContext("snsflow-webhook", region="us-east-1", account_id="123456789012")
    for _ in range(POWERTOOLS_MAX_VALUES + 20):
        assert handler(event, context)["statusCode"] == 400
    return capsys.readouterr().out


# Powertools empties the set when it prints at 100 values, then warns at the flush after.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_with_metrics_off_the_bare_handler_leaves_metrics_to_pile_up(
    webhook_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    # What one_instance clears: Powertools never clears an unflushed set.
    assert '"_aws"' in refuse_many(webhook_module.lambda_handler, capsys)


def test_the_local_stack_handler_leaves_no_metrics_behind(
    webhook_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert '"_aws"' not in refuse_many(one_instance(webhook_module.lambda_handler), capsys)


def test_the_local_stack_handler_runs_one_invocation_at_a_time() -> None:
    """As a Lambda instance: the gateway's threads never run one function's code at once."""
    running: list[int] = []
    overlaps: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> int:
        running.append(1)
        if len(running) > 1:
            overlaps.append(len(running))
        time.sleep(0.002)  # long enough for another thread to come in
        running.pop()
        return 200

    instance = one_instance(handler)
    context = LocalLambdaContext("snsflow-query", region="us-east-1", account_id="123456789012")
    threads = [
        threading.Thread(target=lambda: [instance({}, context) for _ in range(10)])
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert overlaps == []
