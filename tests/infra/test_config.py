"""Deployment settings from CDK context: defaults, CLI strings, clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import PROJECT_ROOT, ConfigError, StackConfig


def test_cdk_json_holds_the_defaults() -> None:
    assert StackConfig.from_cdk_json() == StackConfig()


def test_cli_context_strings_are_converted() -> None:
    values = {
        "retentionDays": "7",
        "deletionProtection": "false",
        "wafEnabled": "true",
        "reservedConcurrency": "false",
    }
    config = StackConfig.from_context(values.get)
    assert config.retention_days == 7
    assert config.deletion_protection is False
    assert config.waf_enabled is True
    assert config.reserved_concurrency is False


def test_unset_keys_keep_their_defaults() -> None:
    config = StackConfig.from_context({"stackName": "snsflow-staging"}.get)
    assert config.stack_name == "snsflow-staging"
    assert config.retention_days == StackConfig().retention_days


def test_workflows_folder_is_resolved_against_the_repository() -> None:
    assert StackConfig().workflows_path == PROJECT_ROOT / "workflows"
    absolute = StackConfig.from_mapping({"workflowsDir": "/srv/workflows"})
    assert absolute.workflows_path == Path("/srv/workflows")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("stackName", "1-starts-with-a-digit"),
        ("retentionDays", 0),
        ("logRetentionDays", 31),
        ("logLevel", "VERBOSE"),
        ("architecture", "riscv64"),
        ("alarmEmail", "not-an-address"),
        ("alarmTopicArn", "arn:aws:sqs:us-east-1:123456789012:queue"),
        ("maxRequestBytes", 100 * 1024 * 1024),
        ("reconcileEveryMinutes", 0),
        ("sourceIpLimit", 9),  # WAF's lowest rate limit is 10
        ("keyPrefixGate", "maybe"),
        ("throttleRateLimit", 0),
        ("firewallUnknownKeyAlarmThreshold", 0),
    ],
)
def test_an_invalid_value_is_refused_naming_its_context_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"context '{key}'"):
        StackConfig.from_context({key: value}.get)


def test_an_unknown_key_given_directly_is_refused() -> None:
    with pytest.raises(ConfigError, match="retentionDay"):
        StackConfig.from_mapping({"retentionDay": 7})


def test_the_firewall_settings_follow_the_context() -> None:
    default = StackConfig().firewall_settings
    chosen = StackConfig.from_context(
        {"keyPrefixGate": "false", "sourceIpLimit": "300", "throttleRateLimit": "20"}.get
    ).firewall_settings

    assert (default.key_prefix_gate, default.effective_source_ip_limit) == (True, 6000)
    assert (chosen.key_prefix_gate, chosen.effective_source_ip_limit) == (False, 300)
    assert chosen.throttle_rate_limit == 20
