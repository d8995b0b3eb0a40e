"""The authorizer Lambda against moto: every allow and deny case of the API's key rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from snsflow.cli.keys import AUTHORIZER_CACHE_TIME
from snsflow.keys import KeyScope, revoke_keys, rotate_key
from snsflow.store.keys import DynamoKeyStore
from tests.integration.authorizer.conftest import CACHE_SECONDS, FakeClock, Invoke, MakeKey
from tests.integration.authorizer.events import authorizer_event, method_arn, webhook_event

WEBHOOK_ARN = method_arn("POST", "/webhooks/order-events")


def _statement(response: dict[str, Any]) -> dict[str, Any]:
    [statement] = response["policyDocument"]["Statement"]
    return statement  # type: ignore[no-any-return]


def assert_allowed(response: dict[str, Any], arn: str = WEBHOOK_ARN) -> None:
    assert _statement(response) == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": [arn],
    }


def assert_denied(response: dict[str, Any], code: str, arn: str = WEBHOOK_ARN) -> None:
    assert _statement(response) == {
        "Action": "execute-api:Invoke",
        "Effect": "Deny",
        "Resource": [arn],
    }
    assert response["context"]["errorCode"] == code
    assert response["context"]["errorMessage"]


def assert_unauthorized(invoke: Invoke, event: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
        invoke(event)
    assert type(raised.value) is Exception  # what API Gateway turns into a 401


# --- allowed ---------------------------------------------------------------------------------


def test_webhook_key_in_the_query_string_is_allowed_for_its_workflow(
    invoke: Invoke, make_key: MakeKey
) -> None:
    value = make_key("prod-sns")

    response = invoke(webhook_event("order-events", query={"x-api-key": value}))

    assert_allowed(response)
    assert response["principalId"] == "prod-sns"
    assert response["context"] == {
        "keyName": "prod-sns",
        "scope": "webhook",
        "workflowId": "order-events",
        "keyPrefix": value[:13],
    }


@pytest.mark.parametrize("header", ["x-api-key", "X-API-KEY", "X-Api-Key", "x-API-kEy"])
def test_webhook_key_in_a_header_of_any_case_is_allowed(
    invoke: Invoke, make_key: MakeKey, header: str
) -> None:
    value = make_key("prod-sns")

    assert_allowed(invoke(webhook_event("order-events", headers={header: value})))


def test_the_same_key_in_header_and_query_is_allowed(invoke: Invoke, make_key: MakeKey) -> None:
    value = make_key("prod-sns")

    response = invoke(
        webhook_event("order-events", headers={"X-Api-Key": value}, query={"x-api-key": value})
    )

    assert_allowed(response)


def test_a_key_only_in_the_multi_value_maps_is_found(invoke: Invoke, make_key: MakeKey) -> None:
    value = make_key("prod-sns")

    event = webhook_event("order-events", multi_value_query={"x-api-key": [value]})

    assert_allowed(invoke(event))


READ_ROUTES = [
    ("/workflows", {}, ""),
    ("/workflows/{workflowId}", {"workflowId": "order-events"}, "order-events"),
    ("/workflows/{workflowId}/executions", {"workflowId": "audit-log"}, "audit-log"),
    ("/executions/{executionId}", {"executionId": "order-events:7e1b5a1c-0000"}, ""),
]


@pytest.mark.parametrize(("resource", "parameters", "workflow_id"), READ_ROUTES)
def test_read_key_is_allowed_on_every_read_route(
    invoke: Invoke,
    make_key: MakeKey,
    resource: str,
    parameters: dict[str, str],
    workflow_id: str,
) -> None:
    value = make_key("dashboards", KeyScope.READ)
    event = authorizer_event("GET", resource, parameters, headers={"x-api-key": value})

    response = invoke(event)

    assert_allowed(response, event["methodArn"])
    assert response["context"]["scope"] == "read"
    assert response["context"]["workflowId"] == workflow_id


def test_a_read_key_is_not_bound_to_workflows(invoke: Invoke, make_key: MakeKey) -> None:
    value = make_key("dashboards", KeyScope.READ)
    event = authorizer_event(
        "GET", "/workflows/{workflowId}", {"workflowId": "no-such"}, query={"x-api-key": value}
    )

    assert_allowed(invoke(event), event["methodArn"])


# --- no key: 401 -----------------------------------------------------------------------------


def test_a_request_without_any_key_is_unauthorized(invoke: Invoke, make_key: MakeKey) -> None:
    make_key("prod-sns")

    assert_unauthorized(invoke, webhook_event("order-events"))
    assert_unauthorized(
        invoke,
        webhook_event("order-events", headers={"Content-Type": "text/plain"}, query={"a": "b"}),
    )


@pytest.mark.parametrize(
    "carriers",
    [
        {"query": {"x-api-key": ""}},
        {"headers": {"x-api-key": ""}},
        {"headers": {"X-Api-Key": "   "}},
        {"headers": {"x-api-key": ""}, "query": {"x-api-key": ""}},
    ],
    ids=["empty-query", "empty-header", "blank-header", "both-empty"],
)
def test_an_empty_key_counts_as_no_key(invoke: Invoke, carriers: dict[str, Any]) -> None:
    assert_unauthorized(invoke, webhook_event("order-events", **carriers))


def test_a_key_under_another_query_parameter_name_is_no_key(
    invoke: Invoke, make_key: MakeKey
) -> None:
    value = make_key("prod-sns")

    assert_unauthorized(invoke, webhook_event("order-events", query={"api-key": value}))


# --- refused: 403 ----------------------------------------------------------------------------


def test_an_unknown_key_is_denied(invoke: Invoke, make_key: MakeKey) -> None:
    make_key("prod-sns")
    unknown = "snsf_" + "A" * 43

    assert_denied(
        invoke(webhook_event("order-events", query={"x-api-key": unknown})), "invalid_api_key"
    )


@pytest.mark.parametrize(
    "value",
    [
        "snsf_" + "A" * 200_000,
        "snsf_" + "ü" * 43,
        "snsf_" + "\udcff" * 43,
        "snsf_" + "A" * 42 + "\x00",
        "not-a-key",
    ],
    ids=["very-long", "non-ascii", "lone-surrogate", "nul-byte", "other-format"],
)
def test_a_malformed_key_is_denied_without_a_crash(
    invoke: Invoke, make_key: MakeKey, value: str
) -> None:
    make_key("prod-sns")

    for carriers in ({"query": {"x-api-key": value}}, {"headers": {"X-API-Key": value}}):
        response = invoke(webhook_event("order-events", **carriers))
        assert_denied(response, "invalid_api_key")
        assert value not in str(response)


def test_two_different_keys_in_one_request_are_denied(invoke: Invoke, make_key: MakeKey) -> None:
    value = make_key("prod-sns")
    other = make_key("audit-sns")

    both = webhook_event("order-events", headers={"x-api-key": value}, query={"x-api-key": other})
    repeated = webhook_event("order-events", multi_value_query={"x-api-key": [value, other]})

    assert_denied(invoke(both), "conflicting_api_keys")
    assert_denied(invoke(repeated), "conflicting_api_keys")


def test_a_webhook_key_bound_to_another_workflow_is_denied(
    invoke: Invoke, make_key: MakeKey
) -> None:
    value = make_key("audit-sns")

    response = invoke(webhook_event("order-events", query={"x-api-key": value}))

    assert_denied(response, "key_not_bound")


def test_a_webhook_key_for_an_unknown_workflow_is_denied(invoke: Invoke, make_key: MakeKey) -> None:
    value = make_key("prod-sns")

    for workflow_id in ("no-such-workflow", "Order-Events", "x" * 5000, "a/b"):
        event = webhook_event(workflow_id, query={"x-api-key": value})
        assert_denied(invoke(event), "key_not_bound", event["methodArn"])


def test_a_read_key_cannot_deliver_webhooks(invoke: Invoke, make_key: MakeKey) -> None:
    value = make_key("prod-sns", KeyScope.READ)  # even when its name matches the binding

    assert_denied(
        invoke(webhook_event("order-events", query={"x-api-key": value})), "wrong_key_scope"
    )


@pytest.mark.parametrize(("resource", "parameters", "workflow_id"), READ_ROUTES)
def test_a_webhook_key_cannot_read(
    invoke: Invoke,
    make_key: MakeKey,
    resource: str,
    parameters: dict[str, str],
    workflow_id: str,
) -> None:
    value = make_key("prod-sns")
    event = authorizer_event("GET", resource, parameters, query={"x-api-key": value})

    assert_denied(invoke(event), "wrong_key_scope", event["methodArn"])


@pytest.mark.parametrize(
    ("http_method", "resource", "parameters"),
    [
        ("GET", "/webhooks/{workflowId}", {"workflowId": "order-events"}),
        ("DELETE", "/workflows/{workflowId}", {"workflowId": "order-events"}),
        ("GET", "/", {}),
        ("POST", "/workflows", {}),
    ],
)
def test_a_route_no_key_grants_is_denied(
    invoke: Invoke,
    make_key: MakeKey,
    http_method: str,
    resource: str,
    parameters: dict[str, str],
) -> None:
    read = make_key("dashboards", KeyScope.READ)
    webhook = make_key("prod-sns")

    for value in (read, webhook):
        event = authorizer_event(http_method, resource, parameters, query={"x-api-key": value})
        assert_denied(invoke(event), "route_not_allowed", event["methodArn"])


def test_a_revoked_key_is_denied_once_the_cache_time_has_passed(
    invoke: Invoke, make_key: MakeKey, key_store: DynamoKeyStore, clock: FakeClock
) -> None:
    value = make_key("prod-sns")
    event = webhook_event("order-events", query={"x-api-key": value})
    assert_allowed(invoke(event))

    revoke_keys(key_store, "prod-sns", clock())
    clock.advance(seconds=CACHE_SECONDS - 0.001)
    assert_allowed(invoke(event))  # still cached: revocation is not instant...

    clock.advance(seconds=0.001)
    assert_denied(invoke(event), "revoked_api_key")  # ...but takes effect within the cache time


def test_rotation_accepts_old_and_new_values_until_the_grace_period_ends(
    invoke: Invoke, make_key: MakeKey, key_store: DynamoKeyStore, clock: FakeClock
) -> None:
    old = make_key("prod-sns")
    new = rotate_key(key_store, "prod-sns", timedelta(hours=24), clock()).value
    old_event = webhook_event("order-events", query={"x-api-key": old})
    new_event = webhook_event("order-events", query={"x-api-key": new.get_secret_value()})

    clock.advance(hours=23, minutes=59)
    assert_allowed(invoke(old_event))
    assert_allowed(invoke(new_event))

    clock.advance(minutes=1)  # expiry is checked on every request, cached or not
    assert_denied(invoke(old_event), "expired_api_key")
    assert_allowed(invoke(new_event))


def test_rotation_without_grace_retires_the_old_value_at_once(
    invoke: Invoke, make_key: MakeKey, key_store: DynamoKeyStore, clock: FakeClock
) -> None:
    old = make_key("prod-sns")
    rotate_key(key_store, "prod-sns", timedelta(0), clock())

    assert_denied(
        invoke(webhook_event("order-events", query={"x-api-key": old})), "expired_api_key"
    )


def test_rotation_without_grace_retires_a_cached_old_value_within_the_documented_bound(
    invoke: Invoke,
    make_key: MakeKey,
    key_store: DynamoKeyStore,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SNSFLOW_AUTH_CACHE_TTL_SECONDS")  # the default, as deployed
    old = make_key("prod-sns")
    event = webhook_event("order-events", query={"x-api-key": old})
    assert_allowed(invoke(event))  # the instance now holds the record, without an expiry

    rotate_key(key_store, "prod-sns", timedelta(0), clock())
    clock.advance(seconds=AUTHORIZER_CACHE_TIME.total_seconds() - 0.001)
    assert_allowed(invoke(event))  # the record read before the rotation is still trusted...

    clock.advance(seconds=0.001)
    assert_denied(invoke(event), "expired_api_key")  # ...up to the bound `keys rotate` states


def test_a_key_created_again_after_revocation_is_allowed_but_the_old_value_is_not(
    invoke: Invoke, make_key: MakeKey, key_store: DynamoKeyStore, clock: FakeClock
) -> None:
    old = make_key("prod-sns")
    revoke_keys(key_store, "prod-sns", clock())
    clock.advance(seconds=1)
    new = make_key("prod-sns")

    assert_denied(
        invoke(webhook_event("order-events", query={"x-api-key": old})), "revoked_api_key"
    )
    assert_allowed(invoke(webhook_event("order-events", query={"x-api-key": new})))


# --- last used -------------------------------------------------------------------------------


def test_use_is_recorded_at_most_once_a_minute(
    invoke: Invoke, make_key: MakeKey, key_store: DynamoKeyStore, clock: FakeClock
) -> None:
    value = make_key("prod-sns")
    event = webhook_event("order-events", query={"x-api-key": value})
    first_use = clock()

    invoke(event)
    [key] = key_store.named("prod-sns")
    assert key.last_used_at == first_use

    for _ in range(11):  # 55 s of traffic, the cache refilled every 5 s
        clock.advance(seconds=CACHE_SECONDS)
        invoke(event)
    [key] = key_store.named("prod-sns")
    assert key.last_used_at == first_use

    clock.advance(seconds=CACHE_SECONDS)
    invoke(event)
    [key] = key_store.named("prod-sns")
    assert key.last_used_at == clock()


def test_a_denied_request_is_not_recorded_as_use(
    invoke: Invoke, make_key: MakeKey, key_store: DynamoKeyStore
) -> None:
    value = make_key("audit-sns")

    invoke(webhook_event("order-events", query={"x-api-key": value}))

    [key] = key_store.named("audit-sns")
    assert key.last_used_at is None


@pytest.mark.parametrize("execution_id", ["order-events:7e1b", "a~b", "with space", "%2F", "é"])
def test_the_policy_names_exactly_the_requested_method_arn(
    invoke: Invoke, make_key: MakeKey, execution_id: str
) -> None:
    value = make_key("dashboards", KeyScope.READ)
    event = authorizer_event(
        "GET",
        "/executions/{executionId}",
        {"executionId": execution_id},
        query={"x-api-key": value},
    )

    assert_allowed(invoke(event), event["methodArn"])
