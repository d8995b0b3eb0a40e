"""The key value never reaches logs, errors or responses — at DEBUG level, on every path."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from functions.authorizer import handler
from snsflow import aws
from snsflow.keys import KeyScope, revoke_keys
from snsflow.store.keys import DynamoKeyStore
from tests.integration.authorizer.conftest import CACHE_SECONDS, FakeClock, Invoke, MakeKey
from tests.integration.authorizer.events import authorizer_event, webhook_event


class LogCapture:
    """Everything logged anywhere (root and the Powertools logger) and printed, at DEBUG."""

    def __init__(
        self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self._caplog = caplog
        self._capsys = capsys
        self.powertools = io.StringIO()

    def text(self) -> str:
        out, err = self._capsys.readouterr()
        records = "\n".join(
            f"{record.getMessage()} {record.__dict__!r} {record.exc_text or ''}"
            for record in self._caplog.records
        )
        return "\n".join((self.powertools.getvalue(), out, err, records, self._caplog.text))


@pytest.fixture
def captured(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[LogCapture]:
    capture = LogCapture(caplog, capsys)
    caplog.set_level(logging.DEBUG)
    powertools = logging.getLogger(handler.logger.name)
    stream = logging.StreamHandler(capture.powertools)
    stream.setFormatter(handler.logger.logger_handler.formatter)
    previous_level = powertools.level
    powertools.setLevel(logging.DEBUG)
    powertools.addHandler(stream)
    powertools.addHandler(caplog.handler)
    yield capture
    powertools.removeHandler(caplog.handler)
    powertools.removeHandler(stream)
    powertools.setLevel(previous_level)


def test_no_request_path_logs_the_key(
    invoke: Invoke,
    make_key: MakeKey,
    key_store: DynamoKeyStore,
    clock: FakeClock,
    captured: LogCapture,
) -> None:
    webhook = make_key("prod-sns")
    read = make_key("dashboards", KeyScope.READ)
    other = make_key("audit-sns")
    secrets = (webhook, read, other)
    outcomes: list[Any] = []

    def run(event: dict[str, Any]) -> None:
        try:
            outcomes.append(invoke(event))
        except Exception as error:
            outcomes.append(f"{type(error).__name__}: {error} {error.__cause__!r}")

    run(webhook_event("order-events", query={"x-api-key": webhook}))
    run(webhook_event("order-events", headers={"X-Api-Key": webhook}))
    run(authorizer_event("GET", "/workflows", headers={"x-api-key": read}))
    run(webhook_event("order-events", query={"x-api-key": read}))
    run(webhook_event("order-events", query={"x-api-key": other}))
    run(webhook_event("no-such", query={"x-api-key": webhook}))
    run(webhook_event("order-events", headers={"x-api-key": webhook}, query={"x-api-key": other}))
    run(webhook_event("order-events", query={"x-api-key": webhook + "x"}))
    run(webhook_event("order-events", query={"x-api-key": ""}))
    run(authorizer_event("DELETE", "/workflows", query={"x-api-key": read}))
    revoke_keys(key_store, "dashboards", clock())
    clock.advance(seconds=CACHE_SECONDS)
    run(authorizer_event("GET", "/workflows", query={"x-api-key": read}))

    client_events = aws.dynamodb_resource().meta.client.meta.events

    def fail_update(**_: Any) -> None:
        raise RuntimeError("write refused")

    def fail_read(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    client_events.register("before-call.dynamodb.UpdateItem", fail_update)
    clock.advance(minutes=2)
    run(webhook_event("order-events", query={"x-api-key": webhook}))  # use write fails
    client_events.register("before-call.dynamodb.BatchGetItem", fail_read)
    clock.advance(seconds=CACHE_SECONDS)
    run(webhook_event("order-events", query={"x-api-key": webhook}))  # lookup fails

    text = captured.text() + repr(outcomes)
    # The capture really saw the requests, at DEBUG, on every path:
    for expected in (
        "access allowed",
        "access denied",
        "access refused",
        "could not record the use",
        "key lookup failed",
        "BatchGetItem",
        "Unauthorized",
        "wrong_key_scope",
        "revoked_api_key",
    ):
        assert expected in text
    for secret in secrets:
        assert secret not in text
        assert secret[5:] not in text  # not even without its prefix


def test_the_capture_sees_a_value_that_is_logged(
    invoke: Invoke, captured: LogCapture, make_key: MakeKey
) -> None:
    value = make_key("prod-sns")

    handler.logger.debug("oops", extra={"query": f"x-api-key={value}"})
    logging.getLogger("botocore.endpoint").debug("params %s", value)

    assert captured.text().count(value) >= 3
