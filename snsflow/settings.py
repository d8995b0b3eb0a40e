"""Configuration: pydantic models read once from the environment (``SNSFLOW_<FIELD>``).

The CDK stack and the local stack fill these variables the same way; nothing else in snsflow
reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from types import MappingProxyType, UnionType
from typing import Any, Self, Union, get_args, get_origin

from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    model_validator,
)

#: Every setting ``<field>`` is the environment variable ``SNSFLOW_<FIELD>``.
ENV_PREFIX = "SNSFLOW_"
#: The validation context key of an environment that stands in for ``os.environ``.
_ENVIRONMENT = "environment"


def environment_variable(field: str) -> str:
    """The environment variable of the settings field ``field``."""
    return f"{ENV_PREFIX}{field.upper()}"


def _holds_json(annotation: Any) -> bool:
    """Whether a field of this type is given as JSON (a collection, e.g. ``["a", "b"]``)."""
    if get_origin(annotation) in (Union, UnionType):
        return any(_holds_json(member) for member in get_args(annotation))
    origin = get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, (tuple, list, set, frozenset, dict))


class SnsflowSettings(BaseModel):
    """Base for the settings of each function: each field ``<field>`` is read from the
    variable ``SNSFLOW_<FIELD>`` (collections as JSON) unless given as a keyword. Errors name
    the variable; their printed form never shows the values (some are secrets)."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        # The variable names are the fields' aliases, so that errors name them.
        alias_generator=AliasGenerator(validation_alias=environment_variable),
        hide_input_in_errors=True,
        # Each function constructs one of these models: build only its validator, on first use
        # (saves ~3 ms of import in every function; building one costs ~0.6 ms).
        defer_build=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _read_environment(cls, given: Any, info: ValidationInfo) -> Any:
        """The environment's values, overridden by the ones given by field name or variable."""
        if not isinstance(given, Mapping):
            return given
        environment = (info.context or {}).get(_ENVIRONMENT, os.environ)
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            variable = environment_variable(name)
            if name in given:
                values[variable] = given[name]
            elif variable in given:
                values[variable] = given[variable]
            elif variable in environment:
                values[variable] = _environment_value(
                    variable, environment[variable], json_value=_holds_json(field.annotation)
                )
        return values

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> Self:
        """The settings read from ``environment`` instead of the process's environment."""
        return cls.model_validate({}, context={_ENVIRONMENT: environment})


def _environment_value(variable: str, value: str, *, json_value: bool) -> Any:
    if not json_value:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f'{variable} must be JSON, e.g. ["a", "b"] ({exc.msg})') from None


class CliSettings(SnsflowSettings):
    """Every ``snsflow`` command."""

    #: Let an unexpected error end a command with its traceback (to report the bug) instead
    #: of the one line that names it.
    debug: bool = False


class KeysCommandSettings(SnsflowSettings):
    """``snsflow keys``: the keys table, unless ``--table`` or ``--stack`` names it."""

    keys_table_name: str | None = None


class DeliveryLogSettings(SnsflowSettings):
    """The delivery log (``snsflow.deliveries``): written by the webhook and the authorizer,
    read by the query function. All three must agree on the shards."""

    deliveries_table_name: str = Field(min_length=1)
    #: Partition keys per workflow the log's deliveries (and refusal counters) are spread over:
    #: a partition takes about 1,000 one-unit writes a second, an accepted delivery is one.
    #: Readers query every shard, so more shards cost reads; changing it strands older items
    #: of the shards that go (they expire with the retention).
    delivery_log_shards: int = Field(default=4, ge=1, le=64)
    #: Log items expire (DynamoDB TTL) this many days after they were written.
    delivery_log_retention_days: int = Field(default=7, ge=1, le=90)
    #: Samples (request id, message id, key name) a refusal counter keeps per minute.
    refusal_samples: int = Field(default=3, ge=1, le=5)


class AuthorizerSettings(DeliveryLogSettings):
    """The authorizer Lambda."""

    keys_table_name: str = Field(min_length=1)
    workflows_table_name: str = Field(min_length=1)
    #: How long a looked-up key or workflow is trusted; revocation takes effect within it.
    auth_cache_ttl_seconds: float = Field(default=5.0, gt=0, le=60)
    #: Bound on each in-memory cache (keys, workflows); least recently used entries go first.
    auth_cache_max_entries: int = Field(default=1000, ge=1, le=100_000)


class ExecutionsSettings(SnsflowSettings):
    """What every function that handles execution records reads (webhook, status, reconciler)."""

    workflows_table_name: str = Field(min_length=1)
    executions_table_name: str = Field(min_length=1)
    #: Execution records expire (DynamoDB TTL) this many days after the message was received.
    execution_retention_days: int = Field(default=30, ge=1, le=3650)
    #: How long a workflow read from the registry is reused (the registry changes at deploy).
    workflow_cache_seconds: float = Field(default=30.0, ge=0, le=3600)


class LegacyExecutionsSettings(SnsflowSettings):
    """What the functions that move records of the executions table of before issue 15 read."""

    #: That table (``snsflow.store.migration``): the reconciler moves its records, and the
    #: webhook a delivered message's before recording the delivery. None once there is none
    #: (and on a stack deployed since).
    legacyexecutions_table_name: str | None = None


class WebhookSettings(ExecutionsSettings, DeliveryLogSettings, LegacyExecutionsSettings):
    """The webhook Lambda."""

    subscriptions_table_name: str = Field(min_length=1)
    #: Bodies above this are refused with 413 before parsing. SNS sends at most 256 KiB of
    #: message, which JSON escaping can grow up to six-fold (``\\u0001``), plus the envelope.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024, le=6 * 1024 * 1024)
    #: Messages whose Timestamp is older are refused (403): SNS retries for at most an hour, so
    #: an older message is a replay. Keep it well under the retention, which is what makes a
    #: replayed MessageId a duplicate.
    max_message_age_seconds: int = Field(default=2 * 3600, ge=60, le=7 * 24 * 3600)
    #: Seconds to connect to, and to wait for, SNS when confirming a subscription.
    confirmation_timeout_seconds: float = Field(default=4.0, gt=0, le=10)
    #: Local stacks only (the AWS deployment never sets it): URL prefixes under which signing
    #: certificates and SubscribeURLs are trusted although not on an SNS host.
    trusted_sns_url_prefixes: tuple[str, ...] = ()


class StatusSettings(ExecutionsSettings):
    """The status Lambda (Step Functions execution status change events)."""


class ReconcilerSettings(ExecutionsSettings, LegacyExecutionsSettings):
    """The reconciler Lambda (runs on a schedule)."""

    #: A claim still RECEIVED this long after its delivery had its start fail: start it.
    start_grace_seconds: int = Field(default=300, ge=30)
    #: A record still RUNNING this long after its delivery is checked with DescribeExecution,
    #: because status events are best effort.
    running_check_after_seconds: int = Field(default=900, ge=60)
    #: Bounds on the work of one run (the rest waits for the next run).
    max_starts_per_run: int = Field(default=100, ge=1, le=1000)
    max_checks_per_run: int = Field(default=200, ge=1, le=2000)
    #: At most this many records moved per run (two writes and a delete each).
    max_moves_per_run: int = Field(default=2000, ge=1, le=20000)
    #: Whose records are checked against SNS (``snsflow.sns_check``).
    subscriptions_table_name: str = Field(min_length=1)
    #: At most this many GetSubscriptionAttributes calls per run, the next subscriptions in
    #: turn (0: no check). A record is written only when its result changes.
    max_subscription_checks_per_run: int = Field(default=50, ge=0, le=1000)


class QuerySettings(ExecutionsSettings, DeliveryLogSettings):
    """The query Lambda (the read-only API and the executions page)."""

    #: A confirmed subscription with no delivery for this long reads ``silent``.
    subscription_silent_after_hours: int = Field(default=24, ge=1, le=24 * 90)

    subscriptions_table_name: str = Field(min_length=1)
    #: Signs the ``nextToken`` of execution listings (HMAC-SHA256), so that a token cannot be
    #: forged or replayed with other filters. Every instance must share it; changing it only
    #: makes outstanding tokens invalid (clients start again from the first page).
    pagination_secret: SecretStr = Field(min_length=32)


class ApiClientSettings(SnsflowSettings):
    """The CLI's commands that call the read API, unless options name the API and key."""

    api_url: str | None = None
    api_key: SecretStr | None = None
    #: Seconds to wait for the API to connect, and then for each part of its answer (API
    #: Gateway itself gives up after 29).
    api_timeout_seconds: float = Field(default=30.0, gt=0, le=300)


class RecoverCommandSettings(SnsflowSettings):
    """``snsflow recover``: the retention of the records it writes (the stack's own setting)."""

    execution_retention_days: int = Field(default=30, ge=1, le=3650)


class SubscribeCommandSettings(SnsflowSettings):
    """``snsflow subscribe``: the webhook key's value, unless ``--webhook-key`` gives it."""

    webhook_key: SecretStr | None = None


#: Each function's settings model, by function name (its folder under ``functions/``): the
#: variables the CDK stack and the local stack fill for it.
FUNCTION_SETTINGS: Mapping[str, type[SnsflowSettings]] = MappingProxyType(
    {
        "authorizer": AuthorizerSettings,
        "webhook": WebhookSettings,
        "status": StatusSettings,
        "reconciler": ReconcilerSettings,
        "query": QuerySettings,
    }
)
