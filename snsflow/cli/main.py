"""Entry point of the ``snsflow`` command: one sub-module per command group.

Each command module exposes ``register(subparsers)``, which adds its parser(s) and sets
``handler`` (a function taking the parsed namespace and returning the exit code).

The contract of every command: exit 0 done, 1 failed, 2 usage error, 130 interrupted (Ctrl-C,
as a shell reports it); a failure is one line on stderr, ``snsflow <command>: <reason>``, and
never a traceback. Each command turns the failures it knows into their own message; what
escapes them is caught here as a last resort, named by its type (``SNSFLOW_DEBUG=1`` lets it
through with its traceback instead, to report the bug).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, NoReturn, cast

from pydantic import ValidationError

from snsflow import __version__
from snsflow.settings import CliSettings

#: Exit codes of the CLI contract.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Ctrl-C: 128 + SIGINT, what a shell reports for a command it interrupted.
EXIT_INTERRUPTED = 130
#: The start of the last-resort line: no input may ever produce it (the fuzz tests check).
UNEXPECTED = "unexpected error"


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (a newline in a value, a terminal escape
    sequence, an undecodable byte), so that it prints as one harmless line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def print_error(source: str, message: str) -> None:
    """Report a failure: ``<source>: <message>``, one line on stderr."""
    print(f"{source}: {one_line(message)}", file=sys.stderr)


def first_problem(error: ValidationError) -> str:
    """The first thing pydantic refused, with where it is (a variable, a field of a file)."""
    first = error.errors()[0]
    where = ".".join(map(str, first["loc"]))
    return f"{where}: {first['msg']}" if where else first["msg"]


class CommandLineParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (the error and where to find the usage)
    instead of the usage followed by the error."""

    def error(self, message: str) -> NoReturn:
        print_error(self.prog, f"error: {message} (see '{self.prog} --help')")
        self.exit(EXIT_USAGE)


def _command_modules() -> list[ModuleType]:
    # Imported here, not at module level, so `snsflow --help` stays fast.
    from snsflow.cli import (
        deliveries,
        demo,
        executions,
        keys,
        local,
        publish,
        recover,
        subscribe,
        verify,
        workflows,
    )

    return [
        verify,
        keys,
        workflows,
        subscribe,
        publish,
        executions,
        deliveries,
        recover,
        local,
        demo,
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="snsflow",
        description="Amazon SNS HTTPS deliveries in, one Step Functions execution per message out.",
    )
    parser.add_argument("--version", action="version", version=f"snsflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(subparsers)
    return parser


def _subcommands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0] if found else None


def commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser of every command under ``parser`` (``snsflow keys create``, ...)."""
    actions = _subcommands(parser)
    if actions is None:
        yield parser
        return
    for child in dict.fromkeys(actions.choices.values()):  # aliases share a parser
        yield from commands(child)


def chosen_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> CommandLineParser:
    """The parser of the command ``args`` were parsed for."""
    actions = _subcommands(parser)
    while actions is not None:
        parser = actions.choices[getattr(args, actions.dest)]
        actions = _subcommands(parser)
    # Every sub-parser is a CommandLineParser: argparse builds them with the root's class.
    return cast("CommandLineParser", parser)


def _check_values(command: CommandLineParser, args: argparse.Namespace) -> None:
    """What argparse lets through but no command can use: a value that is not UTF-8 (only
    file names may hold such bytes; Python passes them on escaped), and an option given ``--``
    as its value (``--region=--``), which argparse turns into an empty list."""
    for action in command._actions:
        value: Any = getattr(args, action.dest, None)
        repeated = isinstance(action, argparse._AppendAction) and isinstance(value, list)
        values: list[Any] = value if repeated else [value]
        for one in values:
            name = "/".join(action.option_strings) or action.metavar or action.dest
            if isinstance(one, list) and action.nargs is None:
                command.error(f"argument {name}: expected one argument")
            if isinstance(one, str) and not _is_utf8(one):
                command.error(f"argument {name}: '{one}' is not UTF-8 text")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _never_fail_to_print() -> None:
    """Text that the terminal's encoding cannot hold (an undecodable file name echoed back)
    prints escaped rather than failing the command; stderr does this by default."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _discard_stdout() -> None:
    """The reader of stdout went away (``snsflow ... | head``): point stdout at /dev/null, so
    the interpreter's last flush does not fail on it again."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file: nothing is flushed at exit
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; argparse raises ``SystemExit`` (2, or 0 for ``--help``) itself."""
    _never_fail_to_print()
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
            command = chosen_command(parser, args)
            _check_values(command, args)
            if sys.stdout is None:  # started with stdout closed (`>&-`): a key would be lost
                print_error(command.prog, "error: stdout is closed: nowhere to print to")
                return EXIT_USAGE
            try:
                debug = CliSettings().debug
            except ValidationError as error:
                print_error(command.prog, f"error: {first_problem(error)}")
                return EXIT_USAGE
            return _run(command, args.handler, args, debug=debug)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        # Quietly: whoever closed the pipe has what they wanted.
        _discard_stdout()
        return EXIT_FAILED


def _run(
    command: CommandLineParser,
    handler: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    *,
    debug: bool,
) -> int:
    try:
        return handler(args)
    except KeyboardInterrupt:
        print_error(command.prog, "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as error:
        if debug:
            raise
        print_error(
            command.prog,
            f"{UNEXPECTED} ({type(error).__name__}: {error}); this is a bug, please report it "
            "(SNSFLOW_DEBUG=1 shows where it happened)",
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
