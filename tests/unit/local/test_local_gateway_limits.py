"""What stands in front of the local gateway's routes, as in front of the deployed stage: the
firewall answers first (no authorizer, no throttle token), then the stage's throttle, a token
bucket per method answered with the THROTTLED gateway response."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from snsflow.firewall import Firewall, FirewallSettings, firewall_rules, key_prefix_pattern
from snsflow.gateway_responses import GATEWAY_ERRORS
from snsflow.keys import KeyScope, issue_key
from snsflow.local.gateway import LocalApiGateway, Route, StageThrottle, TokenBucket
from tests.unit.local.test_local_gateway import (
    WEBHOOK,
    Recorder,
    allowing_authorizer,
    call,
    error_body,
    gateway_for,
    handler,
)

__all__ = ["gateway_for", "handler"]  # fixtures

KEY = issue_key("prod-sns", KeyScope.WEBHOOK, datetime(2026, 11, 28, tzinfo=UTC))
VALUE = KEY.value.get_secret_value()


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_gives_its_burst_then_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)

    burst = [bucket.take() for _ in range(4)]
    clock.now += 0.5  # one token back
    refilled = [bucket.take(), bucket.take()]
    clock.now += 100  # never more than the burst
    after_a_pause = [bucket.take() for _ in range(4)]

    assert burst == [True, True, True, False]
    assert refilled == [True, False]
    assert after_a_pause == [True, True, True, False]


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (1, 0)])
def test_impossible_throttle_settings_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="token bucket"):
        StageThrottle(rate, burst)


def test_each_method_has_its_own_bucket() -> None:
    throttle = StageThrottle(rate_limit=1, burst_limit=2, clock=Clock())

    webhook = [throttle.admit("POST", WEBHOOK) for _ in range(3)]
    reads = [throttle.admit("GET", "/workflows") for _ in range(3)]

    assert webhook == [True, True, False]
    assert reads == [True, True, False]


def test_over_the_stages_rate_the_gateway_answers_503_as_deployed(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    authorizations, authorizer = allowing_authorizer()
    gateway = gateway_for(
        [Route("POST", WEBHOOK, handler), Route("GET", "/", Recorder(), authorized=False)],
        authorizer,
        gateway_responses=GATEWAY_ERRORS,
        throttle=StageThrottle(rate_limit=0.001, burst_limit=2),
    )

    answers = [call(gateway, "POST", "/webhooks/w", body=b"{}") for _ in range(3)]
    page = call(gateway, "GET", "/")

    assert [answer.status for answer in answers] == [200, 200, 503]
    assert error_body(answers[2]) == {
        "code": "dependency_unavailable",
        "message": "Too many requests right now; retry later.",
    }
    assert answers[2].headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert len(authorizations.calls) == 2  # the throttled request never reached it
    assert page.status == 200  # another method, another bucket


def test_the_firewall_answers_before_the_throttle_and_the_authorizer(
    gateway_for: Callable[..., LocalApiGateway], handler: Recorder
) -> None:
    authorizations, authorizer = allowing_authorizer()
    rules = firewall_rules(FirewallSettings())
    gateway = gateway_for(
        [Route("POST", WEBHOOK, handler)],
        authorizer,
        gateway_responses=GATEWAY_ERRORS,
        firewall=Firewall(rules, lambda: [key_prefix_pattern(KEY.key.display_prefix)]),
        throttle=StageThrottle(rate_limit=0.001, burst_limit=1),
    )

    flood = [
        call(gateway, "POST", "/webhooks/w", body=b"{}"),
        call(gateway, "POST", "/webhooks/w?x-api-key=junk", body=b"{}"),
        call(gateway, "POST", "/webhooks/w", body=b"{}", headers={"x-api-key": "snsf_" + "Q" * 43}),
    ] * 5
    valid = call(gateway, "POST", f"/webhooks/w?x-api-key={VALUE}", body=b"{}")

    assert [(r.status, error_body(r)["code"]) for r in flood[:3]] == [
        (401, "missing_api_key"),
        (403, "invalid_api_key"),
        (403, "invalid_api_key"),
    ]
    assert {r.status for r in flood} == {401, 403}
    assert flood[0].headers["Content-Type"] == "application/json"
    assert "x-amzn-RequestId" in flood[0].headers
    assert valid.status == 200  # the one throttle token was still there
    assert len(authorizations.calls) == 1
    assert len(handler.calls) == 1
