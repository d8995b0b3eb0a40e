"""Floods on the local stack: with the stage's limit lowered to 20 requests/s, another process
sends 10x that (200/s) of webhook requests that cannot be SNS's — no key, malformed keys,
well-formed keys no one issued — while a local SNS topic delivers 4 notifications/s to a
subscribed workflow. Run twice: with the firewall (the deployed default) and without it (the
stage's throttle alone, as before). Reports the flood's rate and answers, what SNS saw for
every valid message (accepted at the first attempt, retried, given up on), and the latency of
accepted deliveries during the flood against the baseline phase of the same run.

Loopback only; about a minute. ``--flood-seconds`` shortens it. The scenario itself is
``tests/load/flood.py`` (also run, short, by ``make test``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from common import machine, use_project_imports, write_results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--flood-seconds", type=float, default=20.0)
    arguments = parser.parse_args()
    use_project_imports()
    from snsflow.local.stack import LocalStack, LocalStackConfig
    from tests.load.flood import EXPECTED_ANSWERS, FloodPlan, FloodResult, run_flood

    plan = FloodPlan(
        stage_rate=20,
        stage_burst=20,
        flood_multiple=10,
        valid_per_second=4,
        baseline_seconds=arguments.baseline_seconds,
        flood_seconds=arguments.flood_seconds,
        timeout=120,
    )

    def run(firewall: bool) -> FloodResult:
        config = LocalStackConfig(
            sns_delay_scale=0.01,
            status_poll_seconds=0.2,
            throttle_rate_limit=plan.stage_rate,
            throttle_burst_limit=plan.stage_burst,
            firewall_enabled=firewall,
        )
        with LocalStack(config) as stack:
            return run_flood(stack, plan)

    guarded, unguarded = run(firewall=True), run(firewall=False)

    during = guarded.during
    checks = {
        "every_valid_delivery_accepted_at_its_first_attempt": all(
            statuses == [200] for statuses in during.attempts.values()
        ),
        "one_execution_per_valid_message": guarded.executions
        == len(during.message_ids) + len(guarded.baseline.message_ids),
        "flood_refused_by_the_firewall_with_the_contracts_answers": {
            (kind, status, code) for kind, status, code in guarded.flood.answers
        }
        == {(kind, *answer) for kind, answer in EXPECTED_ANSWERS.items()},
        "flood_at_least_9x_the_stage_limit": guarded.flood.rate >= 9 * plan.stage_rate,
    }

    def report(result: FloodResult) -> dict[str, Any]:
        return {**result.summary(), "latency_during_vs_without_flood": result.latency_ratios()}

    lost = len(unguarded.during.message_ids) - unguarded.during.delivered
    write_results(
        "flood",
        {
            "benchmark": "a flood of 10x the stage's limit of requests that cannot be SNS's, "
            "beside real SNS deliveries on the local stack",
            "machine": machine(),
            "plan": {
                "stage_limit_per_second": plan.stage_rate,
                "stage_burst": plan.stage_burst,
                "flood_per_second": plan.flood_rate,
                "flood_kinds": sorted(EXPECTED_ANSWERS),
                "valid_per_second": plan.valid_per_second,
                "baseline_seconds": plan.baseline_seconds,
                "flood_seconds": plan.flood_seconds,
                "sns_retry_policy": "SNS's default for HTTP/S (3 retries 20 s apart), its delays "
                "scaled by 0.01 locally",
            },
            "checks": checks,
            "with_firewall": report(guarded),
            "without_firewall": {**report(unguarded), "valid_messages_sns_gave_up_on": lost},
            "method": "the flood from another process, paced; valid deliveries' attempts from "
            "the local SNS's delivery log; latency of accepted deliveries from the local "
            "gateway's access log (firewall, throttle, authorizer, webhook and its AWS calls to "
            "moto), the flood phase against the baseline phase of the same run",
        },
    )
    print(report(guarded), report(unguarded), checks, sep="\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
