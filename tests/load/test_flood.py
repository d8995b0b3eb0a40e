"""A flood of ten times the stage's limit that cannot be SNS's — no key, malformed keys,
well-formed keys no one issued — while a real local SNS topic delivers to a subscribed
workflow: every valid delivery is accepted at its first attempt, the flood is refused with the
firewall's answers, and none of it reaches the throttle (``bench/flood.py`` runs it longer,
and without the firewall for comparison)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snsflow.local.stack import LocalStack, LocalStackConfig
from tests.load.flood import EXPECTED_ANSWERS, FLOOD_KINDS, FloodPlan, FloodResult, run_flood

pytestmark = pytest.mark.e2e

#: The stage's limit lowered to 20 requests/s; a flood of 200/s.
PLAN = FloodPlan(stage_rate=20, stage_burst=20, flood_multiple=10)


@pytest.fixture(scope="module")
def flooded() -> Iterator[FloodResult]:
    config = LocalStackConfig(
        sns_delay_scale=0.01,
        status_poll_seconds=0.2,
        throttle_rate_limit=PLAN.stage_rate,
        throttle_burst_limit=PLAN.stage_burst,
    )
    with LocalStack(config) as stack:
        yield run_flood(stack, PLAN)


def test_every_valid_delivery_is_accepted_at_its_first_attempt_during_the_flood(
    flooded: FloodResult,
) -> None:
    during = flooded.during

    assert len(during.message_ids) == round(PLAN.valid_per_second * PLAN.flood_seconds)
    assert {m: statuses for m, statuses in during.attempts.items() if statuses != [200]} == {}
    assert flooded.baseline.attempts == {m: [200] for m in flooded.baseline.message_ids}
    published = len(during.message_ids) + len(flooded.baseline.message_ids)
    assert flooded.executions == published


def test_the_flood_is_refused_by_the_firewall_with_the_contracts_answers(
    flooded: FloodResult,
) -> None:
    answers = flooded.flood.answers

    assert flooded.flood.errors == {}
    assert {(kind, status, code) for kind, status, code in answers} == {
        (kind, *EXPECTED_ANSWERS[kind]) for kind in FLOOD_KINDS
    }
    # Ten times the stage's limit, give or take what a loaded machine can send.
    assert flooded.flood.rate >= 0.8 * PLAN.flood_rate, flooded.summary()["flood"]
