"""The load scenario against a running local stack, shared by ``tests/load`` (small) and
``bench/load.py`` (full): notifications published to the local SNS by concurrent publishers,
a share of them delivered again (``LocalSns.redeliver``) in shuffled order while the others are
still arriving, then the proof — one execution per message in Step Functions, one record per
message, none twice — and the figures: throughput and webhook latency percentiles.

Latency is what the local gateway measures for each webhook request (authorizer, webhook and
its AWS calls to moto), read from its access log (``snsflow.local.gateway``, one line per
request, never the query string). The baselines come from the same run: the bare local SNS
delivering to a loopback receiver that answers 200 at once, and the gateway serving its
trivial route (``GET /``, the static executions page) to as many concurrent clients.
"""

from __future__ import annotations

import http.server
import json
import logging
import queue
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3

from snsflow.cli.stack import ReadApi
from snsflow.executions import execution_name
from snsflow.local.stack import LocalStack, wait_until

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

WORKFLOW = "order-events"
GATEWAY_LOGGER = "snsflow.local.gateway"


@dataclass
class LoadPlan:
    notifications: int
    publishers: int
    repeat_fraction: float = 0.2
    seed: int = 20261128
    timeout: float = 300.0


@dataclass
class LoadResult:
    message_ids: list[str]
    repeated: list[str]
    #: Step Functions execution names of the workflow created during the run, with counts.
    runs: Counter[str]
    #: MessageId → deliveries recorded.
    records: dict[str, int]
    seconds: float
    webhook_latencies_ms: list[float]
    webhook_requests: int
    webhook_span_seconds: float
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def notifications_per_second(self) -> float:
        return len(self.message_ids) / self.seconds

    @property
    def webhook_requests_per_second(self) -> float:
        return self.webhook_requests / max(self.webhook_span_seconds, 1e-9)

    def summary(self) -> dict[str, Any]:
        return {
            "notifications": len(self.message_ids),
            "repeated_deliveries": len(self.repeated),
            "webhook_requests": self.webhook_requests,
            "webhook_statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "seconds_end_to_end": round(self.seconds, 3),
            "notifications_per_second": round(self.notifications_per_second, 1),
            "webhook_requests_per_second": round(self.webhook_requests_per_second, 1),
            "webhook_latency_ms": percentiles(self.webhook_latencies_ms),
        }


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": values[0] if values else 0.0, "p95": 0.0, "p99": 0.0}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2)}


class _AccessLog(logging.Handler):
    """The gateway's access-log lines: (path, status, latency ms, time)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, int, float, float]] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 7:
            path, status, latency_ms = args[2], args[3], args[5]
            assert isinstance(status, int)
            assert isinstance(latency_ms, float)
            with self._guard:
                self.lines.append((str(path), status, latency_ms, record.created))

    def of(self, prefix: str) -> list[tuple[str, int, float, float]]:
        with self._guard:
            return [line for line in self.lines if line[0].startswith(prefix)]


@contextmanager
def access_log() -> Iterator[_AccessLog]:
    logger = logging.getLogger(GATEWAY_LOGGER)
    handler = _AccessLog()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def sns_client(stack: LocalStack) -> SNSClient:
    return boto3.client("sns", endpoint_url=stack.sns_endpoint, region_name=stack.config.region)


def subscribe_confirmed(stack: LocalStack, client: SNSClient, endpoint: str) -> str:
    topic = client.create_topic(Name=f"load-{uuid.uuid4().hex[:12]}")["TopicArn"]
    client.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)

    def confirmed() -> bool:
        listed = client.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        return bool(listed) and all(s["SubscriptionArn"] != "PendingConfirmation" for s in listed)

    wait_until(confirmed, timeout=30, what=f"the subscription of {topic} to be confirmed")
    return topic


def publish_concurrently(
    stack: LocalStack, topic: str, plan: LoadPlan, on_published: queue.Queue[str] | None = None
) -> list[str]:
    """``plan.notifications`` orders from ``plan.publishers`` threads (one boto3 client each)."""
    ids: list[str] = []
    guard = threading.Lock()
    share, extra = divmod(plan.notifications, plan.publishers)

    def publish(publisher: int) -> None:
        client = sns_client(stack)
        for n in range(share + (publisher < extra)):
            order = {"orderId": f"L{publisher}-{n}", "status": "accepted"}
            message_id = client.publish(TopicArn=topic, Message=json.dumps(order))["MessageId"]
            with guard:
                ids.append(message_id)
            if on_published is not None:
                on_published.put(message_id)

    threads = [threading.Thread(target=publish, args=(p,)) for p in range(plan.publishers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def _redeliver_shuffled(
    stack: LocalStack, published: queue.Queue[str], plan: LoadPlan, repeated: list[str]
) -> None:
    """Redelivers exactly ``repeat_fraction`` of the messages (drawn from ``plan.seed``) while
    publishing goes on, in batches of ten shuffled among themselves: repeats overtake first
    deliveries and each other."""
    rng = random.Random(plan.seed)
    wanted = round(plan.notifications * plan.repeat_fraction)
    picked = set(rng.sample(range(plan.notifications), wanted))
    batch: list[str] = []
    for ordinal in range(plan.notifications):
        message_id = published.get(timeout=plan.timeout)
        if ordinal in picked:
            batch.append(message_id)
        if len(batch) == 10 or (ordinal == plan.notifications - 1 and batch):
            rng.shuffle(batch)
            for chosen in batch:
                stack.sns.redeliver(chosen)
                repeated.append(chosen)
            batch.clear()


def run_load(stack: LocalStack, plan: LoadPlan) -> LoadResult:
    client = sns_client(stack)
    workflow = stack.workflow(WORKFLOW)
    topic = subscribe_confirmed(stack, client, workflow.sns_endpoint)
    sfn = boto3.client(
        "stepfunctions", endpoint_url=stack.aws_endpoint, region_name=stack.config.region
    )
    since = datetime.now(UTC) - timedelta(seconds=1)
    before = set(_runs(sfn, workflow.state_machine_arn))
    published: queue.Queue[str] = queue.Queue()
    repeated: list[str] = []
    with access_log() as log:
        started = time.monotonic()
        redeliverer = threading.Thread(
            target=_redeliver_shuffled, args=(stack, published, plan, repeated)
        )
        redeliverer.start()
        ids = publish_concurrently(stack, topic, plan, published)
        redeliverer.join()
        names = {execution_name(m) for m in ids}
        wait_until(
            lambda: names <= set(_runs(sfn, workflow.state_machine_arn)),
            timeout=plan.timeout,
            interval=0.2,
            what=f"{plan.notifications} executions",
        )
        seconds = time.monotonic() - started
        stack.sns.wait_until_idle(plan.timeout)
        lines = log.of(f"/webhooks/{WORKFLOW}")
    runs = Counter(n for n in _runs(sfn, workflow.state_machine_arn) if n not in before)
    records = _records(stack, since)
    times = [line[3] for line in lines]
    return LoadResult(
        message_ids=ids,
        repeated=repeated,
        runs=runs,
        records=records,
        seconds=seconds,
        webhook_latencies_ms=[line[2] for line in lines],
        webhook_requests=len(lines),
        webhook_span_seconds=(max(times) - min(times)) if times else 0.0,
        statuses=Counter(line[1] for line in lines),
    )


def _runs(sfn: Any, state_machine_arn: str) -> list[str]:
    return [
        run["name"]
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
        for run in page["executions"]
    ]


def _records(stack: LocalStack, since: datetime) -> dict[str, int]:
    """MessageId → deliveries, from the read API (every page)."""
    api = ReadApi(stack.api_url, stack.read_key)
    found: dict[str, int] = {}
    token: str | None = None
    while True:
        page = api.executions(WORKFLOW, since=since, limit=100, next_token=token)
        for execution in page.items:
            assert execution.message_id not in found, "a message recorded twice"
            found[execution.message_id] = execution.deliveries
        token = page.next_token
        if not token:
            return found


# -- baselines -----------------------------------------------------------------------------------


class _Receiver:
    """A loopback endpoint that answers every POST 200 at once (confirming subscriptions)."""

    def __init__(self) -> None:
        self.received = 0
        self.done = threading.Event()
        self.expected = 0
        receiver = self
        guard = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                document = json.loads(body)
                if document.get("Type") == "SubscriptionConfirmation":
                    urllib_get(document["SubscribeURL"])
                    return
                with guard:
                    receiver.received += 1
                    if receiver.received >= receiver.expected:
                        receiver.done.set()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


def urllib_get(url: str) -> None:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as answer:
        answer.read()


def bare_sns_round_trip(stack: LocalStack, plan: LoadPlan) -> dict[str, Any]:
    """The same publishing through the local SNS to a receiver that does nothing."""
    receiver = _Receiver()
    receiver.thread.start()
    try:
        client = sns_client(stack)
        topic = subscribe_confirmed(stack, client, receiver.url)
        receiver.expected = plan.notifications
        started = time.monotonic()
        publish_concurrently(stack, topic, plan)
        if not receiver.done.wait(plan.timeout):
            raise TimeoutError("the bare receiver did not get every notification")
        seconds = time.monotonic() - started
        client.delete_topic(TopicArn=topic)
    finally:
        receiver.server.shutdown()
        receiver.thread.join()
        receiver.server.server_close()
    return {
        "notifications": plan.notifications,
        "seconds_end_to_end": round(seconds, 3),
        "notifications_per_second": round(plan.notifications / seconds, 1),
    }


def trivial_route(stack: LocalStack, requests: int, clients: int) -> dict[str, Any]:
    """``GET /`` (static page, no authorizer) from ``clients`` threads: the gateway's floor."""
    parts = urlsplit(stack.api_url)
    share = requests // clients

    def client() -> None:
        import http.client

        for _ in range(share):
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
            connection.request("GET", "/")
            connection.getresponse().read()
            connection.close()

    with access_log() as log:
        threads = [threading.Thread(target=client) for _ in range(clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        lines = [line for line in log.of("/") if line[0] == "/"]
    return {
        "requests": len(lines),
        "requests_per_second": round(len(lines) / seconds, 1),
        "latency_ms": percentiles([line[2] for line in lines]),
    }
