"""Configuration: pydantic settings read once from the environment (``SNSFLOW_*``).

The CDK stack and the local stack fill these variables the same way; nothing else in snsflow
reads ``os.environ``.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class SnsflowSettings(BaseSettings):
    """Base for the settings of each function."""

    model_config = SettingsConfigDict(env_prefix="SNSFLOW_", frozen=True, extra="ignore")
