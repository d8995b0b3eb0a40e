"""AWS API calls and DynamoDB capacity units per notification and per authorization: counted.

The real handlers run against moto, each AWS operation they make counted with a botocore hook
on the very clients they use, and each DynamoDB request charged the capacity units DynamoDB
would charge for it by the meter of ``bench/meter.py`` (its rules and their sources are in
that module). Every call figure is set beside the floor any design must pay for the same work
(a durable write and a StartExecution for a new message; a durable look-up for a redelivery;
one read for a cold key, none for a cached one), as a ratio.

The headline write units (``write_units`` in the results): an accepted STANDARD notification
end to end (the webhook's claim and mark RUNNING, then the status function's one event, the
terminal one with the run's output: the stack's rule forwards no RUNNING event), a redelivery of
a message whose run has finished, and a refused delivery. ``write_units_before`` keeps the
first figures measured, with the commit of the code they measured, and ``write_units_history``
every figure measured before the current one (oldest first, each with its commit); every later
run carries both over, so the file always shows before → after.

Usage: ``.venv/bin/python bench/calls.py``; writes ``bench/results/calls.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from unittest import mock

from common import (
    ROOT,
    design_commit,
    machine,
    previous_results,
    use_project_imports,
    write_results,
)
from meter import (
    CapacityMeter,
    Charge,
    as_number,
    item_bytes,
    total_units,
    units_by_target,
    write_units,
)

if TYPE_CHECKING:
    from snsflow.store.workflows import WorkflowRegistry

REGION = "us-east-1"


@dataclass
class CallCounter:
    """Every AWS operation the shared clients call, as ``service.Operation``."""

    names: list[str] = field(default_factory=list)

    def __call__(self, event_name: str, **_: Any) -> None:
        self.names.append(event_name.split(".", 1)[1])

    def take(self) -> list[str]:
        taken, self.names = self.names, []
        return taken


@dataclass
class MotoStack:
    counter: CallCounter
    meter: CapacityMeter
    registry: WorkflowRegistry
    #: State machine ARN per workflow id.
    machines: dict[str, str]


@contextmanager
def moto_stack() -> Iterator[MotoStack]:
    """moto with every snsflow table, the example workflows registered and a state machine each
    (not executed: only the calls matter), the handlers' settings in the environment, and the
    call counter and capacity meter on the handlers' shared clients."""
    import boto3
    from moto import mock_aws

    from snsflow import aws
    from snsflow.store.tables import ALL_TABLES
    from snsflow.store.workflows import WorkflowRegistry

    os.environ |= {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
    }
    with mock_aws():
        aws.configure(region_name=REGION)
        client = aws.dynamodb_client()
        labels = {}
        for schema in ALL_TABLES:
            name = f"snsflow-bench-{schema.logical_name.lower()}"
            client.create_table(**schema.create_table_kwargs(name))
            os.environ[f"SNSFLOW_{schema.logical_name.upper()}_TABLE_NAME"] = name
            labels[name] = schema.logical_name
        registry = WorkflowRegistry(
            aws.dynamodb_resource().Table(os.environ["SNSFLOW_WORKFLOWS_TABLE_NAME"])
        )
        counter = CallCounter()
        for emitter in (
            aws.dynamodb_resource().meta.client.meta.events,
            aws.stepfunctions_client().meta.events,
        ):
            # Emitted for every call, even one a test hook then answers without sending it.
            emitter.register("provide-client-params", counter)
        # The meter reads item images through a client of its own, which nothing counts.
        meter = CapacityMeter(boto3.session.Session(region_name=REGION).client("dynamodb"), labels)
        meter.attach(aws.dynamodb_resource().meta.client)
        stack = MotoStack(counter, meter, registry, {})
        for workflow in _example_workflows():
            register_workflow(stack, workflow)
        counter.take()
        meter.take()
        yield stack
        aws.reset()


def _example_workflows() -> list[Any]:
    from snsflow.workflows import load_workflows

    return list(load_workflows(ROOT / "workflows"))


def register_workflow(stack: MotoStack, workflow: Any) -> None:
    """A state machine for ``workflow`` (a :class:`snsflow.workflows.Workflow`) and its
    registry record."""
    from snsflow import aws
    from snsflow.store.workflows import WorkflowRecord

    machine = aws.stepfunctions_client().create_state_machine(
        name=f"snsflow-{workflow.id}",
        definition=workflow.definition_json,
        roleArn="arn:aws:iam::123456789012:role/snsflow-bench",
        type=workflow.state_machine.type,
    )
    stack.registry.put(WorkflowRecord.from_workflow(workflow, machine["stateMachineArn"]))
    stack.machines[workflow.id] = machine["stateMachineArn"]


def fail_next(operation: str, code: str) -> None:
    """The next call of ``service.Operation`` answers ``code`` (as after botocore's retries)."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    from snsflow import aws

    service, name = operation.split(".")
    client = aws.stepfunctions_client() if service == "sfn" else aws.dynamodb_resource().meta.client
    pending = [True]

    def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not pending or not pending.pop():
            return None
        return AWSResponse("https://injected", 400, HTTPHeaders(), None), {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    client.meta.events.register(f"before-call.{service}.{name}", refuse)  # type: ignore[arg-type]


#: A typical small event: about 300 bytes of JSON.
ORDER = {
    "orderId": "ord-000042",
    "status": "paid",
    "customer": {"id": "cus-04711", "country": "DE"},
    "items": [{"sku": f"SKU-42-{i}", "quantity": i + 1} for i in range(3)],
    "total": {"amount": "129.90", "currency": "EUR"},
}


class Handlers:
    """The webhook and status handlers as Lambda would call them, with SNS's certificate host
    and SubscribeURL stood in for; fresh (cold) caches on entry."""

    def __init__(self, stack: MotoStack) -> None:
        from functions.status import handler as status_handler
        from functions.webhook import handler as webhook_handler
        from tests.integration.webhook.conftest import FakeSnsConfirmationEndpoint
        from tests.support.sns import SnsTestSigner

        self._stack = stack
        self._webhook = webhook_handler
        self._status = status_handler
        self.signer = SnsTestSigner()
        self._patches = contextlib.ExitStack()
        for name, stand_in in (
            ("UrllibCertificateFetcher", self.signer.fetcher()),
            ("UrllibHttpGetter", FakeSnsConfirmationEndpoint()),
        ):
            self._patches.enter_context(
                mock.patch.object(webhook_handler, name, return_value=stand_in)
            )
        for cached in (
            webhook_handler._settings,
            webhook_handler._webhook,
            status_handler._recorder,
        ):
            cached.cache_clear()

    def __enter__(self) -> Handlers:
        return self

    def __exit__(self, *_: object) -> None:
        self._patches.close()

    def deliver(self, body: str, workflow_id: str = "order-events") -> dict[str, Any]:
        from tests.support.apigw import LambdaContext, sns_delivery_event

        response = self._webhook.lambda_handler(
            sns_delivery_event(workflow_id, body), LambdaContext()
        )
        answer: dict[str, Any] = json.loads(response["body"])
        return answer

    def status(self, event: dict[str, Any]) -> None:
        from tests.support.apigw import LambdaContext

        self._status.lambda_handler(event, LambdaContext())

    def end_event(self, workflow_id: str, message_id: str, output: str) -> dict[str, Any]:
        """The SUCCEEDED status event the stack's rule forwards for the execution of a message
        (from its DescribeExecution answer), the run ending with ``output``."""
        from snsflow import aws
        from snsflow.executions import execution_name
        from tests.support.apigw import execution_status_event

        arn = (
            self._stack.machines[workflow_id].replace(":stateMachine:", ":execution:")
            + ":"
            + execution_name(message_id)
        )
        description = dict(aws.stepfunctions_client().describe_execution(executionArn=arn))
        description |= {"status": "SUCCEEDED", "stopDate": datetime.now(UTC), "output": output}
        return execution_status_event(description)


def order_output(message_id: str) -> str:
    """What the example workflow's ``OrderAccepted`` state returns for :data:`ORDER`."""
    return json.dumps({"outcome": "accepted", "messageId": message_id, "order": ORDER})


@dataclass(frozen=True)
class Figure:
    name: str
    calls: list[str]
    floor: int
    floor_reason: str
    note: str = ""
    charges: tuple[Charge, ...] = ()

    @property
    def write_units(self) -> float:
        return total_units(self.charges)

    def to_json(self) -> dict[str, Any]:
        count = len(self.calls)
        figure: dict[str, Any] = {
            "calls": count,
            "operations": dict(Counter(self.calls)),
            "floor": self.floor,
            "floor_reason": self.floor_reason,
            "ratio_to_floor": round(count / self.floor, 3) if self.floor else None,
            "note": self.note,
            "write_units": as_number(self.write_units),
            "write_units_by": {k: as_number(v) for k, v in units_by_target(self.charges).items()},
        }
        reads = total_units(self.charges, "read")
        if reads:
            figure["read_units"] = as_number(reads)
            figure["read_units_by"] = {
                k: as_number(v) for k, v in units_by_target(self.charges, "read").items()
            }
        return figure


@dataclass
class Measure:
    """Runs an action and returns the AWS calls and the capacity charges it caused."""

    stack: MotoStack

    def __call__(self, action: Callable[[], object]) -> tuple[list[str], tuple[Charge, ...]]:
        self.stack.counter.take()
        self.stack.meter.take()
        action()
        return self.stack.counter.take(), tuple(self.stack.meter.take())

    def figure(
        self,
        name: str,
        action: Callable[[], object],
        floor: int,
        floor_reason: str,
        note: str = "",
    ) -> Figure:
        calls, charges = self(action)
        return Figure(name, calls, floor, floor_reason, note, charges)


def requests_summary(charges: tuple[Charge, ...]) -> list[dict[str, Any]]:
    """Per DynamoDB request, in order: its operation, its units and where each unit went."""
    requests: dict[int, list[Charge]] = {}
    for charge in charges:
        requests.setdefault(charge.request, []).append(charge)
    return [
        {
            "operation": group[0].operation,
            "write_units": as_number(total_units(group)),
            "by": [
                {"target": c.target, "action": c.action, "units": as_number(c.units)}
                for c in group
                if c.kind == "write"
            ],
        }
        for group in requests.values()
        if total_units(group)
    ]


def webhook_figures(
    stack: MotoStack,
) -> tuple[list[Figure], dict[str, str], dict[str, Any]]:
    """The webhook's and the status function's figures, the MessageIds of records in each
    state, and the end-to-end write units of one accepted notification, step by step."""
    measure = Measure(stack)
    with Handlers(stack) as handlers:
        signer = handlers.signer
        order = json.dumps(ORDER)
        first = signer.notification(order, subject="Order paid")
        second = signer.notification(order, subject="Order paid")
        stranded = signer.notification('{"status": "paid"}')
        forged = signer.notification("forged").replace('"forged"', '"FORGED"')
        figures = [
            measure.figure(
                "notification accepted, cold container",
                lambda: handlers.deliver(first),
                2,
                "a durable record and StartExecution",
                "the first delivery of a container (then every 30 s) also reads the registry",
            ),
            measure.figure(
                "notification accepted, warm",
                lambda: handlers.deliver(second),
                2,
                "a durable record and StartExecution",
                "claim (UpdateItem), StartExecution, mark RUNNING (UpdateItem)",
            ),
            measure.figure(
                "notification redelivered (duplicate)",
                lambda: handlers.deliver(first),
                1,
                "one durable look-up of the MessageId",
                "while its run is RUNNING",
            ),
            measure.figure(
                "forged notification refused",
                lambda: handlers.deliver(forged),
                0,
                "none needed",
                "refused before any AWS call",
            ),
        ]
        fail_next("sfn.StartExecution", "ThrottlingException")
        figures += [
            measure.figure(
                "notification whose start failed (answered 503)",
                lambda: handlers.deliver(stranded),
                2,
                "a durable record and StartExecution",
                "claim, StartExecution (throttled), note the failure on the claim",
            ),
            measure.figure(
                "its redelivery, which starts it",
                lambda: handlers.deliver(stranded),
                2,
                "a durable look-up and StartExecution",
            ),
            measure.figure(
                "SubscriptionConfirmation",
                lambda: handlers.deliver(signer.subscription_confirmation()),
                1,
                "record the subscription",
                "plus one HTTPS GET of the SubscribeURL (not an AWS API call)",
            ),
            measure.figure(
                "UnsubscribeConfirmation",
                lambda: handlers.deliver(signer.unsubscribe_confirmation()),
                1,
                "record the subscription",
            ),
        ]
        first_id = json.loads(first)["MessageId"]
        succeeded = handlers.end_event("order-events", first_id, "{}")
        figures += [
            measure.figure(
                "status event, cold container",
                lambda: handlers.status(succeeded),
                1,
                "one conditional update of the record",
                "SUCCEEDED (output {}); the first event of a container (then every 30 s) also "
                "scans the registry",
            ),
            measure.figure(
                "status event, warm",
                lambda: handlers.status(succeeded),
                1,
                "one conditional update of the record",
                "the same SUCCEEDED again (EventBridge delivers at least once): refused by its "
                "condition",
            ),
        ]
        end_to_end, figures_e2e = _accepted_end_to_end(handlers, measure)
        figures += figures_e2e
    ids = {
        "record RUNNING": json.loads(second)["MessageId"],
        "record SUCCEEDED (output {})": first_id,
        "record SUCCEEDED (the example workflow's output)": end_to_end["message_id"],
    }
    return figures, ids, end_to_end


def _accepted_end_to_end(
    handlers: Handlers, measure: Measure
) -> tuple[dict[str, Any], list[Figure]]:
    """One accepted STANDARD notification through all its writes, warm: the webhook's claim,
    StartExecution and mark RUNNING, then the status function's SUCCEEDED event with the example
    workflow's output; then a redelivery of it, after its run has finished."""
    body = handlers.signer.notification(json.dumps(ORDER), subject="Order paid")
    message_id = json.loads(body)["MessageId"]
    webhook_calls, webhook_charges = measure(lambda: handlers.deliver(body))
    succeeded = handlers.end_event("order-events", message_id, order_output(message_id))
    succeeded_calls, succeeded_charges = measure(lambda: handlers.status(succeeded))
    steps = {
        "webhook: claim, StartExecution, mark RUNNING": webhook_charges,
        "status event SUCCEEDED (the example workflow's output)": succeeded_charges,
    }
    accepted = Figure(
        "accepted STANDARD notification, end to end (webhook + its status event)",
        webhook_calls + succeeded_calls,
        3,
        "a durable record, StartExecution, the outcome recorded",
        "claim, StartExecution, mark RUNNING; the status event SUCCEEDED",
        webhook_charges + succeeded_charges,
    )
    duplicate = measure.figure(
        "redelivery of a notification whose run has finished (duplicate)",
        lambda: handlers.deliver(body),
        1,
        "one durable look-up of the MessageId",
        "the usual redelivery: SNS retries after about 20 s, when a short run has ended",
    )
    detail = {
        "message_id": message_id,
        "accepted": as_number(accepted.write_units),
        "duplicate": as_number(duplicate.write_units),
        "steps": [
            {
                "step": step,
                "write_units": as_number(total_units(charges)),
                "requests": requests_summary(charges),
            }
            for step, charges in steps.items()
        ],
        "duplicate_requests": requests_summary(duplicate.charges),
    }
    return detail, [accepted, duplicate]


def reconciler_figures(stack: MotoStack) -> list[Figure]:
    from functions.reconciler import handler as reconciler_handler
    from tests.support.apigw import LambdaContext

    reconciler_handler._reconciler.cache_clear()
    workflows = len(list((ROOT / "workflows").glob("*.asl.json")))
    return [
        Measure(stack).figure(
            f"reconciler run, nothing to do ({workflows} workflows)",
            lambda: reconciler_handler.lambda_handler({}, LambdaContext()),
            1 + 2 * workflows,
            "list the workflows, then per workflow one query of its open records (RECEIVED and "
            "RUNNING share their index key) and one of its subscriptions",
        )
    ]


def authorizer_figures(stack: MotoStack) -> list[Figure]:
    from functions.authorizer import handler as authorizer_handler
    from snsflow import aws
    from snsflow.keys import KeyScope, create_key
    from snsflow.store.keys import DynamoKeyStore
    from tests.integration.authorizer.events import webhook_event
    from tests.support.apigw import LambdaContext

    store = DynamoKeyStore(aws.dynamodb_resource().Table(os.environ["SNSFLOW_KEYS_TABLE_NAME"]))
    value = create_key(store, "prod-sns", KeyScope.WEBHOOK, datetime.now(UTC)).value
    event = webhook_event("order-events", query={"x-api-key": value.get_secret_value()})
    measure = Measure(stack)

    def authorize() -> None:
        authorizer_handler.lambda_handler(event, LambdaContext())  # type: ignore[arg-type]

    def cold() -> None:
        authorizer_handler._authorizer.cache_clear()
        authorize()

    def warm() -> None:
        for _ in range(10):
            authorize()

    return [
        measure.figure(
            "authorization, cold, key not used in the last minute",
            cold,
            1,
            "one read of the key",
            "key and workflow in one BatchGetItem, then lastUsedAt (once a minute per key)",
        ),
        measure.figure(
            "authorization, cold",
            cold,
            1,
            "one read of the key",
            "key and workflow in one BatchGetItem",
        ),
        measure.figure(
            "authorization, warm (10 requests within the cache time)",
            warm,
            0,
            "none needed",
            "answered from the in-memory cache (5 s)",
        ),
    ]


def record_sizes(stack: MotoStack, message_ids: dict[str, str]) -> dict[str, Any]:
    """The size of execution records as stored, the write units one write of each costs, and
    the executions table's indexes and projections as deployed (DescribeTable)."""
    from snsflow import aws

    table = os.environ["SNSFLOW_EXECUTIONS_TABLE_NAME"]
    design = stack.meter.design(table)
    sizes: dict[str, Any] = {
        "indexes": {index.name: index.projection for index in design.indexes},
    }
    client = aws.dynamodb_client()
    for label, message_id in message_ids.items():
        # Found by its MessageId whatever the table's keys are (the bench's table is small):
        # the record's items (the record, and its input where the design keeps it apart).
        items = client.scan(
            TableName=table,
            FilterExpression="contains(recordKey, :id) OR messageId = :id",
            ExpressionAttributeValues={":id": {"S": message_id}},
        )["Items"]
        sizes[label] = {
            "record" if "status" in item else "input": {
                "item_bytes": item_bytes(item),
                "units_per_write": write_units(item_bytes(item)),
            }
            for item in items
        }
    return sizes


def write_units_before(headline: dict[str, Any]) -> dict[str, Any]:
    """The first write-unit figures measured, carried over from the previous results, or
    these (the first run's) with the commit of the code they measured."""
    kept: dict[str, Any] | None = previous_results("calls").get("write_units_before")
    if kept is not None:
        return kept
    return {
        **headline,
        "design_commit": design_commit(),
        "measured_on": datetime.now(UTC).date().isoformat(),
        "note": "the design before issue 15's redesign of the executions table; kept by every "
        "later run of bench/calls.py",
    }


def write_units_history(headline: dict[str, Any]) -> list[dict[str, Any]]:
    """Every headline measured before this one, oldest first, each with the commit of the code
    it measured: the previous results' history, plus their own headline if this one differs."""
    previous = previous_results("calls")
    history: list[dict[str, Any]] = list(
        previous.get("write_units_history") or [previous.get("write_units_before", {})]
    )
    last = previous.get("write_units")
    if last is not None and last != headline:
        history.append(
            {
                **last,
                "design_commit": previous["design_commit"],
                "measured_on": previous["generated_at"][:10],
            }
        )
    return [entry for entry in history if entry]


def main() -> int:
    use_project_imports()
    with moto_stack() as stack:
        figures, message_ids, end_to_end = webhook_figures(stack)
        figures += authorizer_figures(stack) + reconciler_figures(stack)
        sizes = record_sizes(stack, message_ids)
    print(f"execution records: {sizes}")
    print(f"\n{'what':<72} {'calls':>5} {'floor':>5} {'WRU':>4}  operations")
    for figure in figures:
        print(
            f"{figure.name:<72} {len(figure.calls):>5} {figure.floor:>5} "
            f"{as_number(figure.write_units):>4}  "
            + ", ".join(f"{n} x{c}" for n, c in Counter(figure.calls).items())
        )
    by_name = {figure.name: figure for figure in figures}
    headline = {
        "accepted": end_to_end["accepted"],
        "duplicate": end_to_end["duplicate"],
        "refused": as_number(by_name["forged notification refused"].write_units),
    }
    before = write_units_before(headline)
    history = write_units_history(headline)
    print(f"\nwrite units per delivery: {headline} (before: {before})")
    for step in end_to_end["steps"]:
        print(f"  {step['step']}: {step['write_units']}")
        for request in step["requests"]:
            where = ", ".join(f"{c['target']} {c['action']} {c['units']}" for c in request["by"])
            print(f"    {request['operation']} {request['write_units']}: {where}")
    steady = {
        "webhook_calls_per_accepted_notification": len(
            by_name["notification accepted, warm"].calls
        ),
        "authorizer_calls_per_request": len(
            by_name["authorization, warm (10 requests within the cache time)"].calls
        )
        / 10,
        "note": "a warm container reads the registry once per 30 s (webhook) and each key once "
        "per 5 s (authorizer); lastUsedAt is written about once a minute per key in all",
    }
    write_results(
        "calls",
        {
            "benchmark": "AWS API calls and DynamoDB capacity units per notification and per "
            "authorization (moto, counted; units by DynamoDB's documented rules, bench/meter.py)",
            "machine": machine(),
            "method": "botocore hooks on the handlers' own clients; real handlers",
            "design_commit": design_commit(),
            "write_units": headline,
            "write_units_before": before,
            "write_units_history": history,
            "write_units_end_to_end": end_to_end,
            "results": {figure.name: figure.to_json() for figure in figures},
            "execution_records": sizes,
            "steady_state": steady,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
