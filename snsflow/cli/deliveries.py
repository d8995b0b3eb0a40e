"""``snsflow deliveries WORKFLOW [--refused] [--follow] [--json]``: a workflow's delivery log.

Every request that reached the webhook for the workflow, newest first: accepted, duplicate,
confirmed, unsubscribed, or refused with its code (refusals counted per code and minute, with
the key's name when it was a known key). ``--follow`` polls and prints what is new, oldest
first, like ``tail -f``; a refusal counter is printed again when its count grows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

from snsflow.cli.arguments import positive_int
from snsflow.cli.executions import _seconds, parse_moment
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
from snsflow.deliveries import DeliveryOutcome
from snsflow.delivery_reads import Delivery
from snsflow.query import MAX_PAGE_SIZE

#: A poll of ``--follow`` looks back this far before the newest row it printed, so that rows
#: written late (another shard, a counter still counting) are not missed.
FOLLOW_OVERLAP = timedelta(seconds=90)
FOLLOW_MAX_ROWS_PER_POLL = 10 * MAX_PAGE_SIZE
_HEADER = ("AT", "OUTCOME", "CODE", "COUNT", "TOPIC", "MESSAGE ID", "KEY", "EXECUTION / REQUEST")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deliveries",
        help="every request that reached a workflow's webhook, refused ones too",
        description="A workflow's delivery log, newest first: accepted, duplicate, confirmed, "
        "unsubscribed, or refused with its code (counted per code and minute).",
    )
    add_api_arguments(parser)
    parser.add_argument("workflow_id", metavar="WORKFLOW")
    parser.add_argument("--refused", action="store_true", help="only refused requests")
    parser.add_argument(
        "--since",
        type=parse_moment,
        metavar="TIME",
        help="only deliveries at or after TIME (ISO 8601, or a duration ago: 15m, 2h, 7d)",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=25,
        metavar="N",
        help="how many rows to print at most (default: 25; with --follow, the first poll's)",
    )
    parser.add_argument("--follow", action="store_true", help="keep printing new deliveries")
    parser.add_argument(
        "--interval",
        type=_seconds,
        default=2.0,
        metavar="SECONDS",
        help="seconds between polls of --follow (default: 2)",
    )
    parser.add_argument(
        "--max-polls", type=positive_int, metavar="N", help="with --follow, stop after N polls"
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.set_defaults(handler=run_with_api("deliveries", _run))


def delivery_cells(row: Delivery) -> tuple[str, ...]:
    target = row.execution_id or row.request_id or "-"
    return (
        show_time(row.at),
        row.outcome.value,
        row.code or "-",
        str(row.count),
        row.topic_arn or "-",
        row.message_id or "-",
        row.key_name or "-",
        target,
    )


def format_deliveries(rows: list[Delivery]) -> list[str]:
    return render_table(_HEADER, [delivery_cells(row) for row in rows])


def _identity(row: Delivery) -> tuple[str, ...]:
    return (show_time(row.at), row.outcome.value, row.code or "", row.request_id or "")


@dataclass
class Follower:
    api: ReadApi
    workflow_id: str
    outcome: str | None
    out: TextIO
    json_lines: bool = False
    #: Row identity -> count printed.
    printed: dict[tuple[str, ...], int] = field(default_factory=dict)
    newest: datetime | None = None

    def poll(self, since: datetime | None, limit: int) -> None:
        rows: list[Delivery] = []
        token: str | None = None
        tokens: set[str] = set()
        while True:
            page = self.api.deliveries(
                self.workflow_id, outcome=self.outcome, since=since, limit=limit, next_token=token
            )
            rows.extend(page.items)
            token = page.next_token
            # The first poll shows the latest ``limit``; later ones every page since the
            # horizon, within reason (an API that repeats a token or pages nothing ends it).
            if since is None or not token or token in tokens or not page.items:
                break
            if len(rows) >= FOLLOW_MAX_ROWS_PER_POLL:
                break
            tokens.add(token)
        for row in reversed(rows):  # oldest first
            identity = _identity(row)
            if self.printed.get(identity) == row.count:
                continue
            self.printed[identity] = row.count
            if self.json_lines:
                print(json.dumps(row.to_json()), file=self.out)
            else:
                print("  ".join(delivery_cells(row)), file=self.out)
            self.newest = max(self.newest or row.at, row.at)
        self.out.flush()


def follow(
    follower: Follower,
    *,
    since: datetime | None,
    limit: int,
    interval: float,
    max_polls: int | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """The first poll prints the latest ``limit`` rows (or those since ``since``); each next
    one what is new since then."""
    follower.poll(since, limit)
    polls = 1
    while max_polls is None or polls < max_polls:
        sleep(interval)
        horizon = looking_back(follower.newest or clock(), FOLLOW_OVERLAP)
        try:
            follower.poll(horizon, MAX_PAGE_SIZE)
        except ApiRequestError as error:
            print_error("snsflow deliveries", error.message)
        polls += 1


def _run(args: argparse.Namespace, api: ReadApi, _info: LocalStackInfo | None) -> int:
    outcome = DeliveryOutcome.REFUSED.value if args.refused else None
    if args.follow:
        follower = Follower(api, args.workflow_id, outcome, sys.stdout, json_lines=args.json)
        if not args.json:
            print("  ".join(_HEADER))
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a follow ends
            follow(
                follower,
                since=args.since,
                limit=args.limit,
                interval=max(args.interval, 0.1),
                max_polls=args.max_polls,
            )
        return EXIT_OK
    page = api.deliveries(args.workflow_id, outcome=outcome, since=args.since, limit=args.limit)
    if args.json:
        print(json.dumps(page.to_json(), indent=2))
    elif not page.items:
        print(f"No deliveries logged for {args.workflow_id}.", file=sys.stderr)
    else:
        print("\n".join(format_deliveries(page.items)))
        if page.next_token:
            print(f"(more: use --since or --limit; next token {page.next_token})", file=sys.stderr)
    return EXIT_OK
