"""AWS API calls per notification and per authorization: counted, not timed.

The real handlers run against moto, each AWS operation they make counted with a botocore
``before-call`` hook on the very clients they use. Every figure is set beside the floor any
design must pay for the same work (a durable write and a StartExecution for a new message; a
durable look-up for a redelivery; one read for a cold key, none for a cached one), as a ratio.

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
from typing import Any
from unittest import mock

from common import ROOT, machine, use_project_imports, write_results

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


@contextmanager
def moto_stack() -> Iterator[dict[str, Any]]:
    """moto with every snsflow table, the example workflows registered and a state machine each
    (not executed: only the calls matter), the handlers' settings in the environment."""
    from moto import mock_aws

    from snsflow import aws
    from snsflow.store.tables import ALL_TABLES
    from snsflow.store.workflows import WorkflowRecord, WorkflowRegistry
    from snsflow.workflows import load_workflows

    os.environ |= {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
    }
    with mock_aws():
        aws.configure(region_name=REGION)
        client = aws.dynamodb_client()
        for schema in ALL_TABLES:
            name = f"snsflow-bench-{schema.logical_name.lower()}"
            client.create_table(**schema.create_table_kwargs(name))
            os.environ[f"SNSFLOW_{schema.logical_name.upper()}_TABLE_NAME"] = name
        registry = WorkflowRegistry(
            aws.dynamodb_resource().Table(os.environ["SNSFLOW_WORKFLOWS_TABLE_NAME"])
        )
        machines = {}
        for workflow in load_workflows(ROOT / "workflows"):
            machine = aws.stepfunctions_client().create_state_machine(
                name=f"snsflow-{workflow.id}",
                definition=workflow.definition_json,
                roleArn="arn:aws:iam::123456789012:role/snsflow-bench",
                type=workflow.state_machine.type,
            )
            registry.put(WorkflowRecord.from_workflow(workflow, machine["stateMachineArn"]))
            machines[workflow.id] = machine["stateMachineArn"]
        counter = CallCounter()
        for emitter in (
            aws.dynamodb_resource().meta.client.meta.events,
            aws.stepfunctions_client().meta.events,
        ):
            # Emitted for every call, even one a test hook then answers without sending it.
            emitter.register("provide-client-params", counter)
        yield {"counter": counter, "machines": machines}
        aws.reset()


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


@dataclass(frozen=True)
class Figure:
    name: str
    calls: list[str]
    floor: int
    floor_reason: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        count = len(self.calls)
        return {
            "calls": count,
            "operations": dict(Counter(self.calls)),
            "floor": self.floor,
            "floor_reason": self.floor_reason,
            "ratio_to_floor": round(count / self.floor, 3) if self.floor else None,
            "note": self.note,
        }


def webhook_figures(counter: CallCounter) -> tuple[list[Figure], dict[str, str]]:
    """The webhook's and the status function's figures, and the MessageIds of a record left
    RUNNING and of one SUCCEEDED."""
    from functions.status import handler as status_handler
    from functions.webhook import handler as webhook_handler
    from tests.integration.webhook.conftest import FakeSnsConfirmationEndpoint
    from tests.support.apigw import LambdaContext, execution_status_event, sns_delivery_event
    from tests.support.sns import SnsTestSigner

    signer = SnsTestSigner()
    fetcher = signer.fetcher()
    sns = FakeSnsConfirmationEndpoint()
    patches = contextlib.ExitStack()
    for name, stand_in in (("UrllibCertificateFetcher", fetcher), ("UrllibHttpGetter", sns)):
        patches.enter_context(mock.patch.object(webhook_handler, name, return_value=stand_in))
    for cached in (webhook_handler._settings, webhook_handler._webhook, status_handler._recorder):
        cached.cache_clear()

    def deliver(body: str) -> dict[str, Any]:
        response = webhook_handler.lambda_handler(
            sns_delivery_event("order-events", body), LambdaContext()
        )
        answer: dict[str, Any] = json.loads(response["body"])
        return answer

    def costs(action: Callable[[], object]) -> list[str]:
        counter.take()
        action()
        return counter.take()

    # A typical small event: about 300 bytes of JSON.
    order = json.dumps(
        {
            "orderId": "ord-000042",
            "status": "paid",
            "customer": {"id": "cus-04711", "country": "DE"},
            "items": [{"sku": f"SKU-42-{i}", "quantity": i + 1} for i in range(3)],
            "total": {"amount": "129.90", "currency": "EUR"},
        }
    )
    first = signer.notification(order, subject="Order paid")
    second = signer.notification(order, subject="Order paid")
    stranded = signer.notification('{"status": "paid"}')
    forged = signer.notification("forged").replace('"forged"', '"FORGED"')
    figures = [
        Figure(
            "notification accepted, cold container",
            costs(lambda: deliver(first)),
            2,
            "a durable record and StartExecution",
            "the first delivery of a container (then every 30 s) also reads the registry",
        ),
        Figure(
            "notification accepted, warm",
            costs(lambda: deliver(second)),
            2,
            "a durable record and StartExecution",
            "claim (UpdateItem), StartExecution, mark RUNNING (UpdateItem)",
        ),
        Figure(
            "notification redelivered (duplicate)",
            costs(lambda: deliver(first)),
            1,
            "one durable look-up of the MessageId",
        ),
        Figure(
            "forged notification refused",
            costs(lambda: deliver(forged)),
            0,
            "none needed",
            "refused before any AWS call",
        ),
    ]
    fail_next("sfn.StartExecution", "ThrottlingException")
    figures.append(
        Figure(
            "notification whose start failed (answered 503)",
            costs(lambda: deliver(stranded)),
            2,
            "a durable record and StartExecution",
            "claim, StartExecution (throttled), note the failure on the claim",
        )
    )
    figures.append(
        Figure(
            "its redelivery, which starts it",
            costs(lambda: deliver(stranded)),
            2,
            "a durable look-up and StartExecution",
        )
    )
    figures.append(
        Figure(
            "SubscriptionConfirmation",
            costs(lambda: deliver(signer.subscription_confirmation())),
            1,
            "record the subscription",
            "plus one HTTPS GET of the SubscribeURL (not an AWS API call)",
        )
    )
    figures.append(
        Figure(
            "UnsubscribeConfirmation",
            costs(lambda: deliver(signer.unsubscribe_confirmation())),
            1,
            "record the subscription",
        )
    )
    running = json.loads(first)["MessageId"]
    arn = next(
        e["executionArn"]
        for e in _executions()
        if e["name"] == running  # the execution of the first notification
    )
    from snsflow import aws

    description = dict(aws.stepfunctions_client().describe_execution(executionArn=arn))
    description |= {"status": "SUCCEEDED", "stopDate": datetime.now(UTC), "output": "{}"}
    event = execution_status_event(description)
    figures.append(
        Figure(
            "status event, cold container",
            costs(lambda: status_handler.lambda_handler(event, LambdaContext())),
            1,
            "one conditional update of the record",
            "the first event of a container (then every 30 s) also scans the registry",
        )
    )
    late = execution_status_event(description, status="RUNNING")
    figures.append(
        Figure(
            "status event, warm",
            costs(lambda: status_handler.lambda_handler(late, LambdaContext())),
            1,
            "one conditional update of the record",
        )
    )
    patches.close()
    ids = {
        "record RUNNING": json.loads(second)["MessageId"],
        "record SUCCEEDED (output {})": json.loads(first)["MessageId"],
    }
    return figures, ids


def _executions() -> list[dict[str, Any]]:
    from snsflow import aws

    client = aws.stepfunctions_client()
    found = []
    for state_machine in client.list_state_machines()["stateMachines"]:
        arn = state_machine["stateMachineArn"]
        found += client.list_executions(stateMachineArn=arn)["executions"]
    return [dict(e) for e in found]


def reconciler_figures(counter: CallCounter) -> list[Figure]:
    from functions.reconciler import handler as reconciler_handler
    from tests.support.apigw import LambdaContext

    reconciler_handler._reconciler.cache_clear()
    counter.take()
    reconciler_handler.lambda_handler({}, LambdaContext())
    workflows = len(list((ROOT / "workflows").glob("*.asl.json")))
    return [
        Figure(
            f"reconciler run, nothing to do ({workflows} workflows)",
            counter.take(),
            1 + 2 * workflows,
            "list the workflows, then per workflow one query per state to look at",
        )
    ]


def authorizer_figures(counter: CallCounter) -> list[Figure]:
    from functions.authorizer import handler as authorizer_handler
    from snsflow import aws
    from snsflow.keys import KeyScope, create_key
    from snsflow.store.keys import DynamoKeyStore
    from tests.integration.authorizer.events import webhook_event
    from tests.support.apigw import LambdaContext

    store = DynamoKeyStore(aws.dynamodb_resource().Table(os.environ["SNSFLOW_KEYS_TABLE_NAME"]))
    value = create_key(store, "prod-sns", KeyScope.WEBHOOK, datetime.now(UTC)).value
    event = webhook_event("order-events", query={"x-api-key": value.get_secret_value()})

    def authorize() -> None:
        authorizer_handler.lambda_handler(event, LambdaContext())  # type: ignore[arg-type]

    def cold() -> list[str]:
        authorizer_handler._authorizer.cache_clear()
        counter.take()
        authorize()
        return counter.take()

    first_use = cold()
    recently_used = cold()
    counter.take()
    for _ in range(10):
        authorize()
    warm = counter.take()
    return [
        Figure(
            "authorization, cold, key not used in the last minute",
            first_use,
            1,
            "one read of the key",
            "key and workflow in one BatchGetItem, then lastUsedAt (once a minute per key)",
        ),
        Figure(
            "authorization, cold",
            recently_used,
            1,
            "one read of the key",
            "key and workflow in one BatchGetItem",
        ),
        Figure(
            "authorization, warm (10 requests within the cache time)",
            warm,
            0,
            "none needed",
            "answered from the in-memory cache (5 s)",
        ),
    ]


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item (low-level attribute values): attribute names plus values,
    numbers counted as about one byte per two significant digits plus one."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        ((kind, data),) = value.items()
        if kind == "S":
            size += len(data.encode())
        elif kind == "N":
            size += (len(data.strip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
        else:  # BOOL, NULL
            size += 1
    return size


def record_sizes(message_ids: dict[str, str]) -> dict[str, Any]:
    """The size of execution records as stored, and the write request units a write of each
    costs with the table's three ALL-projected indexes (docs/performance.md explains)."""
    from snsflow import aws
    from snsflow.store.tables import EXECUTIONS

    client = aws.dynamodb_client()
    sizes: dict[str, Any] = {"indexes": len(EXECUTIONS.indexes), "projection": "ALL"}
    for label, message_id in message_ids.items():
        item = client.get_item(
            TableName=os.environ["SNSFLOW_EXECUTIONS_TABLE_NAME"],
            Key={"workflowId": {"S": "order-events"}, "messageId": {"S": message_id}},
        )["Item"]
        size = item_bytes(dict(item))
        sizes[label] = {"item_bytes": size, "units_per_copy": -(-size // 1024)}
    return sizes


def main() -> int:
    use_project_imports()
    with moto_stack() as stack:
        counter: CallCounter = stack["counter"]
        figures, message_ids = webhook_figures(counter)
        figures += authorizer_figures(counter) + reconciler_figures(counter)
        sizes = record_sizes(message_ids)
    print(f"execution records: {sizes}")
    print(f"\n{'what':<58} {'calls':>5} {'floor':>5}  operations")
    for figure in figures:
        print(
            f"{figure.name:<58} {len(figure.calls):>5} {figure.floor:>5}  "
            + ", ".join(f"{n} x{c}" for n, c in Counter(figure.calls).items())
        )
    by_name = {figure.name: len(figure.calls) for figure in figures}
    steady = {
        "webhook_calls_per_accepted_notification": by_name["notification accepted, warm"],
        "authorizer_calls_per_request": by_name[
            "authorization, warm (10 requests within the cache time)"
        ]
        / 10,
        "note": "a warm container reads the registry once per 30 s (webhook) and each key once "
        "per 5 s (authorizer); lastUsedAt is written about once a minute per key in all",
    }
    write_results(
        "calls",
        {
            "benchmark": "AWS API calls per notification and per authorization (moto, counted)",
            "machine": machine(),
            "method": "botocore before-call hooks on the handlers' own clients; real handlers",
            "results": {figure.name: figure.to_json() for figure in figures},
            "execution_records": sizes,
            "steady_state": steady,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
