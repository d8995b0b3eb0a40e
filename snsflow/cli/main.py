"""Entry point of the ``snsflow`` command: one sub-module per command group.

Each command module exposes ``register(subparsers)``, which adds its parser(s) and sets
``handler`` (a function taking the parsed namespace and returning the exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from snsflow import __version__

#: Exit codes of the CLI contract.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _command_modules() -> list[ModuleType]:
    # Imported here, not at module level, so `snsflow --help` stays fast.
    from snsflow.cli import demo, executions, keys, local, recover, subscribe, verify, workflows

    return [verify, keys, workflows, subscribe, executions, recover, local, demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snsflow",
        description="Amazon SNS HTTPS deliveries in, one Step Functions execution per message out.",
    )
    parser.add_argument("--version", action="version", version=f"snsflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # argparse exits with status 2 on usage errors, which is the contract's usage exit code.
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
