"""``snsflow keys create|list|revoke|rotate``: manage API keys in a stack's keys table.

The table is ``--table NAME``, or the ``KeysTableName`` output of the CloudFormation stack
``--stack NAME``, or the local stack's keys table of ``--info-file FILE`` (with its AWS endpoint
and region), or ``SNSFLOW_KEYS_TABLE_NAME``. ``--endpoint-url`` and ``--region`` point the AWS
clients elsewhere. Named nowhere, it is a usage error, before any AWS call. A new key's value
goes to stdout alone, so ``KEY=$(snsflow keys create prod-sns)`` works; everything else a person
reads goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from snsflow import aws
from snsflow.cli.arguments import duration, http_url
from snsflow.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_error
from snsflow.cli.stack import (
    AWS_FAILURES,
    LocalStackInfo,
    UsageError,
    describe_aws_failure,
    read_info_file,
    show_time,
    stack_output,
    table_name_output,
)
from snsflow.errors import SnsflowError
from snsflow.keys import (
    DEFAULT_ROTATION_GRACE,
    ApiKey,
    InvalidKeyNameError,
    KeyScope,
    KeyStatus,
    check_key_name,
    create_key,
    list_keys,
    revoke_keys,
    rotate_key,
)
from snsflow.settings import AuthorizerSettings, KeysCommandSettings
from snsflow.store.keys import DynamoKeyStore, format_time
from snsflow.store.tables import KEYS

#: The stack output naming the keys table (the CDK stack must export it under this key).
KEYS_TABLE_OUTPUT = table_name_output(KEYS)
#: How long an authorizer instance trusts a key record it has read (the default of
#: ``SNSFLOW_AUTH_CACHE_TTL_SECONDS``): a revocation, and the end of a grace period shorter
#: than this, take effect within it, since a record read just before carries neither.
AUTHORIZER_CACHE_TIME = timedelta(
    seconds=AuthorizerSettings.model_fields["auth_cache_ttl_seconds"].default
)
#: What DynamoDB accepts as a table name.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_CACHE_TIME = f"{AUTHORIZER_CACHE_TIME.total_seconds():g} s"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="create, list, revoke and rotate API keys",
        description="Manage the API keys of a deployed or local snsflow stack.",
    )
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    target = argparse.ArgumentParser(add_help=False)
    where = target.add_mutually_exclusive_group()
    where.add_argument("--table", type=_table_name_argument, metavar="NAME", help="the keys table")
    where.add_argument(
        "--stack",
        metavar="NAME",
        help=f"the CloudFormation stack whose output {KEYS_TABLE_OUTPUT} names the keys table",
    )
    where.add_argument(
        "--info-file",
        type=Path,
        metavar="FILE",
        help="the info file of 'snsflow local serve' (its keys table, AWS endpoint and region)",
    )
    target.add_argument(
        "--region", help="AWS region (default: the info file's, or from the environment)"
    )
    target.add_argument(
        "--endpoint-url",
        type=http_url,
        metavar="URL",
        help="AWS endpoint (default: the info file's awsEndpoint, or AWS)",
    )

    create = actions.add_parser(
        "create",
        parents=[target],
        help="create a key and print its value (shown only this once)",
    )
    create.add_argument(
        "name", type=_key_name, help="key name, e.g. prod-sns (what workflows' apiKeyName names)"
    )
    create.add_argument(
        "--scope",
        choices=[scope.value for scope in KeyScope],
        default=KeyScope.WEBHOOK.value,
        help="webhook: SNS deliveries to the workflows naming it; read: the read-only API "
        "(default: webhook)",
    )
    create.set_defaults(handler=_with_store(_create))

    listing = actions.add_parser("list", parents=[target], help="list keys (never their values)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=_with_store(_list))

    revoke = actions.add_parser(
        "revoke", parents=[target], help="revoke every value of a key at once"
    )
    revoke.add_argument("name", type=_key_name)
    revoke.set_defaults(handler=_with_store(_revoke))

    rotate = actions.add_parser(
        "rotate",
        parents=[target],
        help="add a new value to a key; older values stay valid for a grace period",
    )
    rotate.add_argument("name", type=_key_name)
    rotate.add_argument(
        "--grace",
        type=duration,
        default=DEFAULT_ROTATION_GRACE,
        metavar="DURATION",
        help="how long older values stay valid, e.g. 24h, 90m, 2d (default: 24h); with 0, or "
        f"anything under {_CACHE_TIME}, they are refused within {_CACHE_TIME} (an authorizer "
        "trusts a key record it read that long)",
    )
    rotate.set_defaults(handler=_with_store(_rotate))


def _key_name(text: str) -> str:
    # Refused here, before any AWS call, with the same message as everywhere else.
    try:
        return check_key_name(text)
    except InvalidKeyNameError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def _table_name_argument(text: str) -> str:
    if not _TABLE_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a DynamoDB table name (3-255 letters, digits, '_', '-' or '.')"
        )
    return text


def _table_name(args: argparse.Namespace, info: LocalStackInfo | None) -> str:
    """The keys table, from wherever the command line names it (no AWS call but ``--stack``'s
    CloudFormation read)."""
    if args.table:
        return str(args.table)
    if info is not None:
        name = info.tables.get(KEYS.logical_name, "")
        if not _TABLE_NAME.fullmatch(name):
            raise UsageError(f"{args.info_file} names no keys table (tables.{KEYS.logical_name})")
        return name
    if args.stack:
        return stack_output(args.stack, KEYS_TABLE_OUTPUT)
    configured = KeysCommandSettings().keys_table_name
    if configured:
        return configured
    raise UsageError(
        "no keys table: pass --stack NAME (a deployed stack), --info-file FILE (the local "
        "stack) or --table NAME, or set SNSFLOW_KEYS_TABLE_NAME"
    )


def _with_store(
    action: Callable[[argparse.Namespace, DynamoKeyStore], int],
) -> Callable[[argparse.Namespace], int]:
    """Resolve the table, run ``action`` on its store, and turn failures into exit codes."""

    def run(args: argparse.Namespace) -> int:
        try:
            info = read_info_file(args.info_file) if args.info_file else None
            aws.configure(
                endpoint_url=args.endpoint_url or (info.aws_endpoint if info else None),
                region_name=args.region or (info.region if info else None),
            )
            table_name = _table_name(args, info)  # first: no table named is a usage error
            return action(args, DynamoKeyStore(aws.dynamodb_resource().Table(table_name)))
        except UsageError as error:
            print_error("snsflow keys", f"error: {error}")
            return EXIT_USAGE
        except SnsflowError as error:
            print_error("snsflow keys", error.message)
            return EXIT_FAILED
        except AWS_FAILURES as error:  # no region, no credentials, endpoint unreachable
            print_error("snsflow keys", describe_aws_failure(error))
            return EXIT_FAILED

    return run


def _now() -> datetime:
    return datetime.now(UTC)


def _create(args: argparse.Namespace, store: DynamoKeyStore) -> int:
    issued = create_key(store, args.name, KeyScope(args.scope), _now())
    print(
        f"Created API key '{issued.key.name}' (scope {issued.key.scope}, "
        f"{issued.key.display_prefix}...). This is the only time its value is shown:",
        file=sys.stderr,
    )
    print(issued.value.get_secret_value())
    return EXIT_OK


def _revoke(args: argparse.Namespace, store: DynamoKeyStore) -> int:
    revoked = revoke_keys(store, args.name, _now())
    print(f"Revoked API key '{args.name}' ({len(revoked)} value(s)): refused within {_CACHE_TIME}.")
    return EXIT_OK


def _rotate(args: argparse.Namespace, store: DynamoKeyStore) -> int:
    now = _now()
    issued = rotate_key(store, args.name, args.grace, now)
    if args.grace >= AUTHORIZER_CACHE_TIME:
        older = f"older values stay valid until {show_time(now + args.grace)}"
    else:
        older = (
            f"older values are refused by {show_time(now + AUTHORIZER_CACHE_TIME)} at the "
            f"latest (an authorizer trusts a key record it read for {_CACHE_TIME})"
        )
    print(
        f"Rotated API key '{issued.key.name}': {older}. The new value (shown only this once):",
        file=sys.stderr,
    )
    print(issued.value.get_secret_value())
    return EXIT_OK


def _status(key: ApiKey, now: datetime) -> str:
    status = key.status_at(now)
    if status is KeyStatus.EXPIRING:
        return f"expiring {show_time(key.expires_at)}"
    return status.value


def _list(args: argparse.Namespace, store: DynamoKeyStore) -> int:
    now = _now()
    keys = list_keys(store)
    if args.json:
        print(json.dumps([_as_json(key, now) for key in keys], indent=2))
        return EXIT_OK
    if not keys:
        print("No API keys.", file=sys.stderr)
        return EXIT_OK
    header = ("NAME", "SCOPE", "PREFIX", "CREATED", "LAST USED", "STATUS")
    rows = [
        (
            key.name,
            key.scope.value,
            key.display_prefix,
            show_time(key.created_at),
            show_time(key.last_used_at),
            _status(key, now),
        )
        for key in keys
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return EXIT_OK


def _as_json(key: ApiKey, now: datetime) -> dict[str, str | None]:
    def iso(moment: datetime | None) -> str | None:
        return format_time(moment) if moment else None

    return {
        "name": key.name,
        "scope": key.scope.value,
        "prefix": key.display_prefix,
        "status": key.status_at(now).value,
        "createdAt": format_time(key.created_at),
        "lastUsedAt": iso(key.last_used_at),
        "expiresAt": iso(key.expires_at),
        "revokedAt": iso(key.revoked_at),
    }
