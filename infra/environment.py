"""Environment variables of each function, derived from its settings model.

The settings models in ``snsflow.settings`` are the one list of what a function reads. The
stack offers values by field name; each function gets exactly the variables its model declares
(``SNSFLOW_<FIELD>``), and synthesis fails if a model requires a field the stack cannot fill.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Token
from pydantic import ValidationError

from infra.config import StackConfig
from snsflow.settings import FUNCTION_SETTINGS, SnsflowSettings, environment_variable
from snsflow.store.tables import ALL_TABLES, RETIRED_TABLES

__all__ = ["FUNCTION_SETTINGS", "settings_environment", "settings_values"]


def settings_values(
    config: StackConfig, table_names: Mapping[str, str], *, pagination_secret: str
) -> dict[str, str]:
    """What the stack can tell the functions, by settings field name.

    ``table_names`` maps each table's logical name to its (deploy-time) name.
    """
    values = {
        schema.settings_field: table_names[schema.logical_name]
        for schema in ALL_TABLES + RETIRED_TABLES
        if schema.logical_name in table_names
    }
    values["execution_retention_days"] = str(config.retention_days)
    values["delivery_log_shards"] = str(config.delivery_log_shards)
    values["delivery_log_retention_days"] = str(config.delivery_log_retention_days)
    # The same limit as the firewall's, so both refuse the same bodies.
    values["max_body_bytes"] = str(config.max_request_bytes)
    values["pagination_secret"] = pagination_secret
    return values


def settings_environment(
    settings: type[SnsflowSettings], values: Mapping[str, str]
) -> dict[str, str]:
    """``{"SNSFLOW_<FIELD>": value}`` for every field of ``settings`` the stack offers."""
    missing = [
        name
        for name, field in settings.model_fields.items()
        if field.is_required() and name not in values
    ]
    if missing:
        raise ValueError(
            f"{settings.__name__} requires {', '.join(missing)}, which the stack does not set"
        )
    environment = {
        environment_variable(name): values[name] for name in settings.model_fields if name in values
    }
    _validate(settings, environment)
    return environment


def _validate(settings: type[SnsflowSettings], environment: Mapping[str, str]) -> None:
    """The function's own model judges the environment now, not at the function's first start.

    Values known only at deploy time (tokens: table names, the secret) cannot be judged yet.
    """
    try:
        settings.from_environment(environment)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            variable = str(error["loc"][0]) if error["loc"] else ""  # none: the whole model
            if not Token.is_unresolved(environment.get(variable, "")):
                where = ".".join(map(str, error["loc"]))
                problems.append(f"{where}: {error['msg']}" if where else error["msg"])
        if problems:
            raise ValueError(
                f"{settings.__name__} refuses the stack's values: {'; '.join(problems)}"
            ) from exc
