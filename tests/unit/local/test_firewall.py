"""The firewall's rules as the local gateway applies them (``snsflow.firewall``): what each
refuses, that it refuses what the authorizer would refuse with the same answer, and the rate
rule's counting."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snsflow.authorization import AccessRequest, Authorizer
from snsflow.errors import SnsflowError
from snsflow.firewall import (
    CLOSED_PATTERNS,
    OPEN_PATTERNS,
    Firewall,
    FirewallSettings,
    InspectedRequest,
    MatchRule,
    SourceRateRule,
    firewall_rules,
    key_prefix_pattern,
)
from snsflow.keys import KeyScope, display_prefix, is_well_formed, issue_key

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KNOWN = issue_key("prod-sns", KeyScope.WEBHOOK, NOW)
KNOWN_VALUE = KNOWN.value.get_secret_value()
OTHER_VALUE = issue_key("other", KeyScope.WEBHOOK, NOW).value.get_secret_value()
KEY_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def firewall(
    patterns: Sequence[str] = (key_prefix_pattern(KNOWN.key.display_prefix),),
    settings: FirewallSettings | None = None,
    clock: Clock | None = None,
) -> Firewall:
    return Firewall(
        firewall_rules(settings or FirewallSettings()), lambda: patterns, clock or Clock()
    )


def webhook(
    *,
    header: str | None = None,
    query: str | None = None,
    header_name: str = "x-api-key",
    query_name: str = "x-api-key",
    path: str = "/webhooks/order-events",
    method: str = "POST",
    source_ip: str = "192.0.2.1",
) -> InspectedRequest:
    return InspectedRequest(
        method=method,
        path=path,
        headers=[("Content-Type", "text/plain")] + ([(header_name, header)] if header else []),
        query=[(query_name, query)] if query is not None else [],
        source_ip=source_ip,
    )


def refusal(verdict: tuple[str, object] | None) -> tuple[str, int, str] | None:
    if verdict is None:
        return None
    name, block = verdict
    error = block.error  # type: ignore[attr-defined]
    return name, error.http_status, error.code


def test_the_rules_in_their_order() -> None:
    with_gate = firewall_rules(FirewallSettings())
    without_gate = firewall_rules(FirewallSettings(key_prefix_gate=False))

    assert [rule.name for rule in with_gate] == [
        "WebhookWithoutKey",
        "WebhookMalformedKey",
        "WebhookUnknownKey",
        "WebhookSourceFlood",
    ]
    assert [rule.name for rule in without_gate] == [
        "WebhookWithoutKey",
        "WebhookMalformedKey",
        "WebhookSourceFlood",
    ]
    assert not any(
        isinstance(rule, MatchRule) and "ApiKeyInPrefixSet" in repr(rule.statement)
        for rule in without_gate
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (webhook(), ("WebhookWithoutKey", 401, "missing_api_key")),
        (webhook(query=""), ("WebhookWithoutKey", 401, "missing_api_key")),
        (webhook(header="   "), ("WebhookWithoutKey", 401, "missing_api_key")),
        (webhook(query="not-a-key"), ("WebhookMalformedKey", 403, "invalid_api_key")),
        (webhook(header=KNOWN_VALUE + "x"), ("WebhookMalformedKey", 403, "invalid_api_key")),
        (webhook(header=KNOWN_VALUE[:20]), ("WebhookMalformedKey", 403, "invalid_api_key")),
        (webhook(query=OTHER_VALUE), ("WebhookUnknownKey", 403, "invalid_api_key")),
        (webhook(header="snsf_" + "A" * 43), ("WebhookUnknownKey", 403, "invalid_api_key")),
        (webhook(query=KNOWN_VALUE), None),
        (webhook(header=KNOWN_VALUE), None),
        (webhook(header=KNOWN_VALUE, header_name="X-aPi-KeY"), None),
        # WAF matches query argument names in any case too (the authorizer then does not).
        (webhook(query=KNOWN_VALUE, query_name="X-API-KEY"), None),
        (webhook(query=KNOWN_VALUE, path="/v1/webhooks/order-events"), None),
        (webhook(path="/v1/webhooks/order-events"), ("WebhookWithoutKey", 401, "missing_api_key")),
        # Not the webhook: the authorizer (or API Gateway's 404) answers.
        (webhook(method="GET", path="/workflows"), None),
        (webhook(method="GET", path="/"), None),
        (webhook(method="GET"), None),
        (webhook(path="/webhooks/order-events/extra"), None),
    ],
)
def test_what_each_rule_refuses(
    request_: InspectedRequest, expected: tuple[str, int, str] | None
) -> None:
    assert refusal(firewall().inspect(request_)) == expected


@given(
    value=st.one_of(
        st.text(max_size=60),
        st.text(alphabet=KEY_CHARACTERS, min_size=43, max_size=43).map(lambda t: "snsf_" + t),
        st.text(alphabet=KEY_CHARACTERS, min_size=35, max_size=35).map(
            lambda t: KNOWN.key.display_prefix + t
        ),
    ),
    in_header=st.booleans(),
)
def test_a_single_value_passes_exactly_when_it_is_well_formed_with_an_admitted_prefix(
    value: str, in_header: bool
) -> None:
    request_ = webhook(header=value) if in_header else webhook(query=value)

    passes = firewall().inspect(request_) is None

    blank = not value.strip()
    admitted = is_well_formed(value) and display_prefix(value) == KNOWN.key.display_prefix
    assert passes == (admitted and not blank)


@given(value=st.text(alphabet=KEY_CHARACTERS, min_size=43, max_size=43).map(lambda t: "snsf_" + t))
def test_before_the_first_sync_every_well_formed_key_is_admitted(value: str) -> None:
    assert firewall(patterns=OPEN_PATTERNS).inspect(webhook(query=value)) is None


def test_with_no_valid_webhook_key_no_key_is_admitted() -> None:
    verdict = firewall(patterns=CLOSED_PATTERNS).inspect(webhook(query=KNOWN_VALUE))

    assert refusal(verdict) == ("WebhookUnknownKey", 403, "invalid_api_key")


def test_without_the_gate_a_well_formed_unknown_key_reaches_the_authorizer() -> None:
    gateless = firewall(settings=FirewallSettings(key_prefix_gate=False))

    assert gateless.inspect(webhook(query=OTHER_VALUE)) is None
    assert refusal(gateless.inspect(webhook(query="nope"))) == (
        "WebhookMalformedKey",
        403,
        "invalid_api_key",
    )


class _NoRecords:
    def load(self, key_hash: str | None, workflow_id: str | None) -> tuple[None, None]:
        return None, None


class _NoUse:
    def record_use(self, key_hash: str, at: datetime) -> None:
        raise AssertionError("no key is valid")


@pytest.mark.parametrize("presented", [(), ("not-a-key",), ("snsf_" + "A" * 43,)])
def test_the_firewall_answers_as_the_authorizer_would(presented: tuple[str, ...]) -> None:
    authorizer = Authorizer(_NoRecords(), _NoUse(), lambda: NOW, timedelta(seconds=5), 10)
    with pytest.raises(SnsflowError) as refused:
        authorizer.authorize(
            AccessRequest("POST", "/webhooks/{workflowId}", "order-events", presented)
        )
    request_ = webhook(query=presented[0] if presented else None)

    verdict = firewall().inspect(request_)

    assert verdict is not None
    assert verdict[1].error.to_body() == refused.value.to_body()
    assert verdict[1].status == refused.value.http_status


def test_a_url_encoded_key_is_judged_decoded() -> None:
    # The gateway decodes the query string before the firewall sees it, as WAF's URL_DECODE.
    from snsflow.local.gateway import _query_pairs

    pairs = _query_pairs("x-api-key=" + quote(KNOWN_VALUE, safe=""))
    request_ = InspectedRequest("POST", "/webhooks/order-events", [], pairs, "192.0.2.1")

    assert firewall().inspect(request_) is None


# -- the rate rule --------------------------------------------------------------------------------


def test_the_source_limit_is_what_the_stage_serves_in_a_minute_unless_set() -> None:
    assert FirewallSettings().effective_source_ip_limit == 6000
    assert FirewallSettings(throttle_rate_limit=0.05).effective_source_ip_limit == 10
    assert FirewallSettings(source_ip_limit=500).effective_source_ip_limit == 500
    (rule,) = [r for r in firewall_rules(FirewallSettings()) if isinstance(r, SourceRateRule)]
    assert (rule.limit, rule.window_seconds, rule.block.status) == (6000, 60, 503)


def test_a_source_over_its_limit_is_refused_with_a_503_until_its_rate_drops() -> None:
    clock = Clock()
    guarded = firewall(settings=FirewallSettings(source_ip_limit=10), clock=clock)
    valid = webhook(query=KNOWN_VALUE)

    first = [guarded.inspect(valid) for _ in range(10)]
    eleventh = guarded.inspect(valid)
    from_elsewhere = guarded.inspect(webhook(query=KNOWN_VALUE, source_ip="192.0.2.9"))
    clock.now += 61
    after_a_minute = guarded.inspect(valid)

    assert first == [None] * 10
    assert refusal(eleventh) == ("WebhookSourceFlood", 503, "dependency_unavailable")
    assert from_elsewhere is None
    assert after_a_minute is None


def test_requests_refused_by_an_earlier_rule_do_not_count_towards_the_rate() -> None:
    guarded = firewall(settings=FirewallSettings(source_ip_limit=10))

    for _ in range(100):
        assert guarded.inspect(webhook(query="junk")) is not None

    assert guarded.inspect(webhook(query=KNOWN_VALUE)) is None


def test_other_routes_are_not_rate_limited_by_the_firewall() -> None:
    guarded = firewall(settings=FirewallSettings(source_ip_limit=10))

    answers = [guarded.inspect(webhook(method="GET", path="/workflows")) for _ in range(50)]

    assert answers == [None] * 50


# -- the key-prefix set's patterns (its content: tests/unit/keys/test_key_prefix_set.py) -----


@pytest.mark.parametrize("prefix", ["snsf_abc", "snsf_abcdefgh1", "xxxx_abcdefgh", "snsf_abc.efgh"])
def test_only_a_display_prefix_makes_a_pattern(prefix: str) -> None:
    with pytest.raises(ValueError, match="display prefix"):
        key_prefix_pattern(prefix)
