"""How much does the warm webhook add to bare SNS verification, per notification?

Contenders, all on the same signed notifications (a new MessageId each), CPU time per message:

* ``floor``: the minimal verification of bench/verify.py (json.loads, canonical string, one RSA
  verify with the key already loaded) — the baseline of every ratio;
* ``domain``: :meth:`snsflow.webhook.Webhook.handle` — strict parse, workflow lookup, topic
  check, full verification, execution input, claim, start, mark RUNNING — with the stores and
  the execution starter answered by in-memory fakes (the ports' test doubles);
* ``handler``: the real ``functions.webhook.handler.lambda_handler`` on a REST proxy event,
  wired to that same domain object: event decoding, Powertools logger and metrics (and the
  tracer's handler subsegment if the handler has one; set up as in Lambda, trace not sampled),
  JSON answer. Logs and metrics go to /dev/null;
* ``handler-duplicate`` / ``domain-duplicate``: the same messages delivered a second time.

The webhook's certificate cache and workflow cache are warm, as in a warm Lambda container.
Usage: ``.venv/bin/python bench/handler.py [--rounds N] [--messages N]``; writes
``bench/results/handler.json``. Target: the handler within 3x the floor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from common import (
    cpu_seconds,
    in_shuffled_order,
    machine,
    measure_rounds,
    median_ratio,
    use_project_imports,
    write_results,
)

if TYPE_CHECKING:
    from snsflow.webhook import Webhook

TARGET_RATIO = 3.0
WORKFLOW_ID = "order-events"


def lambda_environment(directory: str) -> dict[str, str]:
    """What Lambda and the stack set for the webhook function (tracer on, trace not sampled)."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": "snsflow-webhook",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": directory,
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
        "Sampled=0",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "POWERTOOLS_SERVICE_NAME": "snsflow",
        "POWERTOOLS_METRICS_NAMESPACE": "snsflow",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "SNSFLOW_WORKFLOWS_TABLE_NAME": "snsflow-workflows",
        "SNSFLOW_EXECUTIONS_TABLE_NAME": "snsflow-executions",
        "SNSFLOW_SUBSCRIPTIONS_TABLE_NAME": "snsflow-subscriptions",
        "SNSFLOW_DELIVERIES_TABLE_NAME": "snsflow-deliveries",
    }


@contextlib.contextmanager
def stdout_discarded() -> Iterator[None]:
    """Send file descriptor 1 (Powertools logs and metrics) to /dev/null for the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


@dataclass
class Wiring:
    """One webhook over in-memory ports; ``reset`` forgets every delivery (a fresh table)."""

    webhook: Webhook
    reset: Callable[[], None]


def build_wiring() -> Wiring:
    from snsflow.executions import CachedWorkflows, ExecutionLauncher
    from snsflow.sns import CertificateProvider, MessageVerifier, StaticCertificateFetcher
    from snsflow.sns.verifier import utc_now
    from snsflow.store.workflows import WorkflowRecord
    from snsflow.webhook import Webhook
    from tests.support.sns import default_certificate
    from tests.unit.executions.fakes import FakeStarter, InMemoryExecutionRecords, workflow

    records = InMemoryExecutionRecords()
    starter = FakeStarter()
    registered = workflow(WORKFLOW_ID)

    class Registry:
        def get(self, workflow_id: str) -> WorkflowRecord | None:
            return registered if workflow_id == WORKFLOW_ID else None

        def list(self) -> list[WorkflowRecord]:
            return [registered]

    class NoSubscriptions:
        """Notifications never touch subscriptions: any call is a bug in the benchmark."""

        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"unexpected subscriptions call: {name}")

    webhook = Webhook(
        workflows=CachedWorkflows(Registry(), ttl=timedelta(seconds=30), clock=utc_now),
        verifier=MessageVerifier(
            CertificateProvider(StaticCertificateFetcher(default_certificate().pem)),
            max_age=timedelta(hours=2),
        ),
        executions=ExecutionLauncher(records, starter, clock=utc_now, retention=timedelta(days=30)),
        subscriptions=NoSubscriptions(),
        confirmer=NoSubscriptions(),
        clock=utc_now,
    )

    def reset() -> None:
        records.records.clear()
        starter.started.clear()

    return Wiring(webhook, reset)


def build_notifications(count: int) -> list[str]:
    from tests.support.sns import SnsTestSigner

    signer = SnsTestSigner()
    now = datetime.now(UTC)
    bodies = []
    for n in range(count):
        order = {
            "orderId": f"ord-{n:06d}",
            "status": "SHIPPED",
            "customer": {"id": f"cus-{n * 7919 % 100000:05d}", "country": "DE"},
            "items": [{"sku": f"SKU-{n}-{i}", "quantity": i + 1} for i in range(3)],
            "note": "Grüße aus dem Lager — ships in 2 boxes",
        }
        bodies.append(
            signer.notification(
                json.dumps(order),
                subject="Order shipped" if n % 2 else None,
                timestamp=now,
                signature_version="2" if n % 2 else "1",
                message_attributes={"tenant": {"Type": "String", "Value": "acme"}},
            )
        )
    return bodies


def floor_runner(bodies: list[str]) -> Callable[[], None]:
    """bench/verify.py's floor, verifying every message once."""
    import verify

    from tests.support.sns import default_certificate

    messages = [
        verify.Message(
            name=str(n),
            body=body.encode(),
            fields=json.loads(body),
            certificate_pem=default_certificate().pem,
            at=datetime.now(UTC),
            source="test-ca",
        )
        for n, body in enumerate(bodies)
    ]
    implementation = verify.floor_implementation(messages)
    runs = [implementation.runner(message) for message in messages]

    def run_all() -> None:
        for run in runs:
            run()

    return run_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args(argv)

    task_root = tempfile.mkdtemp(prefix="snsflow-bench-task-")
    os.environ.update(lambda_environment(task_root))
    use_project_imports()
    from functions.webhook import handler as webhook_handler
    from tests.support.apigw import LambdaContext, sns_delivery_event

    bodies = build_notifications(args.messages)
    raw = [body.encode() for body in bodies]
    events = [sns_delivery_event(WORKFLOW_ID, body) for body in bodies]
    floor = floor_runner(bodies)
    domain = build_wiring()
    handler = build_wiring()
    webhook_handler._webhook = lambda: handler.webhook  # type: ignore[assignment]
    context = LambdaContext()
    outcomes: dict[str, set[str]] = {}

    def domain_pass(outcome: str) -> Callable[[], float]:
        def run() -> None:
            answers = {domain.webhook.handle(WORKFLOW_ID, body, {})["status"] for body in raw}
            outcomes.setdefault(f"domain-{outcome}", set()).update(answers)

        return lambda: cpu_seconds(run)

    def handler_pass(outcome: str) -> Callable[[], float]:
        def run() -> None:
            answers = {
                json.loads(webhook_handler.lambda_handler(event, context)["body"])["status"]
                for event in events
            }
            outcomes.setdefault(f"handler-{outcome}", set()).update(answers)

        return lambda: cpu_seconds(run)

    def one_round(rng: random.Random) -> dict[str, float]:
        domain.reset()
        handler.reset()
        first = in_shuffled_order(
            {
                "floor": lambda: cpu_seconds(floor),
                "domain": domain_pass("accepted"),
                "handler": handler_pass("accepted"),
            },
            rng,
        )
        again = in_shuffled_order(
            {
                "domain-duplicate": domain_pass("duplicate"),
                "handler-duplicate": handler_pass("duplicate"),
            },
            rng,
        )
        return first | again

    with stdout_discarded():
        by_name = measure_rounds(one_round, args.rounds)
        handler.reset()
        shares = breakdown(handler_pass("accepted"))
    assert outcomes == {
        "domain-accepted": {"accepted"},
        "handler-accepted": {"accepted"},
        "domain-duplicate": {"duplicate"},
        "handler-duplicate": {"duplicate"},
    }, outcomes
    return report(by_name, shares, args)


def breakdown(run: Callable[[], float]) -> dict[str, float]:
    """Shares of one profiled handler pass per layer of the call (the profiler inflates small
    calls, so these are proportions, not timings)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats: dict[tuple[str, int, str], tuple[Any, ...]]
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cumulative(file_suffix: str, function: str) -> float:
        return float(
            sum(
                row[3]
                for (filename, _line, name), row in stats.items()
                if filename.endswith(file_suffix) and name == function
            )
        )

    logger = cumulative("logging/logger.py", "decorate")
    tracer = cumulative("tracing/tracer.py", "decorate")
    metrics = cumulative("provider/base.py", "decorate")
    body = cumulative("functions/webhook/handler.py", "lambda_handler")
    # A handled delivery writes no log line of its own (its EMF document is its record).
    log_lines = cumulative("logging/logger.py", "info")
    add_metric = cumulative("metrics/metrics.py", "add_metric")
    metadata = cumulative("metrics/metrics.py", "add_metadata")
    handle = cumulative("snsflow/webhook.py", "handle")
    verify = cumulative("snsflow/sns/verifier.py", "verify")
    accept = cumulative("snsflow/executions.py", "accept")
    # The decorators nest logger > tracer (if the handler has one) > metrics > the handler body.
    inner_of_logger = tracer or metrics
    layers = {
        "powertools logger: context injection": logger - inner_of_logger,
        "powertools tracer: X-Ray subsegment, annotations": tracer - metrics if tracer else 0.0,
        "powertools metrics: EMF flush": metrics - body,
        "powertools logger: a log line (refusals only)": log_lines,
        "powertools metrics: add_metric": add_metric,
        "powertools metrics: the delivery's metadata": metadata,
        "handler: event fields, body, JSON answer": body
        - handle
        - log_lines
        - add_metric
        - metadata,
        "webhook: strict parse, workflow, topic": handle - verify - accept,
        "webhook: signature verification": verify,
        "webhook: execution input, claim, start (fakes)": accept,
    }
    return {name: round(value / logger, 3) for name, value in layers.items()}


def report(
    by_name: dict[str, list[float]], shares: dict[str, float], args: argparse.Namespace
) -> int:
    floor = by_name["floor"]
    figures = {}
    print(f"\n{'contender':<20} {'us/msg':>8} {'x floor':>8}")
    for name, seconds in by_name.items():
        per_message = statistics.median(seconds) / args.messages * 1e6
        ratio = median_ratio(seconds, floor)
        figures[name] = {
            "microseconds_per_message": round(per_message, 1),
            "ratio_to_floor": round(ratio, 3),
        }
        print(f"{name:<20} {per_message:>8.1f} {ratio:>8.2f}")
    ratio = figures["handler"]["ratio_to_floor"]
    write_results(
        "handler",
        {
            "benchmark": "warm webhook path per notification, AWS calls answered by fakes",
            "machine": machine(),
            "method": {
                "rounds": args.rounds,
                "messages_per_round": args.messages,
                "timer": "CPU time of the measuring thread (time.thread_time), GC on",
                "summary": "per contender: median over rounds of CPU seconds per message; "
                "ratio: median over rounds of contender / floor of the same round",
                "order": "floor, domain and handler shuffled in every round, then the two "
                "duplicate passes shuffled",
            },
            "results": figures,
            "handler_time_shares": shares,
            "target": {
                "max_ratio_to_floor": TARGET_RATIO,
                "handler_ratio": ratio,
                "met": ratio <= TARGET_RATIO,
            },
        },
    )
    print("where a handler call spends its time:")
    for name, share in shares.items():
        print(f"  {share:>6.1%}  {name}")
    print(f"target: handler within {TARGET_RATIO}x of the floor: {ratio <= TARGET_RATIO}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
