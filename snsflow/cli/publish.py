"""``snsflow publish WORKFLOW``: publish a test message to a topic subscribed to the workflow and
wait for the execution it starts.

The topic is ``--topic ARN``, else the one topic whose subscription to the workflow the read API
reports confirmed. SNS is called in the topic's region, at ``--endpoint-url`` or the local
stack's SNS of ``--info-file`` if given (any credentials will do there), else on AWS with the
caller's credentials. The execution is then read from the read API until it ends or
``--timeout`` passes. Progress goes to stderr; the outcome (the execution as ``snsflow
executions show`` prints it, or ``--json``) to stdout. Exit 0: the execution SUCCEEDED (or,
with ``--no-wait``, the message was published); 1: it did not, or the deadline passed; 2: usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from botocore.exceptions import ClientError

from snsflow import aws
from snsflow.cli.arguments import http_url, positive_float
from snsflow.cli.executions import format_duration, format_execution
from snsflow.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_error
from snsflow.cli.recover import workflow_id
from snsflow.cli.stack import (
    AWS_FAILURES,
    ApiRequestError,
    ReadApi,
    UsageError,
    add_api_arguments,
    describe_aws_failure,
    read_api,
)
from snsflow.clock import utc_now
from snsflow.errors import SnsflowError
from snsflow.executions import execution_id
from snsflow.publish import (
    MAX_MESSAGE_BYTES,
    ExecutionReader,
    OutgoingMessage,
    PublishRequestError,
    check_subject,
    choose_topic,
    confirmed_topics,
    default_message,
    is_json,
    parse_attribute,
    wait_for_execution,
)
from snsflow.query import ExecutionDetail
from snsflow.store.executions import ExecutionStatus
from snsflow.subscribe import Arn, SubscribeRequestError, parse_topic_arn

DEFAULT_TIMEOUT_SECONDS = 60.0
#: Seconds between two reads of the execution (one small GET each).
POLL_SECONDS = 0.25
PROGRAM = "snsflow publish"

_Value = TypeVar("_Value")


def no_record_hint(workflow: str) -> str:
    """What to look at when no execution record appeared: where a refused delivery shows."""
    return (
        "SNS may still be retrying, or the webhook refused the delivery (see its subscription "
        f"with 'snsflow workflows show {workflow}', and the webhook function's log)"
    )


def _argument(check: Callable[[str], _Value]) -> Callable[[str], _Value]:
    """An argparse type from a domain check: its refusal becomes a usage error."""

    def parse(text: str) -> _Value:
        try:
            return check(text)
        except (PublishRequestError, SubscribeRequestError) as error:
            raise argparse.ArgumentTypeError(error.message) from None

    return parse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="publish a test message to a workflow's topic and wait for its execution",
        description="Publish a message to a topic subscribed to the workflow (the one confirmed "
        "subscription, or --topic) and wait for the execution it starts: its status as it "
        "changes, then its outcome.",
    )
    parser.add_argument("workflow_id", type=workflow_id, metavar="WORKFLOW")
    content = parser.add_mutually_exclusive_group()
    content.add_argument(
        "--message",
        metavar="TEXT",
        help="the message, any text; JSON reaches the workflow parsed (default: a small JSON "
        "test message with the time)",
    )
    content.add_argument(
        "--file", type=Path, metavar="FILE", help="publish the content of FILE (UTF-8 text)"
    )
    parser.add_argument(
        "--subject", type=_argument(check_subject), metavar="TEXT", help="the SNS Subject"
    )
    parser.add_argument(
        "--attribute",
        action="append",
        default=[],
        type=_argument(parse_attribute),
        metavar="NAME=VALUE",
        help="a String message attribute (repeat for more)",
    )
    parser.add_argument(
        "--topic",
        type=_argument(parse_topic_arn),
        metavar="ARN",
        help="the topic to publish to (default: the workflow's one confirmed subscription)",
    )
    parser.add_argument(
        "--endpoint-url", type=http_url, metavar="URL", help="SNS endpoint (a local SNS)"
    )
    parser.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait for the execution to end (default: wait)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait (default: {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    add_api_arguments(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        return _publish(args)
    except (UsageError, PublishRequestError) as error:
        print_error(PROGRAM, f"error: {error}")
        return EXIT_USAGE
    except SnsflowError as error:
        print_error(PROGRAM, error.message)
        return EXIT_FAILED
    except ClientError as error:
        detail = error.response.get("Error", {})
        print_error(PROGRAM, f"SNS refused: {detail.get('Message')} ({detail.get('Code')})")
        return EXIT_FAILED
    except AWS_FAILURES as error:  # no credentials, endpoint unreachable, not AWS
        print_error(PROGRAM, describe_aws_failure(error))
        return EXIT_FAILED


def _message(args: argparse.Namespace) -> OutgoingMessage:
    """What to publish, checked before anything is asked of the API or SNS."""
    if args.file is not None:
        text = _read_message_file(args.file)
    elif args.message is not None:
        text = args.message
    else:
        text = default_message(utc_now())
    attributes = dict(args.attribute)
    if len(attributes) < len(args.attribute):
        raise UsageError("an attribute is given twice: give each name once")
    return OutgoingMessage.build(text, subject=args.subject, attributes=attributes)


def _read_message_file(path: Path) -> str:
    try:
        with path.open("rb") as file:
            content = file.read(MAX_MESSAGE_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    if len(content) > MAX_MESSAGE_BYTES:
        raise UsageError(
            f"{path} is larger than SNS's limit of {MAX_MESSAGE_BYTES} bytes (256 KiB)"
        )
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text: SNS publishes text only") from None


def _publish(args: argparse.Namespace) -> int:
    message = _message(args)
    api, info = read_api(args)
    workflow = api.workflow(args.workflow_id)
    topic: Arn = args.topic or choose_topic(workflow)
    if args.topic and str(topic) not in confirmed_topics(workflow):
        print(
            f"warning: snsflow knows no confirmed subscription of {topic} to workflow "
            f"'{workflow.id}': the message may not reach it",
            file=sys.stderr,
        )
    aws.configure(
        endpoint_url=args.endpoint_url or (info.sns_endpoint if info else None),
        region_name=topic.region,
    )
    kind = "JSON" if is_json(message.message) else "text"
    size = f"{message.size_bytes} bytes" + (" with its attributes" if message.attributes else "")
    print(f"Publishing a {kind} message ({size}) to {topic}", file=sys.stderr)
    message_id = message.publish(aws.sns_client(), topic)
    execution = execution_id(workflow.id, message_id)
    print(f"Published message {message_id}: execution {execution}", file=sys.stderr)
    if not args.wait:
        _print_outcome(args, topic, message_id, execution, None)
        return EXIT_OK

    print(f"Waiting up to {args.timeout:g} s for the execution...", file=sys.stderr)

    def report(detail: ExecutionDetail, elapsed: float) -> None:
        print(f"  {detail.status.value:<9}  after {elapsed:.1f} s", file=sys.stderr)

    try:
        detail = wait_for_execution(
            _reader(api, execution), timeout=args.timeout, interval=POLL_SECONDS, on_change=report
        )
    except ApiRequestError as error:
        raise SnsflowError(
            f"message {message_id} was published, but its execution {execution} cannot be "
            f"read: {error.message}"
        ) from None
    _print_outcome(args, topic, message_id, execution, detail)
    return _verdict(workflow.id, execution, detail, args.timeout)


def _reader(api: ReadApi, execution: str) -> ExecutionReader:
    def read() -> ExecutionDetail | None:
        try:
            return api.execution(execution)
        except ApiRequestError as error:
            if error.status == 404:  # not recorded yet
                return None
            raise

    return read


def _print_outcome(
    args: argparse.Namespace,
    topic: Arn,
    message_id: str,
    execution: str,
    detail: ExecutionDetail | None,
) -> None:
    if args.json:
        document = {
            "topicArn": str(topic),
            "messageId": message_id,
            "executionId": execution,
            "execution": detail.to_json() if detail else None,
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    elif detail is not None:
        print("\n".join(format_execution(detail, utc_now())))
    else:
        print(execution)


def _verdict(workflow: str, execution: str, detail: ExecutionDetail | None, timeout: float) -> int:
    if detail is None:
        print_error(
            PROGRAM,
            f"no execution record after {timeout:g} s: {no_record_hint(workflow)}",
        )
        return EXIT_FAILED
    if detail.status is ExecutionStatus.SUCCEEDED:
        return EXIT_OK
    if not detail.status.is_terminal:
        print_error(
            PROGRAM,
            f"the execution is still {detail.status.value} after {timeout:g} s: follow it with "
            f"'snsflow executions show {execution}'",
        )
        return EXIT_FAILED
    took = format_duration(detail.started_at, detail.stopped_at, utc_now())
    why = f": {detail.error}" if detail.error else ""
    print_error(PROGRAM, f"the execution {detail.status.value} after {took}{why}")
    return EXIT_FAILED
