"""Seeded fault injection into the very clients the handlers use, and SNS's default retry policy.

Faults come in two kinds, both drawn from one ``random.Random(seed)`` so that a failing seed
replays exactly:

* **before the call** (the request never reaches AWS): a throttling or outage error, as botocore
  reports it once its own retries are spent, or a connection error;
* **after the call** (AWS did the work, the answer was lost): a read timeout raised once the
  response has arrived — the case that tests idempotency, since the caller must assume failure.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from snsflow import aws

#: (error code, HTTP status) of the throttling and outage answers of DynamoDB and Step Functions.
SERVICE_ERRORS: dict[str, tuple[tuple[str, int], ...]] = {
    "dynamodb": (
        ("ThrottlingException", 400),
        ("ProvisionedThroughputExceededException", 400),
        ("RequestLimitExceeded", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ),
    "sfn": (
        ("ThrottlingException", 400),
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
    ),
}
_ENDPOINT = "https://aws.invalid"
CONNECTION_ERRORS: tuple[Callable[[], Exception], ...] = (
    lambda: EndpointConnectionError(endpoint_url=_ENDPOINT),
    lambda: ConnectTimeoutError(endpoint_url=_ENDPOINT),
    lambda: ConnectionClosedError(endpoint_url=_ENDPOINT),
)

#: SNS's default delivery policy for HTTP/S: 3 retries after the first attempt.
SNS_DEFAULT_ATTEMPTS = 4


@dataclass(frozen=True)
class Fault:
    operation: str  # "dynamodb.UpdateItem"
    kind: str  # the error code, or the exception's name
    after_call: bool  # True: AWS did the work, the answer was lost


@dataclass
class FaultInjector:
    """Fails about ``rate`` of the AWS calls; ``injected`` lists what it did, in order."""

    rng: random.Random
    rate: float
    #: Only these operations (``service.Operation``) fail; None: every operation.
    operations: frozenset[str] | None = None
    #: The share of faults that strike after the call (the answer lost, the work done).
    after_call_share: float = 0.25
    enabled: bool = True
    injected: list[Fault] = field(default_factory=list)

    def _strikes(self, operation: str, probability: float) -> bool:
        if not self.enabled or (self.operations is not None and operation not in self.operations):
            return False
        return self.rng.random() < probability

    def before_call(self, event_name: str, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        operation = event_name.split(".", 1)[1]
        if not self._strikes(operation, self.rate * (1 - self.after_call_share)):
            return None
        if self.rng.random() < 0.2:
            error = self.rng.choice(CONNECTION_ERRORS)()
            self.injected.append(Fault(operation, type(error).__name__, after_call=False))
            raise error
        code, status = self.rng.choice(SERVICE_ERRORS[operation.split(".")[0]])
        self.injected.append(Fault(operation, code, after_call=False))
        response = AWSResponse(_ENDPOINT, status, HTTPHeaders(), None)
        parsed = {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        # A before-call handler that returns a response short-circuits the request.
        return response, parsed

    def after_call(self, event_name: str, **_: Any) -> None:
        operation = event_name.split(".", 1)[1]
        if self._strikes(operation, self.rate * self.after_call_share):
            self.injected.append(Fault(operation, "ReadTimeoutError", after_call=True))
            raise ReadTimeoutError(endpoint_url=_ENDPOINT)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """For the test's own calls on the shared clients (listing, describing)."""
        enabled, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = enabled

    def faults_since(self, mark: int) -> list[Fault]:
        return self.injected[mark:]


@contextmanager
def injected_faults(injector: FaultInjector) -> Iterator[FaultInjector]:
    """Install ``injector`` on the DynamoDB and Step Functions clients for the block."""
    emitters = (
        aws.dynamodb_resource().meta.client.meta.events,
        aws.stepfunctions_client().meta.events,
    )
    for events in emitters:
        events.register("before-call", injector.before_call)  # type: ignore[arg-type]
        events.register("after-call", injector.after_call)
    try:
        yield injector
    finally:
        for events in emitters:
            events.unregister("before-call", injector.before_call)  # type: ignore[arg-type]
            events.unregister("after-call", injector.after_call)
