"""RedriveExecution for the local stack's Step Functions (moto has none).

Wraps moto's WSGI application and answers three Step Functions actions itself or amends
moto's answer:

* ``RedriveExecution`` of a FAILED, TIMED_OUT or ABORTED STANDARD execution runs it again under
  the same ARN, with the same input and the same definition (the snapshot moto took at its
  start). **Difference from AWS**: Step Functions continues from the state that failed and
  keeps the results of the states that succeeded; here every state runs again from the start.
  A workflow whose earlier states are idempotent (as they should be, for retries) cannot tell.
  ``clientToken`` makes a repeated request answer as the first did, as in AWS.
* ``DescribeExecution`` gains ``redriveCount``, ``redriveDate``, ``redriveStatus`` and
  ``redriveStatusReason`` as Step Functions gives them.
* ``GetExecutionHistory`` of a redriven execution is every attempt's events in order, each new
  attempt opened by an ``ExecutionRedriven`` event, numbered as one history.

Listeners (the status events stand-in) are told of each redrive, so they report the new
attempt's status changes.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.stepfunctions.responses import get_backend

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_TARGET_PREFIX = "AWSStepFunctions."
_REDRIVABLE = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
_CONTENT_TYPE = "application/x-amz-json-1.0"


@dataclass
class _Redrives:
    """What one execution's redrives left: the earlier attempts' events, and the count."""

    earlier_events: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    last_at: datetime | None = None
    client_tokens: dict[str, datetime] = field(default_factory=dict)


class LocalRedrive:
    """A WSGI middleware in front of moto (see the module's docstring)."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._redrives: dict[str, _Redrives] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[str], None]] = []

    def on_redrive(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(execution_arn)`` after each redrive."""
        self._listeners.append(listener)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith(_TARGET_PREFIX):
            return self._app(environ, start_response)
        action = target.removeprefix(_TARGET_PREFIX)
        if action == "RedriveExecution":
            return self._redrive(environ, start_response)
        if action in ("DescribeExecution", "GetExecutionHistory"):
            return self._amended(action, environ, start_response)
        return self._app(environ, start_response)

    # -- RedriveExecution ------------------------------------------------------------------------

    def _redrive(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        request = _read_json(environ)
        arn = str(request.get("executionArn", ""))
        token = request.get("clientToken")
        execution = _execution(arn)
        if execution is None:
            return _error(
                start_response, 400, "ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'"
            )
        with self._lock:
            redrives = self._redrives.setdefault(arn, _Redrives())
            if isinstance(token, str) and token in redrives.client_tokens:
                return _answer(
                    start_response, {"redriveDate": _epoch(redrives.client_tokens[token])}
                )
            status = str(execution.status)
            if execution.sm_type != "STANDARD" or status not in _REDRIVABLE:
                reason = (
                    "Execution is EXPRESS and cannot be redriven"
                    if execution.sm_type != "STANDARD"
                    else f"Execution is {status} and cannot be redriven"
                )
                return _error(start_response, 400, "ExecutionNotRedrivable", reason)
            now = datetime.now(UTC)
            redrives.earlier_events = _numbered(
                [*redrives.earlier_events, *self._attempt_events(execution, redrives.count)]
            )
            redrives.count += 1
            redrives.last_at = now
            if isinstance(token, str):
                redrives.client_tokens[token] = now
            # A new run of the same execution object: moto keeps the definition snapshot and
            # the input; the worker, the outcome and the stop are the attempt's own.
            execution.exec_worker = None
            execution.stop_date = None
            execution.error = None
            execution.cause = None
            execution.output = None
            execution.start()
        for listener in self._listeners:
            listener(arn)
        return _answer(start_response, {"redriveDate": _epoch(now)})

    @staticmethod
    def _attempt_events(execution: Any, attempt: int) -> list[dict[str, Any]]:
        events = [dict(event) for event in execution.to_history_output()["events"]]
        if attempt == 0:
            return events
        # A later attempt's own ExecutionStarted becomes the ExecutionRedriven that opened it.
        return [event for event in events if event.get("type") != "ExecutionStarted"]

    # -- DescribeExecution, GetExecutionHistory --------------------------------------------------

    def _amended(
        self, action: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> list[bytes]:
        request = _read_json(environ, keep=True)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], _exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self._app(environ, capture))
        if not captured.get("status", "").startswith("200"):
            start_response(captured["status"], captured["headers"])
            return [body]
        document = json.loads(body)
        arn = str(request.get("executionArn", ""))
        with self._lock:
            redrives = self._redrives.get(arn)
            if action == "DescribeExecution":
                document.update(_redrive_fields(document.get("status", ""), redrives))
            elif redrives is not None and redrives.count:
                document["events"] = self._history(document.get("events", []), redrives)
        return _answer(start_response, document)

    @staticmethod
    def _history(current: list[dict[str, Any]], redrives: _Redrives) -> list[dict[str, Any]]:
        redriven = {
            "type": "ExecutionRedriven",
            "timestamp": _epoch(redrives.last_at or datetime.now(UTC)),
            "executionRedrivenEventDetails": {"redriveCount": redrives.count},
        }
        attempt = [event for event in current if event.get("type") != "ExecutionStarted"]
        return _numbered([*redrives.earlier_events, redriven, *attempt])


def _redrive_fields(status: str, redrives: _Redrives | None) -> dict[str, Any]:
    redrivable = status in _REDRIVABLE
    fields: dict[str, Any] = {
        "redriveCount": redrives.count if redrives else 0,
        "redriveStatus": "REDRIVABLE" if redrivable else "NOT_REDRIVABLE",
    }
    if not redrivable:
        fields["redriveStatusReason"] = f"Execution is {status} and cannot be redriven"
    if redrives is not None and redrives.last_at is not None:
        fields["redriveDate"] = _epoch(redrives.last_at)
    return fields


def _execution(arn: str) -> Any:
    """moto's execution of ``arn`` (its account and region are in the ARN), or None."""
    parts = arn.split(":")
    if len(parts) < 8 or parts[5] != "execution":
        return None
    backend = get_backend(parts[4], parts[3])
    try:
        return backend.describe_execution(arn)
    except Exception:  # moto's not-found (and not-valid) errors: no such execution
        return None


def _numbered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with ids 1, 2, ... (and each ``previousEventId`` the one before)."""
    numbered = []
    for index, event in enumerate(events, start=1):
        numbered.append({**event, "id": index, "previousEventId": index - 1})
    return numbered


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _read_json(environ: WSGIEnvironment, *, keep: bool = False) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    raw = stream.read(length) if length else b""
    if keep:  # moto reads the body after us
        environ["wsgi.input"] = io.BytesIO(raw)
    try:
        document = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _answer(start_response: StartResponse, document: dict[str, Any]) -> list[bytes]:
    body = json.dumps(document, default=_json_default).encode()
    start_response("200 OK", [("Content-Type", _CONTENT_TYPE), ("Content-Length", str(len(body)))])
    return [body]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def _error(start_response: StartResponse, status: int, code: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    start_response(
        f"{status} Bad Request",
        [("Content-Type", _CONTENT_TYPE), ("Content-Length", str(len(body)))],
    )
    return [body]
