"""``snsflow local serve``: the whole of snsflow on this machine, until Ctrl-C.

What runs where is printed at start (and written to ``--info-file`` as JSON); see
``docs/local-stack.md``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from snsflow.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_error
from snsflow.net import is_loopback_host

if TYPE_CHECKING:
    from snsflow.local.stack import LocalStack


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "local",
        help="run snsflow on this machine (no AWS account)",
        description="Run the whole of snsflow locally: moto (DynamoDB, Step Functions), a local "
        "SNS and a local API gateway calling the real functions.",
    )
    actions = parser.add_subparsers(dest="local_action", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="start the local stack and keep it running until Ctrl-C",
        description="Start the local stack and keep it running until Ctrl-C (or SIGTERM).",
    )
    _add_stack_arguments(serve)
    serve.add_argument(
        "--info-file",
        type=Path,
        metavar="FILE",
        help="write the API URL, SNS endpoint, keys and webhook URLs here as JSON once ready "
        "(removed at exit; it holds key values)",
    )
    serve.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="of the local servers (stderr) and the functions (JSON on stdout); default INFO",
    )
    serve.set_defaults(handler=_serve)


def _add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        type=_loopback,
        default="127.0.0.1",
        help="loopback address of the API and the SNS (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--port", type=_port, default=0, help="port of the API (default: a free one)"
    )
    parser.add_argument(
        "--sns-port", type=_port, default=0, help="port of the SNS (default: a free one)"
    )
    parser.add_argument(
        "--workflows",
        type=Path,
        metavar="DIR",
        help="the workflow files (default: workflows/ of this checkout)",
    )
    parser.add_argument("--region", default="us-east-1", help="default: us-east-1")
    parser.add_argument(
        "--account-id", default="123456789012", type=_account_id, help="default: 123456789012"
    )


def _loopback(text: str) -> str:
    # The keys travel in URLs and nothing is authenticated but by them: never off this machine.
    if not is_loopback_host(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a loopback address (127.0.0.1, ::1)")
    return text


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0-65535)")
    return int(text)


def _account_id(text: str) -> str:
    if len(text) != 12 or not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a 12-digit AWS account id")
    return text


def _serve(args: argparse.Namespace) -> int:
    # Imported here, not at module level: moto is slow to import and `snsflow --help` is not.
    from snsflow.local.stack import (
        DEFAULT_WORKFLOWS_DIR,
        LocalStack,
        LocalStackConfig,
        LocalStackError,
    )
    from snsflow.workflows import WorkflowFileError

    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("snsflow").setLevel(args.log_level)
    config = LocalStackConfig(
        workflows_dir=args.workflows or DEFAULT_WORKFLOWS_DIR,
        host=args.host,
        api_port=args.port,
        sns_port=args.sns_port,
        region=args.region,
        account_id=args.account_id,
        function_log_level=args.log_level,
    )
    problem = _info_file_problem(args.info_file) if args.info_file else None
    if problem:  # found now, not once everything has started
        print_error("snsflow local serve", f"error: cannot write the info file: {problem}")
        return EXIT_USAGE
    with _signals_set(threading.Event()) as stopping:
        try:
            stack = LocalStack(config).start()
        except (WorkflowFileError, LocalStackError, OSError) as error:
            print_error("snsflow local serve", f"cannot start: {error}")
            return EXIT_FAILED
        try:
            if args.info_file:
                stack.write_info_file(args.info_file)
            print(banner(stack, args.info_file), flush=True)
            while not stopping.wait(1.0):
                pass
            print("Stopping the local stack...", file=sys.stderr, flush=True)
        except OSError as error:  # the info file cannot be written
            print_error("snsflow local serve", str(error))
            return EXIT_FAILED
        finally:
            stack.stop()
            if args.info_file:
                args.info_file.unlink(missing_ok=True)
    print("Stopped.", file=sys.stderr, flush=True)
    return EXIT_OK


def _info_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot take the info file, if that shows before writing it."""
    try:
        if path.is_dir():
            return f"{path} is a folder"
        if not path.parent.is_dir():
            return f"{path.parent} is not a folder"
    except OSError as error:  # e.g. a name too long
        return f"{path}: {error.strerror}"
    return None


@contextmanager
def _signals_set(event: threading.Event) -> Iterator[threading.Event]:
    """Ctrl-C (SIGINT) and SIGTERM set ``event`` instead of interrupting, so that the stack is
    stopped in order by the main thread; the previous handlers come back afterwards."""

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        event.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def banner(stack: LocalStack, info_file: Path | None) -> str:
    """What runs where, the keys, and how to use them."""
    from snsflow.local.stack import READ_KEY_NAME

    config = stack.config
    lines = [
        f"snsflow local stack is running (region {config.region}, account {config.account_id})",
        "",
        f"  API (like API Gateway)         {stack.api_url}",
        f"    executions page              {stack.api_url}/",
        f"  SNS API (boto3 endpoint_url)   {stack.sns_endpoint}",
        f"  DynamoDB + Step Functions      {stack.aws_endpoint}  (moto)",
        "",
        "  Workflows (subscribe the SNS endpoint with Protocol='http'):",
    ]
    for workflow in stack.workflows:
        lines += [
            f"    {workflow.id}  ({workflow.name}, key {workflow.api_key_name})",
            f"      {workflow.sns_endpoint}",
        ]
    lines += ["", "  Keys (valid while this stack runs):"]
    width = max(len(name) for name in stack.keys)
    for name, value in stack.keys.items():
        scope = "read" if name == READ_KEY_NAME else "webhook"
        lines.append(f"    {name.ljust(width)}  {scope.ljust(7)}  {value}")
    lines += [
        "",
        "  Try:",
        f"    export SNSFLOW_API_URL={stack.api_url} SNSFLOW_API_KEY={stack.read_key}",
        "    snsflow workflows list",
    ]
    if info_file is not None:
        lines += ["", f"  Info file: {info_file} (removed at exit)"]
    lines += ["", "Press Ctrl-C to stop."]
    return "\n".join(lines)
