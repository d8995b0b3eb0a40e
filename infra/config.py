"""Deployment settings, read from CDK context (``cdk.json`` or ``cdk deploy -c key=value``).

One pydantic model validates them all before any resource is defined, so a typo fails
``cdk synth`` with a message naming the context key instead of a stack trace from deep inside
a construct.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from snsflow.firewall import (
    DEFAULT_THROTTLE_BURST_LIMIT,
    DEFAULT_THROTTLE_RATE_LIMIT,
    MIN_RATE_LIMIT,
    FirewallSettings,
)

#: The repository root: every path in the app is resolved against it, not the working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip


class ProvisionedCapacity(BaseModel):
    """Provisioned capacity with auto scaling, for each busy table and each of its indexes."""

    model_config = ConfigDict(frozen=True)

    min_write: int
    max_write: int
    min_read: int
    max_read: int
    target_utilization: int


class ConfigError(ValueError):
    """The CDK context holds an invalid setting; the message names the context key."""


class StackConfig(BaseModel):
    """Every setting of a deployment. Field aliases are the CDK context keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    stack_name: str = Field(
        default="snsflow", alias="stackName", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$"
    )
    #: Folder of workflow files, relative to the repository root unless absolute.
    workflows_dir: Path = Field(default=Path("workflows"), alias="workflowsDir")
    #: How long execution records are kept (DynamoDB TTL).
    retention_days: int = Field(default=30, alias="retentionDays", ge=1, le=3650)
    log_retention_days: int = Field(default=30, alias="logRetentionDays")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", alias="logLevel"
    )
    architecture: Literal["arm64", "x86_64"] = "arm64"
    #: Deletion protection on the tables; protected tables are also retained by `cdk destroy`.
    deletion_protection: bool = Field(default=True, alias="deletionProtection")
    alarm_email: str | None = Field(
        default=None, alias="alarmEmail", pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    alarm_topic_arn: str | None = Field(
        default=None, alias="alarmTopicArn", pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:.+$"
    )
    #: The stage's throttle, applied by API Gateway to each method on its own.
    throttle_rate_limit: float = Field(
        default=DEFAULT_THROTTLE_RATE_LIMIT, alias="throttleRateLimit", gt=0
    )
    throttle_burst_limit: int = Field(
        default=DEFAULT_THROTTLE_BURST_LIMIT, alias="throttleBurstLimit", ge=1
    )
    #: Larger request bodies are refused with a 413, by the firewall and by the webhook. SNS
    #: sends at most 256 KiB of message, which JSON escaping can grow up to six-fold; Lambda
    #: takes at most 6 MB.
    max_request_bytes: int = Field(
        default=2 * 1024 * 1024, alias="maxRequestBytes", ge=64 * 1024, le=6 * 1024 * 1024
    )
    waf_enabled: bool = Field(default=True, alias="wafEnabled")
    #: The firewall refuses webhook keys whose prefix is no valid webhook key's (the key-prefix
    #: set, kept by ``snsflow keys``). Off: only keyless and malformed keys are refused there.
    key_prefix_gate: bool = Field(default=True, alias="keyPrefixGate")
    #: Webhook requests one source address may send per minute before the firewall answers 503
    #: (WAF's lowest limit is 10); unset: what the stage serves in a minute.
    source_ip_limit: int | None = Field(
        default=None, alias="sourceIpLimit", ge=MIN_RATE_LIMIT, le=2_000_000_000
    )
    reconcile_every_minutes: int = Field(default=5, alias="reconcileEveryMinutes", ge=1, le=60)
    #: Reserve the concurrency a function's spec asks for (the reconciler: 1, so that two runs
    #: never overlap). Lambda refuses any reservation in an account whose concurrency quota is
    #: 10 (new accounts): there, turn it off.
    reserved_concurrency: bool = Field(default=True, alias="reservedConcurrency")
    #: Failed requests (4xx) in five minutes above which the "denied requests" alarm fires.
    denied_requests_alarm_threshold: int = Field(
        default=50, alias="deniedRequestsAlarmThreshold", ge=1
    )
    #: Webhook requests the firewall refuses in five minutes for a key the key-prefix set does
    #: not admit, at which its alarm fires. A well-formed snsflow key nobody issued is not
    #: background noise: it is an SNS subscription whose key left the set (its messages are
    #: dropped) or someone making keys up, so the default is 1.
    firewall_unknown_key_alarm_threshold: int = Field(
        default=1, alias="firewallUnknownKeyAlarmThreshold", ge=1
    )
    #: Notifications of one workflow refused in five minutes (by the authorizer or the
    #: webhook) at which its alarm fires. SNS drops a refused message for good, and sends
    #: notifications only on a confirmed subscription, so one is already news.
    refused_notifications_alarm_threshold: int = Field(
        default=1, alias="refusedNotificationsAlarmThreshold", ge=1
    )
    #: The delivery log (docs/deliveries.md): partition keys per workflow, and how long its
    #: items are kept.
    delivery_log_shards: int = Field(default=4, alias="deliveryLogShards", ge=1, le=64)
    delivery_log_retention_days: int = Field(
        default=7, alias="deliveryLogRetentionDays", ge=1, le=90
    )
    #: How the tables whose writes follow the notification rate (the execution records and the
    #: delivery log) pay: per request, or for provisioned capacity that auto scaling keeps at
    #: ``provisionedTargetUtilization`` percent of use, between the limits below (each table
    #: and each index on its own). Provisioned is cheaper at a steady high rate only.
    table_capacity: Literal["onDemand", "provisioned"] = Field(
        default="onDemand", alias="tableCapacity"
    )
    provisioned_min_write_capacity: int = Field(
        default=5, alias="provisionedMinWriteCapacity", ge=1, le=40_000
    )
    provisioned_max_write_capacity: int = Field(
        default=10_000, alias="provisionedMaxWriteCapacity", ge=1, le=40_000
    )
    provisioned_min_read_capacity: int = Field(
        default=5, alias="provisionedMinReadCapacity", ge=1, le=40_000
    )
    provisioned_max_read_capacity: int = Field(
        default=1_000, alias="provisionedMaxReadCapacity", ge=1, le=40_000
    )
    #: DynamoDB auto scaling takes a target between 20 and 90 percent.
    provisioned_target_utilization: int = Field(
        default=70, alias="provisionedTargetUtilization", ge=20, le=90
    )

    @field_validator("log_retention_days")
    @classmethod
    def _supported_by_cloudwatch(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @model_validator(mode="after")
    def _capacity_limits_in_order(self) -> StackConfig:
        for kind in ("write", "read"):
            low = getattr(self, f"provisioned_min_{kind}_capacity")
            high = getattr(self, f"provisioned_max_{kind}_capacity")
            if low > high:
                raise ValueError(
                    f"provisionedMin{kind.title()}Capacity ({low}) is above "
                    f"provisionedMax{kind.title()}Capacity ({high})"
                )
        return self

    @property
    def provisioned_capacity(self) -> ProvisionedCapacity | None:
        """The capacity of the busy tables, or None for on-demand."""
        if self.table_capacity == "onDemand":
            return None
        return ProvisionedCapacity(
            min_write=self.provisioned_min_write_capacity,
            max_write=self.provisioned_max_write_capacity,
            min_read=self.provisioned_min_read_capacity,
            max_read=self.provisioned_max_read_capacity,
            target_utilization=self.provisioned_target_utilization,
        )

    @property
    def firewall_settings(self) -> FirewallSettings:
        return FirewallSettings(
            key_prefix_gate=self.key_prefix_gate,
            source_ip_limit=self.source_ip_limit,
            throttle_rate_limit=self.throttle_rate_limit,
        )

    @property
    def workflows_path(self) -> Path:
        path = self.workflows_dir
        return path if path.is_absolute() else PROJECT_ROOT / path

    @classmethod
    def from_context(cls, lookup: Callable[[str], Any]) -> StackConfig:
        """Read every known key with ``lookup`` (e.g. ``app.node.try_get_context``).

        Unset keys keep their defaults.
        """
        keys = [field.alias or name for name, field in cls.model_fields.items()]
        values = {key: value for key in keys if (value := lookup(key)) is not None}
        return cls.from_mapping(values)

    @classmethod
    def from_cdk_json(cls, path: Path = PROJECT_ROOT / "cdk.json") -> StackConfig:
        """The configuration ``cdk synth`` would use without ``-c`` overrides."""
        context: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")).get("context", {})
        return cls.from_context(context.get)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> StackConfig:
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                key = ".".join(str(part) for part in error["loc"]) or "(context)"
                problems.append(f"context '{key}': {error['msg']} (got {error.get('input')!r})")
            raise ConfigError("invalid CDK context: " + "; ".join(problems)) from exc
