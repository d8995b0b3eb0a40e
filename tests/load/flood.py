"""The flood scenario against a running local stack, shared by ``tests/load/test_flood.py``
(short) and ``bench/flood.py`` (longer, and without the firewall for comparison).

A real local SNS topic publishes notifications to a subscribed workflow at a steady rate,
first alone (the baseline), then while another process floods the same webhook route at
``flood_multiple`` times the stage's rate with requests that cannot be SNS's: no key, a key
that is not well formed, and well-formed keys no one issued (random each time). The figures:
the flood's rate and answers, what SNS saw for each valid message (the local SNS's delivery
log: attempts and statuses), and the latency of the accepted deliveries (the local gateway's
access log) during the flood against the baseline.

The flood runs in its own process, as an attacker would: it does not share the stack's
interpreter lock. Its requests are paced to the rate; a process that cannot keep up sends
fewer, and the achieved rate is what is reported.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from snsflow.local.stack import LocalStack, wait_until
from tests.load.scenario import WORKFLOW, access_log, percentiles, sns_client, subscribe_confirmed

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

#: What each kind of flood request is, and the answer the firewall gives it.
FLOOD_KINDS = ("no_key", "malformed_key", "unknown_key")
EXPECTED_ANSWERS = {
    "no_key": (401, "missing_api_key"),
    "malformed_key": (403, "invalid_api_key"),
    "unknown_key": (403, "invalid_api_key"),
}


@dataclass
class FloodPlan:
    #: The local stage's throttle (the deployed default is 100 and 200).
    stage_rate: float = 20.0
    stage_burst: int = 20
    #: The flood's rate, as a multiple of ``stage_rate``.
    flood_multiple: float = 10.0
    #: Valid notifications published per second, in each phase.
    valid_per_second: float = 4.0
    baseline_seconds: float = 4.0
    flood_seconds: float = 8.0
    flood_threads: int = 8
    timeout: float = 60.0

    @property
    def flood_rate(self) -> float:
        return self.stage_rate * self.flood_multiple


@dataclass
class FloodReport:
    """What the flood process sent and was answered."""

    sent: int
    seconds: float
    #: (kind, status, error code) -> count
    answers: Counter[tuple[str, int, str]]
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.sent / max(self.seconds, 1e-9)


@dataclass
class PhaseResult:
    message_ids: list[str]
    #: MessageId -> statuses of every attempt the local SNS made, in order.
    attempts: dict[str, list[int | None]]
    latencies_ms: list[float]

    @property
    def accepted_first_time(self) -> int:
        return sum(1 for statuses in self.attempts.values() if statuses[:1] == [200])

    @property
    def retried(self) -> int:
        return sum(1 for statuses in self.attempts.values() if len(statuses) > 1)

    @property
    def delivered(self) -> int:
        return sum(1 for statuses in self.attempts.values() if 200 in statuses)

    @property
    def throttled_answers(self) -> int:
        return sum(statuses.count(503) for statuses in self.attempts.values())

    def summary(self) -> dict[str, Any]:
        return {
            "valid_published": len(self.message_ids),
            "accepted_on_first_attempt": self.accepted_first_time,
            "delivered_in_the_end": self.delivered,
            "needed_a_retry": self.retried,
            "answered_503": self.throttled_answers,
            "latency_ms": percentiles(self.latencies_ms),
        }


@dataclass
class FloodResult:
    plan: FloodPlan
    baseline: PhaseResult
    during: PhaseResult
    flood: FloodReport
    executions: int

    def summary(self) -> dict[str, Any]:
        answers: dict[str, dict[str, int]] = {}
        for (kind, status, code), count in sorted(self.flood.answers.items()):
            answers.setdefault(kind, {})[f"{status} {code}"] = count
        refused = sum(
            count for (_, status, _), count in self.flood.answers.items() if 400 <= status < 500
        )
        return {
            "stage_limit_per_second": self.plan.stage_rate,
            "flood": {
                "target_per_second": self.plan.flood_rate,
                "achieved_per_second": round(self.flood.rate, 1),
                "times_the_stage_limit": round(self.flood.rate / self.plan.stage_rate, 1),
                "sent": self.flood.sent,
                "refused_4xx_per_second": round(refused / max(self.flood.seconds, 1e-9), 1),
                "answers": answers,
                "client_errors": dict(self.flood.errors),
            },
            "valid_without_flood": self.baseline.summary(),
            "valid_during_flood": self.during.summary(),
            "executions_started": self.executions,
        }

    def latency_ratios(self) -> dict[str, float]:
        before = percentiles(self.baseline.latencies_ms)
        during = percentiles(self.during.latencies_ms)
        return {p: round(during[p] / max(before[p], 1e-3), 2) for p in ("p50", "p95")}


# -- the flood (in its own process) ---------------------------------------------------------------


def _flood_request(kind: str, path: str) -> tuple[str, dict[str, str]]:
    if kind == "no_key":
        return path, {}
    if kind == "malformed_key":
        return f"{path}?x-api-key=snsf_{secrets.token_hex(4)}", {}
    # Well formed, as random as a real key: a fresh one every time.
    return path, {"x-api-key": "snsf_" + secrets.token_urlsafe(32)}


def _flood_thread(
    host: str,
    port: int,
    path: str,
    interval: float,
    offset: float,
    stop: Event,
    answers: Counter[tuple[str, int, str]],
    errors: Counter[str],
    guard: threading.Lock,
) -> None:
    next_at = time.monotonic() + offset
    sent = 0
    while not stop.is_set():
        delay = next_at - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        kind = FLOOD_KINDS[sent % len(FLOOD_KINDS)]
        target, headers = _flood_request(kind, path)
        try:
            connection = http.client.HTTPConnection(host, port, timeout=10)
            connection.request("POST", target, body=b"{}", headers=headers)
            response = connection.getresponse()
            body = response.read()
            connection.close()
            code = str(json.loads(body).get("error", {}).get("code", "")) if body else ""
            with guard:
                answers[(kind, response.status, code)] += 1
        except (OSError, http.client.HTTPException, ValueError) as error:
            with guard:
                errors[type(error).__name__] += 1
        sent += 1
        # Paced: a little behind schedule, catch up; further behind, go on from now (no burst).
        next_at += interval
        next_at = max(next_at, time.monotonic() - interval)


def flood_process(
    api_url: str, rate: float, threads: int, stop: Event, started: Event, results: Queue[Any]
) -> None:
    """Floods ``POST /webhooks/<workflow>`` at ``rate`` until ``stop``; puts its report."""
    parts = urlsplit(api_url)
    answers: Counter[tuple[str, int, str]] = Counter()
    errors: Counter[str] = Counter()
    guard = threading.Lock()
    interval = threads / rate
    workers = [
        threading.Thread(
            target=_flood_thread,
            args=(
                parts.hostname,
                parts.port,
                f"/webhooks/{WORKFLOW}",
                interval,
                n * interval / threads,
                stop,
                answers,
                errors,
                guard,
            ),
        )
        for n in range(threads)
    ]
    begun = time.monotonic()
    for worker in workers:
        worker.start()
    started.set()
    for worker in workers:
        worker.join()
    seconds = time.monotonic() - begun
    results.put((sum(answers.values()) + sum(errors.values()), seconds, answers, errors))


# -- the valid traffic ----------------------------------------------------------------------------


def _publish_steadily(stack: LocalStack, topic: str, rate: float, seconds: float) -> list[str]:
    """Publishes one order every ``1/rate`` s for ``seconds``; their MessageIds."""
    client = sns_client(stack)
    ids: list[str] = []
    pause = threading.Event()  # never set: paces the publishing
    begun = time.monotonic()
    count = round(rate * seconds)
    for n in range(count):
        pause.wait(max(0.0, begun + n / rate - time.monotonic()))
        order = {"orderId": f"F-{uuid.uuid4().hex[:8]}", "status": "accepted"}
        ids.append(client.publish(TopicArn=topic, Message=json.dumps(order))["MessageId"])
    return ids


def _phase(
    stack: LocalStack,
    subscription_of: str,
    ids: list[str],
    lines: list[tuple[str, int, float, float]],
    window: tuple[float, float],
) -> PhaseResult:
    wanted = set(ids)
    attempts: dict[str, list[int | None]] = {message_id: [] for message_id in ids}
    for attempt in stack.sns.delivery_log():
        if attempt.message_id in wanted and attempt.subscription_arn == subscription_of:
            attempts[attempt.message_id].append(attempt.status_code)
    begin, end = window
    latencies = [ms for _, status, ms, at in lines if status == 200 and begin <= at < end]
    return PhaseResult(ids, attempts, latencies)


def _subscription_arn(stack: LocalStack, topic: str) -> str:
    listed = sns_client(stack).list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    (subscription,) = listed
    return subscription["SubscriptionArn"]


def _executions(stack: LocalStack, since: datetime) -> int:
    from snsflow.cli.stack import ReadApi

    api = ReadApi(stack.api_url, stack.read_key)
    found = 0
    token: str | None = None
    while True:
        page = api.executions(WORKFLOW, since=since, limit=100, next_token=token)
        found += len(page.items)
        token = page.next_token
        if not token:
            return found


def run_flood(stack: LocalStack, plan: FloodPlan) -> FloodResult:
    """The baseline, then the flood; the stack's throttle should be ``plan``'s."""
    topic = subscribe_confirmed(stack, sns_client(stack), stack.workflow(WORKFLOW).sns_endpoint)
    subscription = _subscription_arn(stack, topic)
    since = datetime.now(UTC) - timedelta(seconds=1)
    spawn = multiprocessing.get_context("spawn")
    stop, started = spawn.Event(), spawn.Event()
    results: Queue[Any] = spawn.Queue()
    with access_log() as log:
        baseline_begun = time.time()
        baseline_ids = _publish_steadily(stack, topic, plan.valid_per_second, plan.baseline_seconds)
        stack.sns.wait_until_idle(plan.timeout)
        flood = spawn.Process(
            target=flood_process,
            args=(stack.api_url, plan.flood_rate, plan.flood_threads, stop, started, results),
            daemon=True,
        )
        flood.start()
        try:
            if not started.wait(plan.timeout):
                raise TimeoutError("the flood process did not start")
            flood_begun = time.time()
            during_ids = _publish_steadily(stack, topic, plan.valid_per_second, plan.flood_seconds)
            stack.sns.wait_until_idle(plan.timeout)
        finally:
            stop.set()
        sent, seconds, answers, errors = results.get(timeout=plan.timeout)
        flood.join(plan.timeout)
        ended = time.time()
        lines = log.of(f"/webhooks/{WORKFLOW}")
    baseline = _phase(stack, subscription, baseline_ids, lines, (baseline_begun, flood_begun))
    during = _phase(stack, subscription, during_ids, lines, (flood_begun, ended))
    # SNS may have given up on some (without the firewall): those never run.
    delivered = baseline.delivered + during.delivered

    def counted() -> tuple[int] | None:  # a tuple: a count of 0 is an answer too
        found = _executions(stack, since)
        return (found,) if found >= delivered else None

    (executions,) = wait_until(
        counted, timeout=plan.timeout, interval=0.2, what=f"{delivered} executions"
    )
    return FloodResult(
        plan=plan,
        baseline=baseline,
        during=during,
        flood=FloodReport(sent, seconds, answers, errors),
        executions=executions,
    )
