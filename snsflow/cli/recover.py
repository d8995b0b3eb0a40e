"""``snsflow recover WORKFLOW --dlq QUEUE``: bring the notifications SNS gave up on — those in
the subscription's dead-letter queue — into the workflow, each exactly once.

It works with the operator's AWS credentials, like ``snsflow keys``: DynamoDB (the executions
and workflows tables), Step Functions and SQS of ``--stack NAME`` (tables from its outputs), or
of the local stack of ``--info-file FILE`` (moto at its ``awsEndpoint``, whose SNS certificate
it then trusts). Who recovered a message is written on its record: ``--operator NAME``, else the
caller's identity from STS GetCallerIdentity (an ARN; never a secret).

stdout: one line per message and a summary (or ``--json``); stderr: what is done, errors.
Exit 0: done, nothing left that another run could recover; 1: a runtime failure, or messages
that another run may recover (a dependency failed); 2: usage.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

from botocore.exceptions import ClientError

from snsflow import aws
from snsflow.cli.arguments import positive_int
from snsflow.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_error
from snsflow.cli.stack import (
    AWS_FAILURES,
    LocalStackInfo,
    UsageError,
    describe_aws_failure,
    read_info_file,
    render_table,
    required_output,
    stack_outputs,
    table_name_output,
)
from snsflow.clock import utc_now
from snsflow.errors import SnsflowError
from snsflow.executions import ExecutionLauncher
from snsflow.keys import KEY_PREFIX
from snsflow.recovery import MessageReport, Outcome, Recovery, RecoveryReport
from snsflow.settings import RecoverCommandSettings
from snsflow.sns import CertificateProvider, MessageVerifier, UrllibCertificateFetcher
from snsflow.sqs import SqsQueue, queue_url
from snsflow.stepfunctions import StepFunctionsExecutions
from snsflow.store.executions import ExecutionStore
from snsflow.store.migration import UpgradingExecutionStore
from snsflow.store.tables import EXECUTIONS, LEGACY_EXECUTIONS, WORKFLOWS
from snsflow.store.workflows import WorkflowRegistry
from snsflow.subscribe import SubscribeRequestError, parse_queue
from snsflow.workflows import is_workflow_id

#: A dead-letter queue keeps a message at most 14 days (SQS's longest retention), and SNS
#: dead-letters it at most an hour after publishing: older Timestamps cannot come from it.
MAX_MESSAGE_AGE = timedelta(days=15)
DEFAULT_MAX_MESSAGES = 1000
_OPERATOR = re.compile(r"[A-Za-z0-9_.:/@+=,-]{1,200}")


def workflow_id(text: str) -> str:
    if not is_workflow_id(text):
        raise argparse.ArgumentTypeError(f"'{text[:100]}' is not a workflow id ([a-z0-9-]{{1,64}})")
    return text


def queue_reference(text: str) -> str:
    """An SQS queue URL or ARN (checked now; its region is settled once the stack is known)."""
    try:
        parse_queue(text, default_region="us-east-1")
    except SubscribeRequestError as error:
        raise argparse.ArgumentTypeError(error.message) from None
    return text.strip()


def operator_name(text: str) -> str:
    """Who to write on the records: a name or an ARN — never a key."""
    if not _OPERATOR.fullmatch(text) or text.startswith(KEY_PREFIX):
        raise argparse.ArgumentTypeError(
            "the operator is a name or an ARN (letters, digits and _.:/@+=,-, at most 200), "
            "never a key"
        )
    return text


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "recover",
        help="run the messages SNS gave up on (its dead-letter queue), each exactly once",
        description="Read the SQS dead-letter queue that 'snsflow subscribe --dlq' set up and "
        "bring each SNS notification into the workflow as a webhook delivery would: a "
        "MessageId that already has an execution is not run again. A message is deleted only "
        "once its record is written; anything else stays in the queue and is reported.",
    )
    parser.add_argument("workflow_id", type=workflow_id, metavar="WORKFLOW")
    parser.add_argument(
        "--dlq",
        required=True,
        type=queue_reference,
        metavar="QUEUE_URL",
        help="the dead-letter queue, by URL (or ARN)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stack", metavar="NAME", help="a deployed stack (tables from its outputs)")
    where.add_argument(
        "--info-file", type=Path, metavar="FILE", help="the info file of 'snsflow local serve'"
    )
    parser.add_argument("--region", help="AWS region (default: the queue's, or your default)")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would happen; write and delete nothing"
    )
    parser.add_argument(
        "--max-messages",
        type=positive_int,
        default=DEFAULT_MAX_MESSAGES,
        metavar="N",
        help=f"process at most N messages (default: {DEFAULT_MAX_MESSAGES})",
    )
    parser.add_argument(
        "--operator",
        type=operator_name,
        metavar="NAME",
        help="who is recovering, as written on the records (default: your AWS identity's ARN)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        return _recover(args)
    except (UsageError, SubscribeRequestError) as error:
        print_error("snsflow recover", f"error: {error}")
        return EXIT_USAGE
    except SnsflowError as error:
        print_error("snsflow recover", error.message)
        return EXIT_FAILED
    except ClientError as error:
        detail = error.response.get("Error", {})
        print_error("snsflow recover", f"AWS refused: {detail.get('Message')}")
        return EXIT_FAILED
    except AWS_FAILURES as error:  # no region, no credentials, endpoint unreachable, not AWS
        print_error("snsflow recover", describe_aws_failure(error))
        return EXIT_FAILED


def _recover(args: argparse.Namespace) -> int:
    info = read_info_file(args.info_file) if args.info_file else None
    if info is None and not args.stack:
        raise UsageError("no stack: pass --stack NAME, or --info-file FILE for a local stack")
    region = args.region or (info.region if info else None)
    address = parse_queue(args.dlq, default_region=region or "us-east-1")
    region = region or address.arn.region
    aws.configure(endpoint_url=info.aws_endpoint if info else None, region_name=region)
    executions_table, workflows_table, legacy_table = _tables(args, info)

    dynamodb = aws.dynamodb_resource()
    workflow = WorkflowRegistry(dynamodb.Table(workflows_table)).get(args.workflow_id)
    if workflow is None:
        raise SnsflowError(f"the stack has no workflow '{args.workflow_id}'")
    operator = args.operator or str(aws.sts_client().get_caller_identity()["Arn"])
    sqs = aws.sqs_client()
    queue = SqsQueue(sqs, queue_url(sqs, address))
    records = (
        # A stack upgraded from before issue 15: a message's record may not be moved yet.
        UpgradingExecutionStore(dynamodb.Table(executions_table), dynamodb.Table(legacy_table))
        if legacy_table
        else ExecutionStore(dynamodb.Table(executions_table))
    )
    recovery = Recovery(
        queue=queue,
        verifier=_verifier(info),
        launcher=ExecutionLauncher(
            records,
            StepFunctionsExecutions(aws.stepfunctions_client()),
            clock=utc_now,
            retention=timedelta(days=RecoverCommandSettings().execution_retention_days),
        ),
        records=records,
        operator=operator,
        clock=utc_now,
    )
    mode = " (dry run: nothing is written or deleted)" if args.dry_run else ""
    print(
        f"Recovering {queue.url} into workflow '{workflow.workflow_id}' as {operator}{mode}",
        file=sys.stderr,
    )
    report = recovery.run(workflow, max_messages=args.max_messages, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        _print_report(report)
    if report.needs_another_run:
        print_error(
            "snsflow recover",
            report.stopped_by or "some messages stay for now: run it again later",
        )
        return EXIT_FAILED
    return EXIT_OK


def _tables(args: argparse.Namespace, info: LocalStackInfo | None) -> tuple[str, str, str | None]:
    """The executions and workflows tables, and the executions table of before issue 15 if
    the stack has one (a local stack never has)."""
    if info is not None:
        try:
            return info.tables[EXECUTIONS.logical_name], info.tables[WORKFLOWS.logical_name], None
        except KeyError:
            raise UsageError(f"{args.info_file} names no executions or workflows table") from None
    outputs = stack_outputs(args.stack)  # one DescribeStacks for the three
    return (
        required_output(args.stack, outputs, table_name_output(EXECUTIONS)),
        required_output(args.stack, outputs, table_name_output(WORKFLOWS)),
        outputs.get(table_name_output(LEGACY_EXECUTIONS)),
    )


def _verifier(info: LocalStackInfo | None) -> MessageVerifier:
    """As strict as the webhook's, but for the freshness window; the local stack's SNS signs
    with its own certificate, trusted only when its info file is given."""
    local_sns = (f"{info.sns_endpoint.rstrip('/')}/",) if info and info.sns_endpoint else ()
    return MessageVerifier(
        CertificateProvider(UrllibCertificateFetcher(allow_http=bool(local_sns))),
        max_age=MAX_MESSAGE_AGE,
        trusted_cert_url_prefixes=local_sns,
    )


_OUTCOME_TEXT = {
    Outcome.RECOVERED: "recovered",
    Outcome.DUPLICATE: "already had an execution",
    Outcome.LEFT: "left in the queue",
}


def _describe(message: MessageReport, dry_run: bool) -> tuple[str, str, str, str]:
    outcome = ("would be " if dry_run else "") + _OUTCOME_TEXT[message.outcome]
    if message.outcome is Outcome.LEFT:
        what = f"{message.reason}: {message.detail}"
    else:
        what = message.execution_id or "-"
        if not message.started and not dry_run:
            what += " (start failed: the reconciler starts it)"
        if message.detail:
            what += f" ({message.detail})"
    return message.sqs_message_id, outcome, message.message_id or "-", what


def _print_report(report: RecoveryReport) -> None:
    if report.messages:
        rows = [_describe(message, report.dry_run) for message in report.messages]
        for line in render_table(
            ("SQS MESSAGE", "OUTCOME", "SNS MESSAGE", "EXECUTION / REASON"), rows
        ):
            print(line)
    reasons: dict[str, int] = {}
    for message in report.messages:
        if message.reason is not None:
            reasons[message.reason.value] = reasons.get(message.reason.value, 0) + 1
    why = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
    print(
        f"{'Would recover' if report.dry_run else 'Recovered'} {report.count(Outcome.RECOVERED)}, "
        f"already had an execution {report.count(Outcome.DUPLICATE)}, "
        f"left in the queue {report.count(Outcome.LEFT)}" + (f" ({why})" if why else "")
    )
