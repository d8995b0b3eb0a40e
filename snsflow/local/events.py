"""The local stack's stand-in for EventBridge: status change events and a schedule.

In AWS two EventBridge rules drive the status and reconciler functions: Step Functions sends an
"Execution Status Change" event for each STANDARD execution that starts or ends, the first rule
forwards those of its end (``snsflow.status.EVENT_STATUSES``), and a schedule runs the
reconciler. Step Functions in moto sends no events, so :class:`StatusEventPump` watches the
workflows' executions (ListExecutions, then DescribeExecution for each that ended) and invokes
the target with the event the rule would have delivered; :class:`Schedule` invokes a target
every few seconds with a "Scheduled Event".

Like the EventBridge target, a failing invocation is tried again (on the next poll) a few times
and then dropped; the reconciler settles what is lost, as in AWS.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from snsflow.status import EVENT_STATUSES

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

LOGGER = logging.getLogger("snsflow.local.events")

STATUS_CHANGE_DETAIL_TYPE = "Step Functions Execution Status Change"
#: The statuses the deployed rule forwards (``infra/events.py``): an execution's end.
FORWARDED_STATUSES = frozenset(EVENT_STATUSES)
#: EventBridge's event size limit: Step Functions leaves the output, then the input, out of an
#: event that would exceed it (``outputDetails`` / ``inputDetails`` say so).
MAX_EVENT_BYTES = 256 * 1024
#: Invocations of one event before it is dropped (the deployed target: 1 + 4 retries).
MAX_ATTEMPTS = 5

#: A Lambda function as the stack invokes it: ``event -> result``.
EventTarget = Callable[[dict[str, Any]], object]


def _epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _event_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _redrive_fields(description: Mapping[str, Any]) -> dict[str, Any]:
    """``redrive*`` as DescribeExecution gives them, or as Step Functions sets them."""
    status = description["status"]
    if status == "SUCCEEDED":
        default_status = "NOT_REDRIVABLE"
        default_reason: str | None = f"Execution is {status} and cannot be redriven"
    else:
        default_status, default_reason = "REDRIVABLE", None
    redrive_date = description.get("redriveDate")
    return {
        "redriveCount": description.get("redriveCount", 0),
        "redriveDate": _epoch_ms(redrive_date) if isinstance(redrive_date, datetime) else None,
        "redriveStatus": description.get("redriveStatus", default_status),
        "redriveStatusReason": description.get("redriveStatusReason", default_reason),
    }


def status_change_event(
    description: DescribeExecutionOutputTypeDef | Mapping[str, Any],
    *,
    region: str,
    account_id: str,
) -> dict[str, Any]:
    """The EventBridge event Step Functions sends when the described execution ended."""
    status = description["status"]
    succeeded = status == "SUCCEEDED"
    started: datetime = description["startDate"]
    stopped: datetime | None = description.get("stopDate")
    execution_input = description.get("input")
    output = description.get("output") if succeeded else None
    detail: dict[str, Any] = {
        "executionArn": description["executionArn"],
        "stateMachineArn": description["stateMachineArn"],
        "name": description["name"],
        "status": status,
        "startDate": _epoch_ms(started),
        "stopDate": _epoch_ms(stopped),
        "input": execution_input,
        "inputDetails": {"included": execution_input is not None},
        "output": output,
        "outputDetails": {"included": output is not None} if succeeded else None,
        "error": description.get("error"),
        "cause": description.get("cause"),
        **_redrive_fields(description),
    }
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": STATUS_CHANGE_DETAIL_TYPE,
        "source": "aws.states",
        "account": account_id,
        "time": _event_time(stopped or started),
        "region": region,
        "resources": [description["executionArn"]],
        "detail": detail,
    }
    for field in ("output", "input"):
        if len(json.dumps(event).encode("utf-8")) <= MAX_EVENT_BYTES:
            break
        if detail[field] is not None:
            detail[field] = None
            detail[f"{field}Details"] = {"included": False}
    return event


def scheduled_event(rule_arn: str, *, region: str, account_id: str) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends its target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": _event_time(datetime.now(UTC)),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class _Ticker:
    """A daemon thread calling ``tick`` every ``interval`` seconds until stopped."""

    def __init__(self, name: str, interval: float, tick: Callable[[], object]) -> None:
        if interval <= 0:
            raise ValueError("the interval must be positive")
        self._name = name
        self._interval = interval
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for a tick in progress to end; idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._tick()
            except Exception:  # the loop must outlive any failure, as a service would
                LOGGER.exception("%s failed", self._name)


@dataclass
class _Pending:
    event: dict[str, Any]
    attempts: int = 0


class StatusEventPump:
    """Feeds ``target`` the status change events of the executions of ``state_machine_arns``
    (STANDARD state machines: Step Functions sends no such events for EXPRESS ones).

    Each execution yields one event, once it has ended (and each redrive of it one more).
    """

    def __init__(
        self,
        client: SFNClient,
        state_machine_arns: Collection[str],
        target: EventTarget,
        *,
        region: str,
        account_id: str,
        poll_interval: float = 0.2,
    ) -> None:
        self._client = client
        self._state_machine_arns = tuple(state_machine_arns)
        self._target = target
        self._region = region
        self._account_id = account_id
        #: Execution ARN -> the status whose event was delivered (or dropped).
        self._sent: dict[str, str] = {}
        #: Every execution seen so far, and per state machine those not yet settled (no terminal
        #: event sent): a poll lists only what is new and asks only after what is unsettled, so
        #: its cost follows the executions in flight rather than all executions ever run.
        self._seen: set[str] = set()
        self._unsettled: dict[str, set[str]] = {arn: set() for arn in self._state_machine_arns}
        #: Events not delivered yet (at most one per execution), in order, by (execution ARN,
        #: status).
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._lock = threading.Lock()
        #: Executions redriven since the last poll (their own lock: a redrive is reported from
        #: inside a moto request, which a poll may be waiting for while holding ``_lock``).
        self._redriven: set[str] = set()
        self._redriven_lock = threading.Lock()
        self._ticker = _Ticker("local-status-events", poll_interval, self.poll)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def watch_again(self, execution_arn: str) -> None:
        """The execution was redriven: report its new attempt's status changes."""
        with self._redriven_lock:
            self._redriven.add(execution_arn)

    def poll(self) -> int:
        """One pass: send every event due since the last one; returns how many were sent."""
        with self._lock:
            with self._redriven_lock:
                redriven, self._redriven = self._redriven, set()
            for arn in redriven:
                self._sent.pop(arn, None)
                for state_machine_arn, unsettled in self._unsettled.items():
                    if arn.split(":")[6] == state_machine_arn.split(":")[6]:
                        unsettled.add(arn)
            for state_machine_arn in self._state_machine_arns:
                self._collect_new(state_machine_arn)
                self._collect_ended(state_machine_arn)
            return self._send_pending()

    def _collect_new(self, state_machine_arn: str) -> None:
        """Executions started since the last poll: ListExecutions is newest first, so paging
        stops at the first page holding nothing new."""
        paginator = self._client.get_paginator("list_executions")
        for page in paginator.paginate(stateMachineArn=state_machine_arn):
            new = [item for item in page["executions"] if item["executionArn"] not in self._seen]
            for item in new:
                arn = item["executionArn"]
                self._seen.add(arn)
                self._unsettled[state_machine_arn].add(arn)
                self._collect(arn, item["status"])
            if not new:
                return

    def _collect_ended(self, state_machine_arn: str) -> None:
        """Unsettled executions no longer running have ended (or are ending): describe them."""
        unsettled = self._unsettled[state_machine_arn]
        if not unsettled:
            return
        paginator = self._client.get_paginator("list_executions")
        running = {
            item["executionArn"]
            for page in paginator.paginate(
                stateMachineArn=state_machine_arn, statusFilter="RUNNING"
            )
            for item in page["executions"]
        }
        for arn in sorted(unsettled - running):
            self._collect(arn, None)

    def _collect(self, execution_arn: str, listed_status: str | None) -> None:
        """Queue the events due for an execution; ``listed_status`` (from a listing, if any)
        spares a DescribeExecution when nothing changed."""
        if listed_status is not None and (
            listed_status not in FORWARDED_STATUSES
            or self._sent.get(execution_arn) == listed_status
        ):
            return
        if any(key[0] == execution_arn for key in self._pending):
            return  # still retrying an earlier event of this execution
        description = self._settled_description(execution_arn)
        if description is None:
            return  # caught ending: look again on the next poll
        status = description["status"]
        if status in FORWARDED_STATUSES and status != self._sent.get(execution_arn):
            event = status_change_event(
                description, region=self._region, account_id=self._account_id
            )
            self._pending[(execution_arn, status)] = _Pending(event)

    def _settled_description(self, execution_arn: str) -> dict[str, Any] | None:
        """DescribeExecution, once the answer is complete.

        moto ends an execution by setting its status before its output, error and cause, and
        a describe may come in between. Two equal answers in a row mean the ending is done.
        """
        description = dict(self._client.describe_execution(executionArn=execution_arn))
        if description["status"] not in FORWARDED_STATUSES:
            return description
        again = dict(self._client.describe_execution(executionArn=execution_arn))
        description.pop("ResponseMetadata", None)
        again.pop("ResponseMetadata", None)
        return description if again == description else None

    def _send_pending(self) -> int:
        sent = 0
        for key, pending in list(self._pending.items()):  # in the order they were collected
            execution_arn, status = key
            pending.attempts += 1
            try:
                self._target(pending.event)
            except Exception:
                if pending.attempts < MAX_ATTEMPTS:
                    LOGGER.warning("status event for %s failed; retrying", execution_arn)
                    continue
                LOGGER.exception("status event for %s dropped after retries", execution_arn)
            del self._pending[key]
            self._sent[execution_arn] = status
            for unsettled in self._unsettled.values():
                unsettled.discard(execution_arn)
            sent += 1
        return sent


class Schedule:
    """Invokes ``target`` with a "Scheduled Event" every ``interval_seconds``, as a rule with a
    ``rate()`` schedule does (the first run one interval after start)."""

    def __init__(
        self,
        rule_name: str,
        interval_seconds: float,
        target: EventTarget,
        *,
        region: str,
        account_id: str,
    ) -> None:
        self.rule_arn = f"arn:aws:events:{region}:{account_id}:rule/{rule_name}"
        self._target = target
        self._region = region
        self._account_id = account_id
        self._ticker = _Ticker(f"local-schedule-{rule_name}", interval_seconds, self.run_once)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def run_once(self) -> None:
        self._target(
            scheduled_event(self.rule_arn, region=self._region, account_id=self._account_id)
        )
