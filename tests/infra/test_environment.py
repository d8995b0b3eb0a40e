"""Function environments derived from the functions' settings models."""

from __future__ import annotations

import pytest
from aws_cdk import Fn
from pydantic import Field

from infra.config import StackConfig
from infra.environment import settings_environment, settings_values
from snsflow.settings import QuerySettings, SnsflowSettings, WebhookSettings
from snsflow.store.tables import ALL_TABLES

TABLE_NAMES = {schema.logical_name: f"t-{schema.logical_name.lower()}" for schema in ALL_TABLES}


class _NeedsAQueue(SnsflowSettings):
    executions_table_name: str
    dead_letter_queue_url: str


class _SmallBodies(SnsflowSettings):
    max_body_bytes: int = Field(default=1024, le=4096)


def test_a_function_gets_only_the_variables_its_model_declares() -> None:
    values = settings_values(StackConfig(), TABLE_NAMES, pagination_secret="s" * 64)
    environment = settings_environment(WebhookSettings, values)
    assert "SNSFLOW_KEYS_TABLE_NAME" not in environment  # the webhook never reads keys
    assert environment["SNSFLOW_EXECUTIONS_TABLE_NAME"] == "t-executions"
    assert environment["SNSFLOW_MAX_BODY_BYTES"] == str(StackConfig().max_request_bytes)
    assert set(environment) <= {f"SNSFLOW_{f.upper()}" for f in WebhookSettings.model_fields}


def test_a_required_setting_the_stack_cannot_fill_fails_synthesis() -> None:
    values = settings_values(StackConfig(), TABLE_NAMES, pagination_secret="s" * 64)
    with pytest.raises(ValueError, match="_NeedsAQueue requires dead_letter_queue_url"):
        settings_environment(_NeedsAQueue, values)


def test_a_value_the_functions_model_refuses_fails_synthesis() -> None:
    values = settings_values(
        StackConfig(), TABLE_NAMES, pagination_secret="s" * 64
    )  # 2 MiB: above this model's limit
    with pytest.raises(ValueError, match="_SmallBodies refuses the stack's values"):
        settings_environment(_SmallBodies, values)


def test_values_known_only_at_deploy_time_are_left_to_the_function() -> None:
    token = Fn.ref("PaginationSecret")  # resolved by CloudFormation, not at synth time
    values = settings_values(StackConfig(), TABLE_NAMES, pagination_secret=token)
    environment = settings_environment(QuerySettings, values)
    assert environment["SNSFLOW_PAGINATION_SECRET"] == token
