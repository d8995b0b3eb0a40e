"""``snsflow keys create|list|revoke|rotate|sync-firewall``: manage API keys in a stack's keys
table, and keep the firewall's key-prefix set in step with it.

The table is ``--table NAME``, or the ``KeysTableName`` output of the CloudFormation stack
``--stack NAME``, or the local stack's ``--info-file FILE``, or ``SNSFLOW_KEYS_TABLE_NAME``.
The key-prefix set (``snsflow.firewall``) is ``--key-prefix-set ARN``, or the stack's
``WebhookKeyPrefixSetArn`` output, or the info file's ``keyPrefixSetArn``: when one is known,
a new webhook key value is admitted by the firewall before it is stored, and every command
that changes keys syncs the set afterwards. ``--endpoint-url`` and ``--region`` point the AWS
clients elsewhere (the info file sets both for the local stack). A new key's value goes to
stdout alone, so ``KEY=$(snsflow keys create prod-sns)`` works; everything else a person reads
goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from snsflow import aws
from snsflow.cli.arguments import duration, http_url
from snsflow.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_error
from snsflow.cli.stack import (
    AWS_FAILURES,
    UsageError,
    describe_aws_failure,
    read_info_file,
    show_time,
    stack_outputs,
)
from snsflow.errors import SnsflowError
from snsflow.firewall import GatedKeyStore, KeyPrefixSync, SyncResult
from snsflow.keys import (
    DEFAULT_ROTATION_GRACE,
    ApiKey,
    InvalidKeyNameError,
    KeyScope,
    KeyStatus,
    KeyStore,
    check_key_name,
    create_key,
    list_keys,
    revoke_keys,
    rotate_key,
)
from snsflow.settings import AuthorizerSettings, KeysCommandSettings
from snsflow.store.keys import DynamoKeyStore, format_time
from snsflow.wafv2 import WafRegexPatternSet

#: The stack output naming the keys table (the CDK stack must export it under this key).
KEYS_TABLE_OUTPUT = "KeysTableName"
#: The stack output holding the ARN of the firewall's key-prefix set, when it has one.
KEY_PREFIX_SET_OUTPUT = "WebhookKeyPrefixSetArn"
#: How long an authorizer instance trusts a key record it has read (the default of
#: ``SNSFLOW_AUTH_CACHE_TTL_SECONDS``): a revocation, and the end of a grace period shorter
#: than this, take effect within it, since a record read just before carries neither.
AUTHORIZER_CACHE_TIME = timedelta(
    seconds=AuthorizerSettings.model_fields["auth_cache_ttl_seconds"].default
)
#: What DynamoDB accepts as a table name.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_CACHE_TIME = f"{AUTHORIZER_CACHE_TIME.total_seconds():g} s"


@dataclass(frozen=True)
class _Keys:
    """The keys table as a command uses it: ``store`` admits new webhook key values to the
    firewall first (``gated``) when ``sync`` (the key-prefix set's) is known."""

    store: KeyStore
    sync: KeyPrefixSync | None
    gated: GatedKeyStore | None = None


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
        help=f"the CloudFormation stack whose outputs {KEYS_TABLE_OUTPUT} and "
        f"{KEY_PREFIX_SET_OUTPUT} name the keys table and the firewall's key-prefix set",
    )
    where.add_argument(
        "--info-file",
        type=Path,
        metavar="FILE",
        help="the info file of 'snsflow local serve' (its keys table, key-prefix set and moto)",
    )
    target.add_argument(
        "--key-prefix-set",
        metavar="ARN",
        help="the firewall's key-prefix set (a WAF regex pattern set) to keep in step",
    )
    target.add_argument("--region", help="AWS region (default: from the environment)")
    target.add_argument(
        "--endpoint-url", type=http_url, metavar="URL", help="AWS endpoint (local stack)"
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
    revoke.add_argument(
        "--leaked",
        action="store_true",
        help="its values may be known to others: the firewall refuses them all from now on "
        "(without it, a revoked value stays admitted while the firewall's key-prefix set has "
        "room, so deliveries still using it reach the authorizer and are logged as revoked); "
        "also for a key revoked earlier",
    )
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
    rotate.add_argument(
        "--leaked",
        action="store_true",
        help="the older values may be known to others: the firewall refuses each as soon as "
        "it expires (with --grace 0: now) instead of keeping it for the authorizer to log",
    )
    rotate.set_defaults(handler=_with_store(_rotate))

    sync = actions.add_parser(
        "sync-firewall",
        parents=[target],
        help="make the firewall's key-prefix set admit every valid webhook key value, and "
        "revoked or expired ones while there is room",
    )
    sync.set_defaults(handler=_with_store(_sync_firewall))


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


@dataclass(frozen=True)
class _Where:
    table: str
    key_prefix_set_arn: str | None
    endpoint_url: str | None
    region: str | None


def _where(args: argparse.Namespace) -> _Where:
    """The keys table, the key-prefix set and the AWS endpoint the arguments name."""
    endpoint_url, region = args.endpoint_url, args.region
    prefix_set: str | None = None
    if args.info_file:
        info = read_info_file(args.info_file)
        table = info.tables.get("Keys")
        if table is None:
            raise UsageError(f"{args.info_file} names no keys table")
        prefix_set = info.key_prefix_set_arn
        endpoint_url, region = endpoint_url or info.aws_endpoint, region or info.region
    elif args.table:
        table = str(args.table)
    elif args.stack:
        aws.configure(endpoint_url=endpoint_url, region_name=region)
        outputs = stack_outputs(args.stack)
        if KEYS_TABLE_OUTPUT not in outputs:
            raise SnsflowError(f"stack '{args.stack}' has no output '{KEYS_TABLE_OUTPUT}'")
        table, prefix_set = outputs[KEYS_TABLE_OUTPUT], outputs.get(KEY_PREFIX_SET_OUTPUT)
    else:
        configured = KeysCommandSettings().keys_table_name
        if not configured:
            raise UsageError(
                "no keys table: pass --table NAME, --stack NAME or --info-file FILE, or set "
                "SNSFLOW_KEYS_TABLE_NAME"
            )
        table = configured
    if args.key_prefix_set is not None:  # named on the command line, even if empty
        prefix_set = args.key_prefix_set
    return _Where(table, prefix_set, endpoint_url, region)


def _keys(where: _Where) -> _Keys:
    store = DynamoKeyStore(aws.dynamodb_resource().Table(where.table))
    if where.key_prefix_set_arn is None:
        return _Keys(store, None)
    try:
        prefix_set = WafRegexPatternSet(aws.wafv2_client(), where.key_prefix_set_arn)
    except ValueError as error:
        raise UsageError(f"--key-prefix-set: {error}") from None
    sync = KeyPrefixSync(store, prefix_set, clock=_now)
    gated = GatedKeyStore(store, sync)
    return _Keys(gated, sync, gated)


def _with_store(
    action: Callable[[argparse.Namespace, _Keys], int],
) -> Callable[[argparse.Namespace], int]:
    """Resolve the table and the key-prefix set, run ``action`` on them, and turn failures into
    exit codes."""

    def run(args: argparse.Namespace) -> int:
        try:
            where = _where(args)
            aws.configure(endpoint_url=where.endpoint_url, region_name=where.region)
            return action(args, _keys(where))
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


def _synced(keys: _Keys, changed: str, scope: KeyScope | None = KeyScope.WEBHOOK) -> int:
    """After ``changed`` (what the command did, already done): sync the key-prefix set."""
    if keys.sync is None:
        if scope is KeyScope.WEBHOOK:
            print(
                "note: no key-prefix set is known (--stack, --info-file or --key-prefix-set): "
                "if the stack's firewall gates webhook keys, run 'snsflow keys sync-firewall' "
                "with one",
                file=sys.stderr,
            )
        return EXIT_OK
    try:
        result = keys.sync.sync()
    except SnsflowError as error:
        print_error(
            "snsflow keys",
            f"{changed}, but the firewall's key-prefix set was not synced: {error.message}; "
            "run 'snsflow keys sync-firewall'",
        )
        return EXIT_FAILED
    _print_admitted(result, ".", keys.gated.pushed_out if keys.gated else [])
    return EXIT_OK


def _print_admitted(result: SyncResult, how: str, pushed_out: Sequence[ApiKey] = ()) -> None:
    """What the key-prefix set admits now, and which retired values it had no room left for
    (in this sync, or ``pushed_out`` when a new value was admitted)."""
    retired = (
        f" and {result.retired_admitted} revoked or expired (the authorizer refuses and logs "
        "their deliveries)"
        if result.retired_admitted
        else ""
    )
    print(
        f"The firewall admits {result.admitted} valid webhook key value(s){retired}{how}",
        file=sys.stderr,
    )
    if pushed := [*pushed_out, *result.pushed_out]:
        names = ", ".join(sorted({f"'{key.name}'" for key in pushed}))
        print(
            f"note: no room is left in the firewall's key-prefix set for revoked or expired "
            f"values of {names}: deliveries still using them are now refused by the firewall "
            "(403 invalid_api_key, counted by its WebhookUnknownKey rule), not logged per "
            "workflow",
            file=sys.stderr,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _create(args: argparse.Namespace, keys: _Keys) -> int:
    issued = create_key(keys.store, args.name, KeyScope(args.scope), _now())
    print(
        f"Created API key '{issued.key.name}' (scope {issued.key.scope}, "
        f"{issued.key.display_prefix}...). This is the only time its value is shown:",
        file=sys.stderr,
    )
    print(issued.value.get_secret_value(), flush=True)
    return _synced(keys, f"key '{issued.key.name}' was created", issued.key.scope)


def _revoke(args: argparse.Namespace, keys: _Keys) -> int:
    revoked = revoke_keys(keys.store, args.name, _now(), leaked=args.leaked)
    leaked = " Marked leaked: the firewall refuses its values." if args.leaked else ""
    print(
        f"Revoked API key '{args.name}' ({len(revoked)} value(s)): refused within "
        f"{_CACHE_TIME}.{leaked}",
        flush=True,
    )
    return _synced(keys, f"key '{args.name}' was revoked", scope=None)


def _rotate(args: argparse.Namespace, keys: _Keys) -> int:
    now = _now()
    issued = rotate_key(keys.store, args.name, args.grace, now, leaked=args.leaked)
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
    print(issued.value.get_secret_value(), flush=True)
    return _synced(keys, f"key '{issued.key.name}' was rotated", issued.key.scope)


def _sync_firewall(_args: argparse.Namespace, keys: _Keys) -> int:
    if keys.sync is None:
        raise UsageError(
            "no key-prefix set: pass --stack NAME (a stack with a key-prefix gate), "
            "--info-file FILE or --key-prefix-set ARN"
        )
    result = keys.sync.sync()
    if not result.changed:
        how = "nothing to change"
    elif result.was_open:
        how = "until now it admitted every well-formed key (never synced)"
    else:
        how = "updated"
    _print_admitted(result, f": {how}.")
    return EXIT_OK


def _status(key: ApiKey, now: datetime) -> str:
    status = key.status_at(now)
    shown = f"expiring {show_time(key.expires_at)}" if status is KeyStatus.EXPIRING else status
    return f"{shown}, leaked" if key.leaked_at else str(shown)


def _list(args: argparse.Namespace, target: _Keys) -> int:
    now = _now()
    keys = list_keys(target.store)
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
        "leakedAt": iso(key.leaked_at),
    }
