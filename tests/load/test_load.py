"""The fast variant of the load scenario (``bench/load.py`` runs the full one): concurrent
publishers, a fifth of the deliveries repeated and reordered, and still exactly one execution
and one record per message."""

from __future__ import annotations

import pytest

from snsflow.executions import execution_name
from snsflow.local.stack import LocalStack
from tests.load.scenario import LoadPlan, run_load

pytestmark = pytest.mark.e2e

#: Small enough for ``make test`` (about 25 s here: moto serves one request at a time).
PLAN = LoadPlan(notifications=100, publishers=10, repeat_fraction=0.2, timeout=120)


def test_repeated_and_reordered_deliveries_under_load_run_each_message_exactly_once(
    local_stack: LocalStack,
) -> None:
    result = run_load(local_stack, PLAN)

    ids = set(result.message_ids)
    assert len(ids) == PLAN.notifications
    assert len(result.repeated) == round(PLAN.notifications * PLAN.repeat_fraction)
    assert result.runs == {execution_name(m): 1 for m in ids}
    assert set(result.records) == ids
    expected = {m: 1 + result.repeated.count(m) for m in ids}
    assert result.records == expected
    assert result.webhook_requests == PLAN.notifications + len(result.repeated)
    assert set(result.statuses) == {200}
