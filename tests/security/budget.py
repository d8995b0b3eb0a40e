"""How many cases each fuzz test runs, and the hypothesis settings they share.

The counts are fixed (not scaled by a profile) so that every run of ``make test`` exercises the
same number of cases: 15,820 in all, split as below (``tests/security/test_budget.py`` keeps
the sum at 10,000 or more). A failure prints the falsifying
example and a ``@reproduce_failure`` blob, so a case found in CI can be replayed exactly.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

#: Shared by every fuzz test. The moto stack is built once per test function and reused by all
#: its examples (each example is independent: it only adds deliveries), hence the health check.
FUZZ = settings(
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
settings.register_profile("snsflow-fuzz", FUZZ)

#: Cases per test (see the test modules); their sum is the suite's total.
CASES = {
    "arbitrary_bodies": 1500,
    "sns_shaped_documents": 1400,
    "one_byte_changed": 2200,
    "structural_mutations": 1300,
    "headers_and_query": 500,
    "event_shapes": 800,
    "sizes": 300,
    "encodings": 500,
    "authorizer_requests": 1700,
    # Whole HTTP requests to the local stack's gateway (test_http_requests.py).
    "http_requests": 1200,
    "http_signed_one_byte_changed": 400,
    # Requests to the read routes of the local stack's gateway (test_read_requests.py).
    # (The deliveries route's share: 150 of them.)
    "read_requests": 950,
    "read_requests_valid": 120,
    "read_requests_dynamodb_faults": 250,
    # Requests to the action routes (redrive, re-run) of the local stack's gateway
    # (test_read_requests.py).
    "action_requests": 300,
    "action_requests_faults": 150,
    # Every CLI command with hostile arguments, files, URLs and API answers
    # (test_cli_hostile_input.py).
    "cli_arguments": 1050,
    "cli_api_answers": 600,
    "cli_info_files": 200,
    "cli_environment": 200,
    "cli_message_files": 200,
}
TOTAL_CASES = sum(CASES.values())


def cases(name: str) -> settings:
    return settings(FUZZ, max_examples=CASES[name])
