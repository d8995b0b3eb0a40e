"""Checking subscription records against SNS (moto's): the classification, the bound on SNS
calls per run, and writes only when a result changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from snsflow import aws
from snsflow.sns_check import (
    AccountScope,
    SnsSubscriptionAttributes,
    SubscriptionChecker,
    classify,
)
from snsflow.store.subscriptions import SnsCheck, SnsCheckResult, SubscriptionStore
from snsflow.store.workflows import WorkflowRecord
from tests.unit.executions.fakes import Clock

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

ACCOUNT = "123456789012"
REGION = "eu-west-1"
START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
#: The webhook behind a custom domain with a base path: only the path's end is compared.
ENDPOINT = "https://hooks.example.com/snsflow/webhooks/{workflow}?x-api-key=k-123"


def _workflow(workflow_id: str) -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=workflow_id,
        name=workflow_id,
        api_key_name="prod-sns",
        state_machine_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{workflow_id}",
    )


@pytest.mark.parametrize(
    ("endpoint", "pending", "expected"),
    [
        (
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/webhooks/orders?x-api-key=k",
            "false",
            SnsCheckResult.SUBSCRIBED,
        ),
        ("https://hooks.example.com/webhooks/orders/", "false", SnsCheckResult.SUBSCRIBED),
        ("http://127.0.0.1:8080/webhooks/orders", "true", SnsCheckResult.PENDING),
        (
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/webhooks/orders-2",
            "false",
            SnsCheckResult.OTHER_ENDPOINT,
        ),
        (
            "https://elsewhere.example.com/sns?next=/webhooks/orders",
            "false",
            SnsCheckResult.OTHER_ENDPOINT,
        ),
        (
            "https://elsewhere.example.com/webhooks/orders-old",
            "true",
            SnsCheckResult.OTHER_ENDPOINT,
        ),
    ],
)
def test_the_endpoints_path_decides_whose_subscription_it_is(
    endpoint: str, pending: str, expected: SnsCheckResult
) -> None:
    attributes = {"Endpoint": endpoint, "PendingConfirmation": pending}
    assert classify(attributes, "orders") is expected


def test_the_stack_account_comes_from_the_functions_arn() -> None:
    scope = AccountScope.of_function(f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:f")
    assert scope.topic(f"arn:aws-cn:sns:cn-north-1:{ACCOUNT}:orders") is not None
    assert scope.topic(f"arn:aws:sns:us-east-1:{ACCOUNT}:orders") is None  # other partition
    assert scope.topic("arn:aws-cn:sns:cn-north-1:210987654321:orders") is None
    assert scope.topic("not an arn") is None
    with pytest.raises(ValueError, match="not a function ARN"):
        AccountScope.of_function("snsflow-reconciler")


@dataclass
class Calls:
    names: list[str] = field(default_factory=list)

    def record(self, event_name: str, **_: Any) -> None:
        self.names.append(event_name.split(".")[-1])

    def count(self, operation: str) -> int:
        return self.names.count(operation)


@dataclass
class World:
    sns: SNSClient
    store: SubscriptionStore
    clock: Clock
    calls: Calls

    def checker(self, max_checks: int = 50, **options: Any) -> SubscriptionChecker:
        return SubscriptionChecker(
            records=self.store,
            sns=options.pop("sns", SnsSubscriptionAttributes(aws.sns_client)),
            scope=AccountScope("aws", ACCOUNT),
            clock=self.clock,
            max_checks=max_checks,
            start=0,
        )

    def subscribed(self, workflow_id: str, topic_name: str, endpoint: str | None = None) -> str:
        """A topic subscribed at SNS (moto confirms at once) and recorded as confirmed by the
        webhook with the ARN SNS answered; returns the topic ARN."""
        topic = self.sns.create_topic(Name=topic_name)["TopicArn"]
        arn = self.sns.subscribe(
            TopicArn=topic,
            Protocol="https",
            Endpoint=endpoint or ENDPOINT.format(workflow=workflow_id),
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self.store.mark_confirmed(
            workflow_id, topic, subscription_arn=arn, message_time=START, at=START
        )
        return topic

    def result(self, workflow_id: str, topic: str) -> SnsCheckResult | None:
        record = self.store.get(workflow_id, topic)
        assert record is not None
        return record.sns_check.result if record.sns_check else None


@pytest.fixture
def world(dynamodb_tables: dict[str, str]) -> World:
    calls = Calls()
    sns = aws.sns_client(REGION)
    sns.meta.events.register("before-call.sns.GetSubscriptionAttributes", calls.record)
    resource = aws.dynamodb_resource()
    resource.meta.client.meta.events.register("before-call.dynamodb.UpdateItem", calls.record)
    store = SubscriptionStore(resource.Table(dynamodb_tables["Subscriptions"]))
    return World(sns, store, Clock(START), calls)


def test_a_steady_state_writes_nothing(world: World) -> None:
    topic = world.subscribed("orders", "orders")
    checker = world.checker()

    first = checker.run([_workflow("orders")])
    assert (first.sns_checked, first.sns_check_changes) == (1, 1)
    assert world.result("orders", topic) is SnsCheckResult.SUBSCRIBED
    record = world.store.get("orders", topic)
    assert record is not None
    assert record.sns_check is not None
    assert record.sns_check.checked_at == START

    world.calls.names.clear()
    world.clock.now += timedelta(minutes=5)
    second = checker.run([_workflow("orders")])

    assert (second.sns_checked, second.sns_check_changes) == (1, 0)
    assert world.calls.count("GetSubscriptionAttributes") == 1
    assert world.calls.count("UpdateItem") == 0
    unchanged = world.store.get("orders", topic)
    assert unchanged is not None
    assert unchanged.sns_check == record.sns_check


def test_an_unsubscribe_at_sns_is_found_and_written_once(world: World) -> None:
    topic = world.subscribed("orders", "orders")
    checker = world.checker()
    checker.run([_workflow("orders")])
    [listed] = world.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    world.sns.unsubscribe(SubscriptionArn=listed["SubscriptionArn"])
    world.clock.now += timedelta(minutes=5)

    changed = checker.run([_workflow("orders")])
    again = checker.run([_workflow("orders")])

    assert world.result("orders", topic) is SnsCheckResult.NOT_FOUND
    assert (changed.sns_check_changes, again.sns_check_changes) == (1, 0)
    record = world.store.get("orders", topic)
    assert record is not None
    assert record.sns_check is not None
    assert record.sns_check.checked_at == world.clock.now


def test_a_relayed_confirmation_is_another_endpoints_subscription(world: World) -> None:
    topic = world.subscribed("orders", "orders", endpoint="https://other.example/hook")

    world.checker().run([_workflow("orders")])

    assert world.result("orders", topic) is SnsCheckResult.OTHER_ENDPOINT


def test_topics_of_other_accounts_and_records_without_arn_are_not_asked(world: World) -> None:
    foreign = "arn:aws:sns:eu-west-1:210987654321:orders"
    world.store.mark_confirmed(
        "orders",
        foreign,
        subscription_arn=f"{foreign}:0b5d3c3e-6f4d-4b7c-9d4e-0c1f2a3b4c5d",
        message_time=START,
        at=START,
    )
    no_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:no-arn"
    world.store.mark_confirmed(
        "orders", no_arn, subscription_arn=None, message_time=START, at=START
    )

    report = world.checker().run([_workflow("orders")])

    assert report.sns_checked == 0
    assert world.calls.count("GetSubscriptionAttributes") == 0
    assert world.result("orders", foreign) is None
    assert world.result("orders", no_arn) is None


def test_each_run_asks_at_most_its_bound_taking_the_next_in_turn(world: World) -> None:
    topics = [world.subscribed(f"wf-{i}", f"topic-{i}") for i in range(5)]
    workflows = [_workflow(f"wf-{i}") for i in range(5)]
    checker = world.checker(max_checks=2)

    reports = [checker.run(workflows) for _ in range(3)]

    assert [r.sns_checked for r in reports] == [2, 2, 2]
    assert world.calls.count("GetSubscriptionAttributes") == 6
    assert all(
        world.result(f"wf-{i}", t) is SnsCheckResult.SUBSCRIBED for i, t in enumerate(topics)
    )


class _Refusing:
    """An SNS client that is refused: access denied, as for a role without the grant."""

    def get_subscription_attributes(self, **_: Any) -> dict[str, Any]:
        error = {"Error": {"Code": "AuthorizationError", "Message": "not authorized"}}
        raise ClientError(error, "GetSubscriptionAttributes")  # type: ignore[arg-type]


def test_access_denied_leaves_the_record_as_it_was(world: World) -> None:
    topic = world.subscribed("orders", "orders")
    world.checker().run([_workflow("orders")])
    world.calls.names.clear()
    refused = SnsSubscriptionAttributes(lambda _region: _Refusing())  # type: ignore[arg-type,return-value]

    report = world.checker(sns=refused).run([_workflow("orders")])

    assert (report.sns_checked, report.sns_check_failures, report.sns_check_changes) == (1, 1, 0)
    assert world.calls.count("UpdateItem") == 0
    assert world.result("orders", topic) is SnsCheckResult.SUBSCRIBED


def test_a_new_confirmation_voids_the_check(world: World) -> None:
    topic = world.subscribed("orders", "orders", endpoint="https://other.example/hook")
    world.checker().run([_workflow("orders")])
    assert world.result("orders", topic) is SnsCheckResult.OTHER_ENDPOINT

    # Confirmed again, by the workflow's own subscription: the old check says nothing of it.
    own = world.sns.subscribe(
        TopicArn=topic,
        Protocol="https",
        Endpoint=ENDPOINT.format(workflow="orders"),
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    later = START + timedelta(minutes=1)
    world.store.mark_confirmed("orders", topic, subscription_arn=own, message_time=later, at=later)
    assert world.result("orders", topic) is None
    world.checker().run([_workflow("orders")])
    assert world.result("orders", topic) is SnsCheckResult.SUBSCRIBED


def test_a_check_of_an_arn_the_record_no_longer_holds_is_not_written(world: World) -> None:
    topic = world.subscribed("orders", "orders")
    [record] = world.store.list_for_workflow("orders")
    later = START + timedelta(minutes=1)
    # The webhook confirms again (another ARN) while the reconciler asks about the old one.
    world.store.mark_confirmed(
        "orders", topic, subscription_arn=f"{topic}:new", message_time=later, at=later
    )
    check = SnsCheck(result=SnsCheckResult.NOT_FOUND, checked_at=later)

    assert not world.store.record_sns_check("orders", topic, record.subscription_arn or "", check)
    assert world.result("orders", topic) is None


def test_an_arn_sns_does_not_have_is_not_asked_about_again(world: World) -> None:
    topic = world.subscribed("orders", "orders")
    [listed] = world.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    world.sns.unsubscribe(SubscriptionArn=listed["SubscriptionArn"])
    checker = world.checker()
    checker.run([_workflow("orders")])
    assert world.result("orders", topic) is SnsCheckResult.NOT_FOUND
    world.calls.names.clear()

    report = checker.run([_workflow("orders")])

    assert report.sns_checked == 0
    assert world.calls.count("GetSubscriptionAttributes") == 0
