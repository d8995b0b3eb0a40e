"""Fixtures of the hostile-input suite: the moto stacks of the integration tests, reused."""

from __future__ import annotations

from tests.integration.authorizer.conftest import clock, invoke, key_store, make_key, registry
from tests.integration.webhook.conftest import stack, workflows_dir

__all__ = ["clock", "invoke", "key_store", "make_key", "registry", "stack", "workflows_dir"]
