"""Fixtures of the hostile-input suite: the moto stacks of the integration tests, reused, and
the local stack the HTTP fuzzing drives."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from snsflow.local.stack import LocalStack
from tests.e2e.conftest import E2E_CONFIG
from tests.integration.authorizer.conftest import clock, invoke, key_store, make_key, registry
from tests.integration.webhook.conftest import stack, workflows_dir

__all__ = ["clock", "invoke", "key_store", "make_key", "registry", "stack", "workflows_dir"]

#: Far above what one process can send: the fuzzing sends cases as fast as the stack answers,
#: and the stage's throttle (and the firewall's per-source rule, derived from it) would answer
#: random cases with its 503. Those limits are proven on their own in tests/load/test_flood.py.
UNTHROTTLED_RATE = 1_000_000.0


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    """The e2e tests' stack (one per module), with the throttle out of the fuzzing's way."""
    config = replace(
        E2E_CONFIG,
        throttle_rate_limit=UNTHROTTLED_RATE,
        throttle_burst_limit=int(UNTHROTTLED_RATE),
    )
    with LocalStack(config) as stack:
        yield stack
