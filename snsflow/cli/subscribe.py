"""``snsflow subscribe WORKFLOW TOPIC_ARN``: subscribe a workflow's webhook to an SNS topic, with
snsflow's delivery policy (and optionally a dead-letter queue), and wait for the confirmation.

The webhook URL comes from ``--webhook-url``, else the local stack's ``--info-file``, else the
``WebhookUrl<Id>`` output of ``--stack``; the key from ``--webhook-key``, else
``SNSFLOW_WEBHOOK_KEY``, else the info file. SNS is called in the topic's region (``--region``
overrides), at ``--endpoint-url`` or the info file's local SNS if given. The subscription ARN goes
to stdout; progress and errors go to stderr, and the key is never shown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError, NoCredentialsError

from snsflow import aws
from snsflow.cli.arguments import http_url, positive_float, positive_int
from snsflow.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_error
from snsflow.cli.stack import (
    AWS_FAILURES,
    LocalStackInfo,
    LocalWorkflowInfo,
    UsageError,
    describe_aws_failure,
    is_visible_ascii,
    read_info_file,
    stack_output,
    webhook_url_output,
)
from snsflow.errors import SnsflowError
from snsflow.settings import SubscribeCommandSettings
from snsflow.subscribe import (
    DEFAULT_RETRY_POLICY,
    Arn,
    SubscribeRequestError,
    endpoint_protocol,
    parse_dead_letter_queue,
    parse_topic_arn,
    redact_endpoint,
    subscribe,
    subscription_attributes,
    wait_until_confirmed,
    with_key,
)

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

DEFAULT_TIMEOUT_SECONDS = 60.0
#: Seconds between two polls of the subscription, and between two progress lines.
POLL_SECONDS = 0.5
PROGRESS_EVERY_SECONDS = 5.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "subscribe",
        help="subscribe a workflow's webhook to an SNS topic and wait for the confirmation",
        description="Create the HTTPS subscription of a topic to a workflow's webhook, with "
        "snsflow's delivery policy (20 retries over at most 55 minutes) and optionally a "
        "dead-letter queue; snsflow confirms it by itself.",
    )
    parser.add_argument("workflow_id", metavar="WORKFLOW", help="the workflow, e.g. order-events")
    parser.add_argument("topic_arn", metavar="TOPIC_ARN", help="the SNS topic to subscribe")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--stack", metavar="NAME", help="a deployed stack; its WebhookUrl<Id> output is the URL"
    )
    where.add_argument(
        "--info-file",
        type=Path,
        metavar="FILE",
        help="the info file of 'snsflow local serve' (webhook URL, key, local SNS)",
    )
    where.add_argument("--webhook-url", metavar="URL", help="the workflow's webhook URL")
    parser.add_argument(
        "--webhook-key",
        metavar="VALUE",
        help="the value of the workflow's key (default: SNSFLOW_WEBHOOK_KEY, or the info file)",
    )
    parser.add_argument("--region", help="AWS region of SNS (default: the topic's) and of --stack")
    parser.add_argument(
        "--endpoint-url", type=http_url, metavar="URL", help="SNS endpoint (a local SNS)"
    )
    parser.add_argument(
        "--max-receives-per-second",
        type=positive_int,
        metavar="N",
        help="let SNS deliver at most N messages a second to the webhook",
    )
    parser.add_argument(
        "--dlq",
        "--dead-letter-queue-arn",
        dest="dead_letter_queue",
        metavar="QUEUE",
        help="an SQS queue, by ARN or URL (topic's account and region), for messages SNS gives "
        "up on; 'snsflow recover' brings them back",
    )
    parser.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait until the subscription is confirmed (default: wait)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait (default: {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        return _subscribe(args)
    except (UsageError, SubscribeRequestError) as error:
        print_error("snsflow subscribe", f"error: {error}")
        return EXIT_USAGE
    except SnsflowError as error:
        print_error("snsflow subscribe", error.message)
        return EXIT_FAILED
    except ClientError as error:
        detail = error.response.get("Error", {})
        print_error(
            "snsflow subscribe", f"SNS refused: {detail.get('Message')} ({detail.get('Code')})"
        )
        return EXIT_FAILED
    except NoCredentialsError:
        hint = (
            " (the local SNS takes any: AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local)"
            if args.info_file or args.endpoint_url
            else ""
        )
        print_error("snsflow subscribe", f"no AWS credentials found{hint}")
        return EXIT_FAILED
    except AWS_FAILURES as error:  # no region, endpoint unreachable, not AWS
        print_error("snsflow subscribe", describe_aws_failure(error))
        return EXIT_FAILED


def _subscribe(args: argparse.Namespace) -> int:
    topic = parse_topic_arn(args.topic_arn)
    queue = (
        parse_dead_letter_queue(args.dead_letter_queue, topic) if args.dead_letter_queue else None
    )
    info = read_info_file(args.info_file) if args.info_file else None
    endpoint = with_key(_webhook_url(args, info), _webhook_key(args, info))
    protocol = endpoint_protocol(endpoint)
    attributes = subscription_attributes(
        max_receives_per_second=args.max_receives_per_second, dead_letter_queue=queue
    )
    sns_endpoint = args.endpoint_url or (info.sns_endpoint if info else None)
    aws.configure(endpoint_url=sns_endpoint, region_name=args.region or topic.region)
    sns: SNSClient = aws.sns_client()

    print(
        _summary(args.workflow_id, topic, redact_endpoint(endpoint), protocol, args, queue),
        file=sys.stderr,
    )
    subscription_arn = subscribe(sns, topic, endpoint, attributes)
    if not args.wait:
        print("Not waiting: snsflow confirms it when SNS asks.", file=sys.stderr)
        print(subscription_arn)
        return EXIT_OK

    print(f"Waiting up to {args.timeout:g} s for the confirmation...", file=sys.stderr)
    last_report = [0.0]

    def report(elapsed: float) -> None:
        if elapsed - last_report[0] >= PROGRESS_EVERY_SECONDS:
            last_report[0] = elapsed
            print(f"  still pending after {elapsed:.0f} s", file=sys.stderr)

    took = wait_until_confirmed(
        sns,
        subscription_arn,
        timeout=args.timeout,
        workflow_id=args.workflow_id,
        interval=POLL_SECONDS,
        on_wait=report,
    )
    print(f"Confirmed after {took:.1f} s.", file=sys.stderr)
    print(subscription_arn)
    return EXIT_OK


def _webhook_url(args: argparse.Namespace, info: LocalStackInfo | None) -> str:
    if args.webhook_url:
        return str(args.webhook_url)
    if info is not None:
        return _local_workflow(args, info).webhook_url
    if args.stack:
        aws.configure(region_name=args.region)  # the stack's region: --region or the default
        return stack_output(args.stack, webhook_url_output(args.workflow_id))
    raise UsageError("no webhook URL: pass --stack NAME, --info-file FILE or --webhook-url URL")


def _webhook_key(args: argparse.Namespace, info: LocalStackInfo | None) -> str:
    key = _named_webhook_key(args, info)
    if not is_visible_ascii(key):
        raise UsageError(
            "the webhook key holds characters a URL cannot carry as they are (a key is snsf_ "
            "followed by 43 letters, digits, '-' or '_')"
        )
    return key


def _named_webhook_key(args: argparse.Namespace, info: LocalStackInfo | None) -> str:
    if args.webhook_key:
        return str(args.webhook_key)
    configured = SubscribeCommandSettings().webhook_key
    if configured is not None:
        return configured.get_secret_value()
    if info is not None:
        name = _local_workflow(args, info).api_key_name
        if name in info.keys:
            return info.keys[name]
        raise UsageError(f"the info file has no value for key '{name}'")
    raise UsageError(
        "no webhook key: pass --webhook-key VALUE or set SNSFLOW_WEBHOOK_KEY (the value "
        "printed by 'snsflow keys create <the workflow's apiKeyName>')"
    )


def _local_workflow(args: argparse.Namespace, info: LocalStackInfo) -> LocalWorkflowInfo:
    workflow = info.workflows.get(args.workflow_id)
    if workflow is None:
        known = ", ".join(sorted(info.workflows)) or "none"
        raise UsageError(f"the local stack has no workflow '{args.workflow_id}' (it has: {known})")
    return workflow


def _summary(
    workflow_id: str,
    topic: Arn,
    shown_endpoint: str,
    protocol: str,
    args: argparse.Namespace,
    queue: Arn | None,
) -> str:
    policy = DEFAULT_RETRY_POLICY
    lines = [
        f"Subscribing workflow '{workflow_id}' to {topic}",
        f"  endpoint       {shown_endpoint} ({protocol})",
        f"  retries        {policy.num_retries}, {policy.min_delay_target} s to "
        f"{policy.max_delay_target} s apart, for at most "
        f"{policy.max_total_retry_seconds // 60} min",
    ]
    if args.max_receives_per_second:
        lines.append(f"  throttle       {args.max_receives_per_second} messages/s")
    lines.append(f"  dead letters   {queue or 'none (after the last retry SNS drops a message)'}")
    return "\n".join(lines)
