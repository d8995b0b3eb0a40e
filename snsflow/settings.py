"""Configuration: pydantic settings read once from the environment (``SNSFLOW_*``).

The CDK stack and the local stack fill these variables the same way; nothing else in snsflow
reads ``os.environ``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SnsflowSettings(BaseSettings):
    """Base for the settings of each function."""

    model_config = SettingsConfigDict(env_prefix="SNSFLOW_", frozen=True, extra="ignore")


class KeysCommandSettings(SnsflowSettings):
    """``snsflow keys``: the keys table, unless ``--table`` or ``--stack`` names it."""

    keys_table_name: str | None = None


class AuthorizerSettings(SnsflowSettings):
    """The authorizer Lambda."""

    keys_table_name: str = Field(min_length=1)
    workflows_table_name: str = Field(min_length=1)
    #: How long a looked-up key or workflow is trusted; revocation takes effect within it.
    auth_cache_ttl_seconds: float = Field(default=5.0, gt=0, le=60)
    #: Bound on each in-memory cache (keys, workflows); least recently used entries go first.
    auth_cache_max_entries: int = Field(default=1000, ge=1, le=100_000)
