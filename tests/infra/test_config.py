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
    ],
)
def test_an_invalid_value_is_refused_naming_its_context_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"context '{key}'"):
        StackConfig.from_context({key: value}.get)


def test_an_unknown_key_given_directly_is_refused() -> None:
    with pytest.raises(ConfigError, match="retentionDay"):
        StackConfig.from_mapping({"retentionDay": 7})
