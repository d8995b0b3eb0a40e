"""Fixtures of the fault suite: the moto stack of the webhook integration tests, reused."""

from __future__ import annotations

from tests.integration.webhook.conftest import stack, workflows_dir

__all__ = ["stack", "workflows_dir"]
