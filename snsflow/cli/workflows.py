"""``snsflow workflows list|show``: the workflows of a stack, from its read API.

``show`` prints the webhook URL and, when the value of the workflow's key is known (given with
``--webhook-key`` or found in the local stack's ``--info-file``), the endpoint to paste into an
SNS subscription: ``<webhook URL>?x-api-key=<value>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse

from snsflow.cli.main import EXIT_OK
from snsflow.cli.stack import (
    LocalStackInfo,
    ReadApi,
    add_api_arguments,
    render_table,
    run_with_api,
    show_time,
)
from snsflow.query import Subscription, WorkflowView
from snsflow.store.executions import ExecutionStatus


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "workflows",
        help="list workflows, or show one with its webhook URL",
        description="The workflows of a deployed or local snsflow stack.",
    )
    actions = parser.add_subparsers(dest="workflows_action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_api_arguments(common)
    common.add_argument("--json", action="store_true", help="print the API's JSON")

    listing = actions.add_parser("list", parents=[common], help="every workflow, with counts")
    listing.set_defaults(handler=run_with_api("workflows", _list))

    show = actions.add_parser(
        "show", parents=[common], help="one workflow: webhook URL, SNS endpoint, subscriptions"
    )
    show.add_argument("workflow_id", metavar="WORKFLOW")
    show.add_argument(
        "--webhook-key",
        metavar="VALUE",
        help="the value of the workflow's webhook key, to print the ready-to-paste SNS endpoint",
    )
    show.set_defaults(handler=run_with_api("workflows", _show))


def sns_endpoint(webhook_url: str, key_value: str) -> str:
    return f"{webhook_url}?x-api-key={urllib.parse.quote(key_value, safe='')}"


def _subscriptions_summary(workflow: WorkflowView) -> str:
    if not workflow.subscriptions:
        return "none"
    by_status: dict[str, int] = {}
    for subscription in workflow.subscriptions:
        by_status[subscription.status.value] = by_status.get(subscription.status.value, 0) + 1
    return ", ".join(f"{count} {status}" for status, count in sorted(by_status.items()))


def format_workflows(workflows: list[WorkflowView]) -> list[str]:
    header = ("ID", "NAME", "API KEY", "SUBSCRIPTIONS", *(s.value for s in ExecutionStatus))
    rows = [
        (
            w.id,
            w.name,
            w.api_key_name,
            _subscriptions_summary(w),
            *(str(w.counts.get(status, 0)) for status in ExecutionStatus),
        )
        for w in workflows
    ]
    return render_table(header, rows)


def _health(subscription: Subscription, workflow_id: str) -> str:
    """The subscription's health as the delivery log shows it, and where to look further."""
    parts = [
        subscription.health or "-",
        f"last delivery {show_time(subscription.last_delivery_at)}",
        f"last accepted {show_time(subscription.last_accepted_at)}",
        f"refused {subscription.refusals_last_hour} in the last hour, "
        f"{subscription.refusals_last_day} in the last day",
    ]
    if subscription.last_refusal_code:
        parts.append(f"latest code {subscription.last_refusal_code}")
    parts.append(_sns_check(subscription))
    text = "; ".join(parts)
    if subscription.health in ("failing", "refused"):
        text += f" (see: snsflow deliveries {workflow_id} --refused)"
    return text


def _sns_check(subscription: Subscription) -> str:
    """What SNS said when the reconciler last asked, and what it changed."""
    check = subscription.checked_against_sns
    if check is None:
        return "not checked against SNS"
    text = f"SNS: {check.result.value.replace('_', ' ')} since {show_time(check.at)}"
    return f"{text} ({subscription.health_reason})" if subscription.health_reason else text


def format_workflow(workflow: WorkflowView, key_value: str | None) -> list[str]:
    endpoint = (
        sns_endpoint(workflow.webhook_url, key_value)
        if key_value
        else f"{workflow.webhook_url}?x-api-key=<value of API key '{workflow.api_key_name}'>"
    )
    topics = ", ".join(workflow.allowed_topic_arns) if workflow.allowed_topic_arns else "any"
    counts = ", ".join(
        f"{workflow.counts.get(status, 0)} {status.value.lower().replace('_', ' ')}"
        for status in ExecutionStatus
    )
    lines = [
        ("Workflow", f"{workflow.id} ({workflow.name})"),
        ("State machine", f"{workflow.state_machine_arn} ({workflow.state_machine_type})"),
        ("API key name", workflow.api_key_name),
        ("Allowed topics", topics),
        ("Webhook URL", workflow.webhook_url),
        ("SNS endpoint", endpoint),
        ("Executions", f"since {show_time(workflow.counts_since)}: {counts}"),
    ]
    for subscription in workflow.subscriptions or ():
        since = show_time(subscription.status_since or subscription.updated_at)
        state = f"{subscription.topic_arn}  {subscription.status.value} since {since}"
        if subscription.last_error:
            state += f" (last error: {subscription.last_error})"
        lines.append(("Subscription", state))
        if subscription.health is not None:
            lines.append(("  health", _health(subscription, workflow.id)))
    if not workflow.subscriptions:
        lines.append(("Subscription", "none yet"))
    width = max(len(name) for name, _ in lines)
    return [f"{name.ljust(width)}  {value}" for name, value in lines]


def _list(args: argparse.Namespace, api: ReadApi, _info: LocalStackInfo | None) -> int:
    workflows = api.workflows()
    if args.json:
        print(json.dumps(workflows.to_json(), indent=2))
    elif not workflows.items:
        print("No workflows.", file=sys.stderr)
    else:
        print("\n".join(format_workflows(workflows.items)))
    return EXIT_OK


def _show(args: argparse.Namespace, api: ReadApi, info: LocalStackInfo | None) -> int:
    workflow = api.workflow(args.workflow_id)
    key_value = args.webhook_key or (info.keys.get(workflow.api_key_name) if info else None)
    if args.json:
        document = workflow.to_json()
        if key_value:
            document["snsEndpoint"] = sns_endpoint(workflow.webhook_url, key_value)
        print(json.dumps(document, indent=2))
        return EXIT_OK
    print("\n".join(format_workflow(workflow, key_value)))
    if not key_value:
        print(
            f"(pass --webhook-key with the value of key '{workflow.api_key_name}' to print the "
            "SNS endpoint with it)",
            file=sys.stderr,
        )
    return EXIT_OK
