"""Settings: each field read from its ``SNSFLOW_<FIELD>`` variable, keywords winning."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from snsflow.local.stack import function_environment
from snsflow.settings import (
    AuthorizerSettings,
    KeysCommandSettings,
    QuerySettings,
    WebhookSettings,
    environment_variable,
)
from snsflow.store.tables import ALL_TABLES

AUTHORIZER_ENVIRONMENT = {
    "SNSFLOW_KEYS_TABLE_NAME": "keys",
    "SNSFLOW_WORKFLOWS_TABLE_NAME": "workflows",
    "SNSFLOW_DELIVERIES_TABLE_NAME": "deliveries",
}
WEBHOOK_ENVIRONMENT = {
    "SNSFLOW_WORKFLOWS_TABLE_NAME": "workflows",
    "SNSFLOW_EXECUTIONS_TABLE_NAME": "executions",
    "SNSFLOW_SUBSCRIPTIONS_TABLE_NAME": "subscriptions",
    "SNSFLOW_DELIVERIES_TABLE_NAME": "deliveries",
}


def test_the_variable_of_a_field_is_its_upper_case_name_after_the_prefix() -> None:
    assert environment_variable("keys_table_name") == "SNSFLOW_KEYS_TABLE_NAME"


def test_construction_without_arguments_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in AUTHORIZER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SNSFLOW_AUTH_CACHE_TTL_SECONDS", "2.5")
    settings = AuthorizerSettings()
    assert settings.keys_table_name == "keys"
    assert settings.workflows_table_name == "workflows"
    assert settings.auth_cache_ttl_seconds == 2.5
    assert settings.auth_cache_max_entries == 1000  # the default: no variable set


def test_a_keyword_value_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNSFLOW_KEYS_TABLE_NAME", "from-environment")
    assert KeysCommandSettings(keys_table_name="from-keyword").keys_table_name == "from-keyword"
    assert KeysCommandSettings().keys_table_name == "from-environment"


def test_a_collection_is_read_as_json_in_the_format_the_local_stack_sets() -> None:
    environment = function_environment(
        tables={schema.logical_name: f"t-{schema.logical_name}" for schema in ALL_TABLES},
        trusted_sns_url_prefix="http://127.0.0.1:1234/",
        pagination_secret="s" * 64,
        log_level="INFO",
        account_id="123456789012",
        moto_port=5000,
    )
    settings = WebhookSettings.from_environment(
        {name: value for name, value in environment.items() if value is not None}
    )
    assert settings.trusted_sns_url_prefixes == ("http://127.0.0.1:1234/",)


def test_a_collection_variable_that_is_not_json_is_refused_by_name() -> None:
    environment = WEBHOOK_ENVIRONMENT | {"SNSFLOW_TRUSTED_SNS_URL_PREFIXES": "http://127.0.0.1/"}
    with pytest.raises(ValidationError, match="SNSFLOW_TRUSTED_SNS_URL_PREFIXES must be JSON"):
        WebhookSettings.from_environment(environment)


def test_a_collection_given_as_a_keyword_is_taken_as_it_is() -> None:
    settings = WebhookSettings.from_environment(WEBHOOK_ENVIRONMENT)
    assert settings.trusted_sns_url_prefixes == ()
    explicit = WebhookSettings(
        workflows_table_name="w",
        executions_table_name="e",
        subscriptions_table_name="s",
        deliveries_table_name="d",
        trusted_sns_url_prefixes=("http://127.0.0.1:1234/",),
    )
    assert explicit.trusted_sns_url_prefixes == ("http://127.0.0.1:1234/",)


def test_a_bad_value_is_refused_naming_its_variable() -> None:
    environment = AUTHORIZER_ENVIRONMENT | {"SNSFLOW_AUTH_CACHE_TTL_SECONDS": "0"}
    with pytest.raises(ValidationError) as refused:
        AuthorizerSettings.from_environment(environment)
    assert [error["loc"] for error in refused.value.errors()] == [
        ("SNSFLOW_AUTH_CACHE_TTL_SECONDS",)
    ]


def test_a_missing_required_variable_is_named() -> None:
    with pytest.raises(ValidationError) as refused:
        AuthorizerSettings.from_environment(
            {"SNSFLOW_KEYS_TABLE_NAME": "keys", "SNSFLOW_DELIVERIES_TABLE_NAME": "deliveries"}
        )
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [
        (("SNSFLOW_WORKFLOWS_TABLE_NAME",), "missing")
    ]


def test_errors_never_show_the_values_they_refuse() -> None:
    secret = "too-short-but-still-a-secret"
    environment = WEBHOOK_ENVIRONMENT | {"SNSFLOW_PAGINATION_SECRET": secret}
    with pytest.raises(ValidationError, match="SNSFLOW_PAGINATION_SECRET") as refused:
        QuerySettings.from_environment(environment)
    assert secret not in str(refused.value)


def test_variables_of_other_settings_and_unknown_ones_are_ignored() -> None:
    environment = AUTHORIZER_ENVIRONMENT | {
        "SNSFLOW_NO_SUCH_SETTING": "x",
        "SNSFLOW_MAX_BODY_BYTES": "not even a number",  # the webhook's, not the authorizer's
    }
    settings = AuthorizerSettings.from_environment(environment)
    assert settings.keys_table_name == "keys"
    assert "no_such_setting" not in settings.model_dump()


def test_reading_a_given_environment_leaves_the_process_environment_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in AUTHORIZER_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="SNSFLOW_KEYS_TABLE_NAME"):
        AuthorizerSettings.from_environment({"SNSFLOW_WORKFLOWS_TABLE_NAME": "workflows"})


def test_settings_cannot_be_changed_once_read() -> None:
    settings = AuthorizerSettings.from_environment(AUTHORIZER_ENVIRONMENT)
    with pytest.raises(ValidationError):
        settings.keys_table_name = "another"  # type: ignore[misc]
