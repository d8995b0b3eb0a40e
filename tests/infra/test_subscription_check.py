"""The reconciler's check of subscriptions against SNS: its one SNS permission, on the topics of
the stack's own account only, and the subscriptions table (aws_cdk.assertions)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from snsflow.store.tables import SUBSCRIPTIONS
from tests.infra.conftest import Synthesized
from tests.infra.templates import render, role_of_function, role_statements

FUNCTIONS = ("authorizer", "webhook", "status", "reconciler", "query")
#: Every topic (and so every subscription) of the stack's account, in any region.
ACCOUNT_TOPICS = {
    "Fn::Join": [
        "",
        ["arn:", {"Ref": "AWS::Partition"}, ":sns:*:", {"Ref": "AWS::AccountId"}, ":*"],
    ]
}


def _statements(app: Synthesized, function: str) -> list[dict[str, Any]]:
    logical_id = app.logical_id(app.stack.functions.functions[function])  # type: ignore[index]
    return role_statements(app.template, role_of_function(app.template, logical_id))


def test_the_reconciler_may_read_subscriptions_of_the_accounts_topics(
    default_app: Synthesized,
) -> None:
    Template.from_json(default_app.template).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Effect": "Allow",
                            "Action": "sns:GetSubscriptionAttributes",
                            "Resource": ACCOUNT_TOPICS,
                        }
                    ]
                )
            }
        },
    )
    statements = _statements(default_app, "reconciler")
    on_sns = [s for s in statements if any(a.startswith("sns:") for a in s["Action"])]
    assert [(s["Action"], render(s["Resource"])) for s in on_sns] == [
        (["sns:GetSubscriptionAttributes"], ["arn:<AWS::Partition>:sns:*:<AWS::AccountId>:*"])
    ]


def test_no_other_function_may_call_sns(default_app: Synthesized) -> None:
    for function in FUNCTIONS:
        if function == "reconciler":
            continue
        actions = [a for s in _statements(default_app, function) for a in s["Action"]]
        assert not [a for a in actions if a.startswith("sns:")], function


def test_the_reconciler_reads_and_updates_subscription_records(default_app: Synthesized) -> None:
    app = default_app
    table = app.stack.data.table(SUBSCRIPTIONS)
    arn = f"<{app.logical_id(table)}.Arn>"
    statements = _statements(app, "reconciler")
    on_table = [s for s in statements if arn in render(s["Resource"])]
    assert [sorted(s["Action"]) for s in on_table] == [["dynamodb:Query", "dynamodb:UpdateItem"]]
    reconciler = app.resources("AWS::Lambda::Function")[
        app.logical_id(app.stack.functions.functions["reconciler"])
    ]
    variables = render(reconciler["Properties"]["Environment"]["Variables"])
    assert variables["SNSFLOW_SUBSCRIPTIONS_TABLE_NAME"] == f"<{app.logical_id(table)}>"
