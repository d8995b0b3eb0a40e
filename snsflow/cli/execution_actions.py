"""``snsflow executions history|redrive|rerun``: an execution's steps, and acting on it.

``redrive`` and ``rerun`` need an ``operate`` key (``--api-key``, ``SNSFLOW_API_KEY``, or the
local stack's operate key from ``--info-file``). ``rerun --workflow W`` re-runs every execution
of W that a listing selects (``--status``, ``--since``, ``--until``): it lists them first, asks
before it starts anything (``--yes`` does not ask, ``--dry-run`` only lists), reports each one as
it goes, and ends with a summary. Each original gets the Idempotency-Key
``snsflow-bulk-rerun:<executionId>``, so running the same bulk command again (after a crash, say)
starts nothing twice: what was re-run before is reported as skipped, with its re-run.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import TextIO

from snsflow.actions import ExecutionHistory, HistoryState
from snsflow.cli.arguments import positive_int
from snsflow.cli.executions import format_executions
from snsflow.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_error
from snsflow.cli.stack import ApiRequestError, LocalStackInfo, ReadApi, render_table, run_with_api
from snsflow.clock import utc_now
from snsflow.query import MAX_PAGE_SIZE, Execution

#: At most this many history pages are read (each ends where no state is open).
MAX_HISTORY_PAGES = 100
#: A bulk re-run selects at most this many executions unless ``--limit`` says otherwise.
DEFAULT_BULK_LIMIT = 100
BULK_KEY_PREFIX = "snsflow-bulk-rerun:"
_HISTORY_COLUMNS = ("", "STATE", "TYPE", "STATUS", "ENTERED", "DURATION", "ERROR")
_GROUP = "executions"


def register(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    selection: argparse.ArgumentParser,
) -> None:
    """Add ``history``, ``redrive`` and ``rerun`` beside ``list|show|watch``."""
    history = actions.add_parser(
        "history", parents=[common], help="an execution's steps: each state, its time and outcome"
    )
    history.add_argument("execution_id", metavar="EXECUTION_ID")
    history.add_argument("--json", action="store_true", help="print the API's JSON")
    history.set_defaults(handler=run_with_api(_GROUP, _history))

    redrive = actions.add_parser(
        "redrive",
        parents=[common],
        help="continue a failed STANDARD execution from the state that failed (operate key)",
    )
    redrive.add_argument("execution_id", metavar="EXECUTION_ID")
    redrive.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="the same KEY again redrives nothing twice, and completes a redrive answered 503",
    )
    redrive.add_argument("--json", action="store_true", help="print the API's JSON")
    redrive.set_defaults(handler=run_with_api(_GROUP, _redrive, operate=True))

    rerun = actions.add_parser(
        "rerun",
        parents=[common, selection],
        help="run an execution again with the same input, as a new execution (operate key); "
        "--workflow re-runs many",
    )
    rerun.add_argument("execution_id", metavar="EXECUTION_ID", nargs="?")
    rerun.add_argument("--workflow", metavar="WORKFLOW", help="re-run the executions of WORKFLOW")
    rerun.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_BULK_LIMIT,
        metavar="N",
        help=f"re-run at most N executions (default: {DEFAULT_BULK_LIMIT})",
    )
    rerun.add_argument("--dry-run", action="store_true", help="only list what would be re-run")
    rerun.add_argument("--yes", action="store_true", help="do not ask before re-running many")
    rerun.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="for one execution: the same KEY again starts nothing twice",
    )
    rerun.add_argument("--json", action="store_true", help="print the API's JSON (one execution)")
    rerun.set_defaults(handler=run_with_api(_GROUP, _rerun, operate=True))


# -- history --------------------------------------------------------------------------------------


def _duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "-"
    return f"{milliseconds}ms" if milliseconds < 1000 else f"{milliseconds / 1000:.1f}s"


def _state_cells(state: HistoryState, failed: bool) -> tuple[str, ...]:
    error = f"{state.error}: {state.cause}" if state.cause else state.error or ""
    return (
        ">" if failed else "",
        state.name,
        state.type,
        state.status,
        state.entered_at.strftime("%H:%M:%S.%f")[:-3],
        _duration(state.duration_ms),
        error[:80],
    )


def format_history(history: ExecutionHistory) -> list[str]:
    failed_index = max(
        (i for i, s in enumerate(history.states) if s.name == history.failed_state), default=-1
    )
    rows = (_state_cells(s, i == failed_index) for i, s in enumerate(history.states))
    lines = render_table(_HISTORY_COLUMNS, rows)
    if history.failed_state:
        lines.append(f"Failed in state '{history.failed_state}'.")
    return lines


def read_history(api: ReadApi, execution_id: str) -> ExecutionHistory:
    """Every page of the history, as one."""
    first = api.history(execution_id)
    states, failed, token = list(first.states), first.failed_state, first.next_token
    seen: set[str] = set()
    for _ in range(MAX_HISTORY_PAGES):
        if token is None:
            break
        if token in seen:
            raise ApiRequestError("the API hands out a nextToken it gave before: stopping there")
        seen.add(token)
        page = api.history(execution_id, token)
        states.extend(page.states)
        failed, token = page.failed_state or failed, page.next_token
    return ExecutionHistory(
        execution_id=execution_id, states=states, failed_state=failed, next_token=token
    )


def _history(args: argparse.Namespace, api: ReadApi, _info: LocalStackInfo | None) -> int:
    history = read_history(api, args.execution_id)
    if args.json:
        print(json.dumps(history.to_json(), indent=2, ensure_ascii=False))
    elif not history.states:
        print(f"Execution '{args.execution_id}' has not started: no steps yet.", file=sys.stderr)
    else:
        print("\n".join(format_history(history)))
    return EXIT_OK


# -- redrive and re-run ---------------------------------------------------------------------------


def _redrive(args: argparse.Namespace, api: ReadApi, _info: LocalStackInfo | None) -> int:
    detail = api.redrive(args.execution_id, args.idempotency_key)
    if args.json:
        print(json.dumps(detail.to_json(), indent=2, ensure_ascii=False))
    else:
        print(
            f"Redriven {detail.execution_id}: {detail.status.value} "
            f"(redrive {detail.redrive_count}); follow it with: snsflow executions show "
            f"{detail.execution_id}"
        )
    return EXIT_OK


def _rerun(args: argparse.Namespace, api: ReadApi, _info: LocalStackInfo | None) -> int:
    if (args.execution_id is None) == (args.workflow is None):
        print_error("snsflow executions rerun", "error: give an EXECUTION_ID or --workflow W")
        return EXIT_USAGE
    if args.execution_id is not None:
        if args.status or args.since or args.until or args.dry_run:
            print_error(
                "snsflow executions rerun",
                "error: --status, --since, --until and --dry-run select executions of --workflow",
            )
            return EXIT_USAGE
        result = api.rerun(args.execution_id, args.idempotency_key)
        if args.json:
            print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        else:
            print(
                f"Re-ran {result.rerun_of} as {result.execution.execution_id} "
                f"({result.execution.status.value})"
            )
        return EXIT_OK
    if args.idempotency_key or args.json:
        print_error(
            "snsflow executions rerun",
            "error: --idempotency-key and --json are for one EXECUTION_ID",
        )
        return EXIT_USAGE
    return bulk_rerun(args, api, sys.stdin, sys.stdout, sys.stderr)


@dataclass
class BulkSummary:
    started: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [
            f"Started {len(self.started)}, skipped {len(self.skipped)}, failed {len(self.failed)}."
        ]
        lines += [f"  skipped {execution_id}: {reason}" for execution_id, reason in self.skipped]
        lines += [f"  failed {execution_id}: {reason}" for execution_id, reason in self.failed]
        return lines


def _selected(args: argparse.Namespace, api: ReadApi) -> list[Execution]:
    statuses = [p.strip() for value in args.status for p in value.split(",") if p.strip()]
    items: list[Execution] = []
    token: str | None = None
    seen: set[str] = set()
    while len(items) < args.limit:
        page = api.executions(
            args.workflow,
            statuses=statuses,
            since=args.since,
            until=args.until,
            limit=min(args.limit - len(items), MAX_PAGE_SIZE),
            next_token=token,
        )
        items.extend(page.items)
        token = page.next_token
        if token is None or token in seen:
            break
        seen.add(token)
    return items[: args.limit]


def _confirmed(count: int, workflow: str, stdin: TextIO, out: TextIO) -> bool | None:
    """The answer to the question; None when there is nobody to ask."""
    if not stdin.isatty():
        return None
    print(f"Re-run these {count} executions of '{workflow}'? [y/N] ", end="", file=out, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def bulk_rerun(
    args: argparse.Namespace, api: ReadApi, stdin: TextIO, out: TextIO, err: TextIO
) -> int:
    selected = _selected(args, api)
    if not selected:
        print(f"No executions of '{args.workflow}' match: nothing to re-run.", file=err)
        return EXIT_OK
    print("\n".join(format_executions(selected, utc_now())), file=out)
    if args.dry_run:
        print(f"Dry run: {len(selected)} executions would be re-run.", file=err)
        return EXIT_OK
    if not args.yes:
        answer = _confirmed(len(selected), args.workflow, stdin, err)
        if answer is None:
            print_error(
                "snsflow executions rerun",
                "error: no terminal to confirm on: pass --yes to re-run without asking",
            )
            return EXIT_USAGE
        if not answer:
            print("Nothing re-run.", file=err)
            return EXIT_OK
    summary = BulkSummary()
    for number, execution in enumerate(selected, start=1):
        progress = f"[{number}/{len(selected)}] {execution.execution_id}"
        if execution.rerun_of is not None:
            summary.skipped.append(
                (execution.execution_id, f"a re-run of {execution.rerun_of}: re-run that one")
            )
            print(f"{progress}: skipped (a re-run)", file=err, flush=True)
            continue
        try:
            result, created = api.rerun_request(
                execution.execution_id, BULK_KEY_PREFIX + execution.execution_id
            )
        except ApiRequestError as error:
            if 400 <= error.status < 500:
                summary.skipped.append((execution.execution_id, error.message))
                print(f"{progress}: skipped ({error.error_code})", file=err, flush=True)
            else:
                summary.failed.append((execution.execution_id, error.message))
                print(f"{progress}: failed ({error.error_code})", file=err, flush=True)
            continue
        new_id = result.execution.execution_id
        if not created:  # an earlier bulk re-run made it
            summary.skipped.append((execution.execution_id, f"re-run before, as {new_id}"))
            print(f"{progress}: skipped (re-run before as {new_id})", file=err, flush=True)
        else:
            summary.started.append((execution.execution_id, new_id))
            print(f"{progress}: started {new_id}", file=err, flush=True)
    print("\n".join(summary.lines()), file=out)
    if summary.failed:
        print_error(
            "snsflow executions rerun",
            f"{len(summary.failed)} of {len(selected)} re-runs failed (the summary says why); "
            "run the same command again to retry them: nothing re-run is re-run twice",
        )
        return EXIT_FAILED
    return EXIT_OK
