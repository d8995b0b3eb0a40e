"""``snsflow executions list|show|watch``: what SNS messages did, from the stack's read API
(``history``, ``redrive`` and ``rerun``: :mod:`snsflow.cli.execution_actions`).

``--since`` and ``--until`` take an ISO 8601 time (UTC when it has no offset) or a duration
back from now (``15m``, ``2h``, ``7d``). ``watch`` polls until Ctrl-C (exit 0) and prints a line
for every new execution and every change of status, oldest first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from snsflow.cli.arguments import instant_or_duration_ago, positive_int
from snsflow.cli.main import EXIT_OK, print_error
from snsflow.cli.stack import (
    ApiRequestError,
    LocalStackInfo,
    ReadApi,
    add_api_arguments,
    render_table,
    run_with_api,
    show_time,
)
from snsflow.clock import looking_back, utc_now
from snsflow.query import MAX_PAGE_SIZE, Action, Execution, ExecutionDetail, ExecutionPage
from snsflow.store.executions import ExecutionStatus

#: ``watch`` looks back this far behind what it has seen: a record becomes visible in the
#: listing index a moment after it is written, possibly after a newer one.
WATCH_OVERLAP = timedelta(seconds=30)
#: ``watch`` reads at most this many records per poll (newest first).
WATCH_MAX_ITEMS_PER_POLL = 1000
_TRIGGER_WIDTH = 40
_COLUMNS = ("WORKFLOW", "STATUS", "TRIGGER", "START", "END", "DURATION", "EXECUTION ID")
#: Fixed widths of the streamed ``watch`` lines (the last column is free).
_WATCH_WIDTHS = (16, 9, 30, 20, 20, 9)

Clock = Callable[[], datetime]


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC if it has no offset), or a duration back from ``now``; in UTC."""
    return instant_or_duration_ago(text, now or utc_now())


def _add_status_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS",
        help="only these statuses (repeat, or separate with commas): "
        + ", ".join(s.value for s in ExecutionStatus),
    )


def _add_time_options(parser: argparse.ArgumentParser) -> None:
    for name, meaning in (("since", "received at or after"), ("until", "received at or before")):
        parser.add_argument(
            f"--{name}",
            type=parse_moment,
            metavar="TIME",
            help=f"only executions {meaning} TIME (ISO 8601, or a duration ago: 15m, 2h, 7d)",
        )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Imported here: it uses this module's formatting.
    from snsflow.cli import execution_actions

    parser = subparsers.add_parser(
        "executions",
        help="list, show, watch, follow the steps of, redrive and re-run executions",
        description="The executions of a deployed or local snsflow stack: one per SNS message.",
    )
    actions = parser.add_subparsers(dest="executions_action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_api_arguments(common)
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("workflow_id", metavar="WORKFLOW")
    _add_status_option(filters)
    selection = argparse.ArgumentParser(add_help=False)
    _add_status_option(selection)
    _add_time_options(selection)

    listing = actions.add_parser(
        "list", parents=[common, filters], help="a workflow's executions, newest first"
    )
    _add_time_options(listing)
    listing.add_argument(
        "--limit",
        type=positive_int,
        default=25,
        metavar="N",
        help="how many executions to print at most (default: 25)",
    )
    listing.add_argument(
        "--next-token", metavar="TOKEN", help="continue a listing where it stopped"
    )
    listing.add_argument("--json", action="store_true", help="print the API's JSON")
    listing.set_defaults(handler=run_with_api("executions", _list))

    show = actions.add_parser(
        "show", parents=[common], help="one execution: input, output or error, SNS message"
    )
    show.add_argument(
        "execution_id",
        metavar="EXECUTION_ID",
        help="an execution id (<workflow>.<name>), or the SNS MessageId of its message",
    )
    show.add_argument("--json", action="store_true", help="print the API's JSON")
    show.set_defaults(handler=run_with_api("executions", _show))

    watch = actions.add_parser(
        "watch", parents=[common, filters], help="follow a workflow's executions as they happen"
    )
    watch.add_argument(
        "--interval",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="seconds between polls (default: 2)",
    )
    watch.add_argument(
        "--backlog",
        type=positive_int,
        default=10,
        metavar="N",
        help="how many of the latest executions to print first (default: 10)",
    )
    watch.add_argument(
        "--max-polls", type=positive_int, metavar="N", help="stop after N polls (default: never)"
    )
    watch.set_defaults(handler=run_with_api("executions", _watch))
    execution_actions.register(actions, common, selection)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds from 0 to 3600")
    return value


# -- formatting -----------------------------------------------------------------------------------


def format_duration(start: datetime | None, end: datetime | None, now: datetime) -> str:
    if start is None:
        return "-"
    seconds = max(((end or now) - start).total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _trigger(execution: Execution) -> str:
    topic = execution.topic_arn.rsplit(":", 1)[-1]
    text = f"{topic}: {execution.subject}" if execution.subject else topic
    return text if len(text) <= _TRIGGER_WIDTH else text[: _TRIGGER_WIDTH - 1] + "…"


def execution_cells(execution: Execution, now: datetime) -> tuple[str, ...]:
    """The columns of an execution: workflow, status, trigger, start, end, duration, id."""
    return (
        execution.workflow_id,
        execution.status.value,
        _trigger(execution),
        show_time(execution.started_at or execution.received_at),
        show_time(execution.stopped_at),
        format_duration(execution.started_at, execution.stopped_at, now),
        execution.execution_id,
    )


def format_executions(executions: Sequence[Execution], now: datetime) -> list[str]:
    return render_table(_COLUMNS, (execution_cells(e, now) for e in executions))


def _watch_line(cells: Sequence[str]) -> str:
    fixed = (cell.ljust(width) for cell, width in zip(cells, _WATCH_WIDTHS, strict=False))
    return "  ".join([*fixed, *cells[len(_WATCH_WIDTHS) :]]).rstrip()


def _pretty(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)


def format_execution(execution: ExecutionDetail, now: datetime) -> list[str]:
    fields = [
        ("Execution", execution.execution_id),
        ("Workflow", execution.workflow_id),
        ("Status", execution.status.value),
        ("Topic", execution.topic_arn),
        ("Subject", execution.subject or "-"),
        ("Message id", execution.message_id),
        ("Received", show_time(execution.received_at)),
        ("Started", show_time(execution.started_at)),
        ("Stopped", show_time(execution.stopped_at)),
        ("Duration", format_duration(execution.started_at, execution.stopped_at, now)),
        ("Deliveries", str(execution.deliveries)),
        ("Execution ARN", execution.execution_arn or "-"),
        ("Console", execution.console_url or "-"),
    ]
    if execution.rerun_of:
        fields.append(("Re-run of", execution.rerun_of))
    if execution.redrive_count:
        fields.append(("Redriven", f"{execution.redrive_count} time(s)"))
    if execution.reruns:
        fields.append(("Re-runs", ", ".join(execution.reruns)))
    width = max(len(name) for name, _ in fields)
    lines = [f"{name.ljust(width)}  {value}" for name, value in fields]
    sections: list[tuple[str, str]] = []
    if execution.last_start_error:
        sections.append(("Start failed", execution.last_start_error))
    if execution.error or execution.cause:
        cause = execution.cause or ""
        truncated = " (truncated)" if execution.cause_truncated else ""
        sections.append(("Error", f"{execution.error or '-'}\n{_pretty_text(cause)}{truncated}"))
    sections.append(("Input", _pretty(execution.input)))
    if execution.output is not None:
        truncated = "\n(truncated)" if execution.output_truncated else ""
        sections.append(("Output", _pretty(execution.output) + truncated))
    sections.append(("SNS message", _pretty(execution.sns_message)))
    if execution.actions:
        sections.append(("Actions", "\n".join(_action_line(a) for a in execution.actions)))
    for title, body in sections:
        lines += ["", f"{title}:", *("  " + line for line in body.rstrip().splitlines())]
    return lines


def _action_line(action: Action) -> str:
    what = {
        "redrive": f"redrive {action.redrive_count or ''}".rstrip(),
        "rerun": f"re-run as {action.execution_id}",
        "recover": f"recovered from a dead-letter queue ({action.outcome})",
    }[action.action]
    return f"{show_time(action.at)}  {what}  by {action.by}"


def _pretty_text(text: str) -> str:
    try:
        return _pretty(json.loads(text))
    except ValueError:
        return text


# -- commands -------------------------------------------------------------------------------------


def _statuses(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _next_token(page: ExecutionPage, seen: set[str]) -> str | None:
    """The page's ``nextToken``; one the API has handed out before means its listing would
    never end."""
    token = page.next_token
    if token is not None:
        if token in seen:
            raise ApiRequestError("the API hands out a nextToken it gave before: stopping there")
        seen.add(token)
    return token


def _list(args: argparse.Namespace, api: ReadApi, _info: LocalStackInfo | None) -> int:
    items: list[Execution] = []
    token = args.next_token
    seen = {token} if token else set()
    while True:
        page = api.executions(
            args.workflow_id,
            statuses=_statuses(args.status),
            since=args.since,
            until=args.until,
            limit=min(args.limit - len(items), MAX_PAGE_SIZE),
            next_token=token,
        )
        items.extend(page.items)
        token = _next_token(page, seen)
        if token is None or len(items) >= args.limit:
            break
    if args.json:
        document = {"items": [item.to_json() for item in items], "nextToken": token}
        print(json.dumps(document, indent=2))
        return EXIT_OK
    if not items:
        print(f"No executions of '{args.workflow_id}' match.", file=sys.stderr)
    else:
        print("\n".join(format_executions(items, utc_now())))
    if token:
        print(f"(more: {_continuation(args, token)})", file=sys.stderr)
    return EXIT_OK


def _continuation(args: argparse.Namespace, token: str) -> str:
    """The options that list the next executions: a token is only valid with the very filters
    it was issued for, so relative times are spelled out as the instants they meant."""
    options = [f"--status {','.join(_statuses(args.status))}"] if args.status else []
    for name in ("since", "until"):
        moment = getattr(args, name)
        if moment is not None:
            options.append(f"--{name} {moment.astimezone(UTC).isoformat()}")
    return " ".join([*options, f"--next-token {token}"])


def _show(args: argparse.Namespace, api: ReadApi, _info: LocalStackInfo | None) -> int:
    execution = api.execution(args.execution_id)
    if args.json:
        print(json.dumps(execution.to_json(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(format_execution(execution, utc_now())))
    return EXIT_OK


@dataclass
class Watcher:
    """Polls a workflow's executions and prints each new one and each change of status."""

    api: ReadApi
    workflow_id: str
    statuses: list[str]
    out: TextIO
    clock: Clock = utc_now
    #: Execution id -> (last printed status, received at), for the records still in view.
    seen: dict[str, tuple[ExecutionStatus, datetime]] = field(default_factory=dict)
    started: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def print_header(self) -> None:
        print(_watch_line(_COLUMNS), file=self.out)

    def poll(self, backlog: int | None = None) -> None:
        """Print what changed. ``backlog``: the first poll, showing that many latest records."""
        now = self.clock()
        items = (
            self.api.executions(self.workflow_id, statuses=self.statuses, limit=backlog).items
            if backlog is not None
            else self._since(self._horizon())
        )
        for execution in reversed(items):  # oldest first
            printed = self.seen.get(execution.execution_id)
            if printed is None or printed[0] is not execution.status:
                print(_watch_line(execution_cells(execution, now)), file=self.out)
                self.seen[execution.execution_id] = (execution.status, execution.received_at)
        horizon = self._horizon()
        self.seen = {k: v for k, v in self.seen.items() if v[1] >= horizon}
        self.out.flush()

    def _horizon(self) -> datetime:
        """How far back the next poll looks: to the oldest record not yet finished, or the
        newest seen, less an overlap."""
        times = [received for status, received in self.seen.values() if not status.is_terminal]
        times.append(max((received for _, received in self.seen.values()), default=self.started))
        return looking_back(min(times), WATCH_OVERLAP)

    def _since(self, since: datetime) -> list[Execution]:
        items: list[Execution] = []
        token: str | None = None
        seen: set[str] = set()
        while len(items) < WATCH_MAX_ITEMS_PER_POLL:
            page = self.api.executions(
                self.workflow_id,
                statuses=self.statuses,
                since=since,
                limit=MAX_PAGE_SIZE,
                next_token=token,
            )
            items.extend(page.items)
            token = _next_token(page, seen)
            if token is None:
                break
        return items


def watch(
    watcher: Watcher,
    *,
    interval: float,
    backlog: int,
    max_polls: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll every ``interval`` seconds, ``max_polls`` times or until interrupted.

    A failed first poll ends the watch; a later one is reported and the watch goes on."""
    watcher.print_header()
    watcher.poll(backlog)
    polls = 1
    while max_polls is None or polls < max_polls:
        sleep(interval)
        try:
            watcher.poll()
        except ApiRequestError as error:
            print_error("snsflow executions watch", error.message)
        polls += 1


def _watch(args: argparse.Namespace, api: ReadApi, _info: LocalStackInfo | None) -> int:
    watcher = Watcher(api, args.workflow_id, _statuses(args.status), sys.stdout)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
        watch(watcher, interval=args.interval, backlog=args.backlog, max_polls=args.max_polls)
    return EXIT_OK
