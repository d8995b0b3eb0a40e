"""``snsflow demo`` (what ``make demo`` runs): the whole journey on the local stack, checked.

Exit 0 only if every check passed; otherwise 1, with the failed checks marked.
"""

from __future__ import annotations

import argparse
import logging
import sys

from snsflow.cli.main import EXIT_FAILED, EXIT_OK, print_error


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole system locally, end to end, and check every step",
        description="Start the local stack, subscribe a topic to the order-events workflow, "
        "publish orders (one that fails the workflow, one that SNS delivers twice), wait for "
        "the executions and print them. Exits 0 only if every step did what it should.",
    )
    parser.set_defaults(handler=_demo)


def _demo(_args: argparse.Namespace) -> int:
    # Imported here, not at module level: moto is slow to import and `snsflow --help` is not.
    from snsflow.local.demo import run_demo
    from snsflow.local.stack import LocalStackError
    from snsflow.workflows import WorkflowFileError

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        passed = run_demo(sys.stdout)
    except (WorkflowFileError, LocalStackError, OSError) as error:
        print_error("snsflow demo", f"cannot start the local stack: {error}")
        return EXIT_FAILED
    return EXIT_OK if passed else EXIT_FAILED
