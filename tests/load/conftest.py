"""The load tests drive the e2e tests' local stack."""

from __future__ import annotations

from tests.e2e.conftest import local_stack

__all__ = ["local_stack"]
