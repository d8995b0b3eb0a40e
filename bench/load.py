"""Load on the local stack: 1,000 notifications from 20 concurrent publishers, 20% of the
deliveries repeated and reordered → exactly 1,000 executions, each message recorded once (with
its deliveries counted), none run twice. Reports end-to-end throughput, webhook requests/s and
the webhook's latency percentiles (measured by the local gateway per request), each against a
baseline of the same run: the bare local SNS delivering the same publishing to a receiver that
answers at once, and the gateway's trivial route (``GET /``) under as many clients.

Loopback only; bounded by the plan's count and timeout. ``--notifications``/``--publishers``
shrink it for a quick look. The scenario itself is ``tests/load/scenario.py`` (also run, small,
by ``make test``).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from common import machine, use_project_imports, write_results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--publishers", type=int, default=20)
    arguments = parser.parse_args()
    use_project_imports()
    from snsflow.executions import execution_name
    from snsflow.local.stack import LocalStack, LocalStackConfig
    from tests.load.scenario import (
        LoadPlan,
        bare_sns_round_trip,
        run_load,
        trivial_route,
    )

    plan = LoadPlan(arguments.notifications, arguments.publishers, timeout=600)
    # The stage's throttle is off the scale: this measures what the stack itself sustains
    # (bench/flood.py measures the throttle and the firewall).
    config = LocalStackConfig(
        sns_delay_scale=0.01,
        status_poll_seconds=0.2,
        throttle_rate_limit=1e6,
        throttle_burst_limit=10**6,
    )
    with LocalStack(config) as stack:
        baseline_sns = bare_sns_round_trip(stack, plan)
        result = run_load(stack, plan)
        webhook_requests = result.webhook_requests
        baseline_route = trivial_route(stack, webhook_requests, plan.publishers)

    ids = set(result.message_ids)
    checks = {
        "exactly_one_execution_per_message": result.runs
        == Counter({execution_name(m): 1 for m in ids}),
        "every_message_recorded_once": set(result.records) == ids,
        "deliveries_counted": result.records == {m: 1 + result.repeated.count(m) for m in ids},
        "every_webhook_answer_200": set(result.statuses) == {200},
    }
    summary = result.summary()
    latency = summary["webhook_latency_ms"]
    floor = baseline_route["latency_ms"]
    ratios = {
        "throughput_vs_bare_sns": round(
            summary["notifications_per_second"] / baseline_sns["notifications_per_second"], 3
        ),
        "webhook_requests_per_second_vs_trivial_route": round(
            summary["webhook_requests_per_second"] / baseline_route["requests_per_second"], 3
        ),
        **{
            f"latency_{p}_vs_trivial_route": round(latency[p] / max(floor[p], 1e-3), 1)
            for p in ("p50", "p95", "p99")
        },
    }
    write_results(
        "load",
        {
            "benchmark": "load on the local stack: concurrent publishers, repeated and "
            "reordered deliveries",
            "machine": machine(),
            "plan": {
                "notifications": plan.notifications,
                "publishers": plan.publishers,
                "repeat_fraction": plan.repeat_fraction,
                "seed": plan.seed,
            },
            "checks": checks,
            "load": summary,
            "baselines": {
                "bare_sns_to_receiver": baseline_sns,
                "gateway_trivial_route": baseline_route,
            },
            "ratios": ratios,
            "method": "webhook latency and request times from the local gateway's access log "
            "(authorizer + webhook + its AWS calls to moto, per request); end to end = first "
            "publish to the last execution listed by ListExecutions",
        },
    )
    print(summary, ratios, checks, sep="\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
