"""Only ``read`` and ``operate`` keys reach the read routes, and only ``operate`` keys the action
routes: the authorizer enforces it, before the query Lambda.

Runs the real authorizer Lambda (its fixtures are reused from the authorizer tests).
"""

from __future__ import annotations

from typing import Any

import pytest

from snsflow.authorization import ROUTES
from snsflow.keys import KeyScope
from tests.integration.authorizer import conftest as authorizer
from tests.integration.authorizer.conftest import Invoke, MakeKey
from tests.integration.authorizer.events import authorizer_event, method_arn

# The authorizer tests' fixtures: a fresh authorizer on moto, keys made through the domain.
clock = authorizer.clock
invoke = authorizer.invoke
key_store = authorizer.key_store
registry = authorizer.registry
make_key = authorizer.make_key

READ_ROUTES = [
    (route.resource, {"workflowId": "order-events", "executionId": "order-events.m-1"})
    for route in ROUTES
    if route.scope is KeyScope.READ
]
ACTION_ROUTES = [route.resource for route in ROUTES if route.scope is KeyScope.OPERATE]
_PARAMETERS = {"workflowId": "order-events", "executionId": "order-events.m-1"}


def _event(
    resource: str, parameters: dict[str, str], key: str, method: str = "GET"
) -> dict[str, Any]:
    used = {name: value for name, value in parameters.items() if "{" + name + "}" in resource}
    return authorizer_event(method, resource, used or None, headers={"x-api-key": key})


def _effect(response: dict[str, Any]) -> str:
    [statement] = response["policyDocument"]["Statement"]
    return str(statement["Effect"])


@pytest.mark.parametrize(("resource", "parameters"), READ_ROUTES)
def test_a_webhook_key_cannot_read(
    invoke: Invoke, make_key: MakeKey, resource: str, parameters: dict[str, str]
) -> None:
    # The key order-events itself names: it may deliver to that workflow, not read it.
    webhook_key = make_key("prod-sns", KeyScope.WEBHOOK)

    response = invoke(_event(resource, parameters, webhook_key))

    assert _effect(response) == "Deny"
    assert response["context"]["errorCode"] == "wrong_key_scope"


@pytest.mark.parametrize(("resource", "parameters"), READ_ROUTES)
def test_a_read_key_can_read(
    invoke: Invoke, make_key: MakeKey, resource: str, parameters: dict[str, str]
) -> None:
    read_key = make_key("dashboards", KeyScope.READ)
    event = _event(resource, parameters, read_key)

    response = invoke(event)

    assert _effect(response) == "Allow"
    assert response["policyDocument"]["Statement"][0]["Resource"] == [
        method_arn("GET", event["path"])
    ]
    assert response["context"]["scope"] == "read"


def test_every_read_route_the_api_serves_is_guarded() -> None:
    served = {
        "/workflows",
        "/workflows/{workflowId}",
        "/workflows/{workflowId}/executions",
        "/workflows/{workflowId}/deliveries",
        "/executions/{executionId}",
        "/executions/{executionId}/history",
        "/me",
    }

    assert {resource for resource, _ in READ_ROUTES} == served
    assert set(ACTION_ROUTES) == {
        "/executions/{executionId}/redrive",
        "/executions/{executionId}/rerun",
    }


@pytest.mark.parametrize(("resource", "parameters"), READ_ROUTES)
def test_an_operate_key_can_read(
    invoke: Invoke, make_key: MakeKey, resource: str, parameters: dict[str, str]
) -> None:
    operate_key = make_key("on-call", KeyScope.OPERATE)

    response = invoke(_event(resource, parameters, operate_key))

    assert _effect(response) == "Allow"
    assert (response["context"]["scope"], response["context"]["keyName"]) == ("operate", "on-call")


@pytest.mark.parametrize("resource", ACTION_ROUTES)
def test_only_an_operate_key_can_act(invoke: Invoke, make_key: MakeKey, resource: str) -> None:
    operate_key = make_key("on-call", KeyScope.OPERATE)

    response = invoke(_event(resource, _PARAMETERS, operate_key, method="POST"))

    assert _effect(response) == "Allow"
    assert response["context"]["scope"] == "operate"


@pytest.mark.parametrize("scope", [KeyScope.READ, KeyScope.WEBHOOK])
@pytest.mark.parametrize("resource", ACTION_ROUTES)
def test_read_and_webhook_keys_cannot_act(
    invoke: Invoke, make_key: MakeKey, resource: str, scope: KeyScope
) -> None:
    key = make_key("prod-sns" if scope is KeyScope.WEBHOOK else "dashboards", scope)

    response = invoke(_event(resource, _PARAMETERS, key, method="POST"))

    assert _effect(response) == "Deny"
    assert response["context"]["errorCode"] == "insufficient_scope"
    assert "operate" in response["context"]["errorMessage"]


def test_an_operate_key_cannot_deliver(invoke: Invoke, make_key: MakeKey) -> None:
    operate_key = make_key("prod-sns", KeyScope.OPERATE)  # even under the name the workflow names

    response = invoke(_event("/webhooks/{workflowId}", _PARAMETERS, operate_key, method="POST"))

    assert _effect(response) == "Deny"
    assert response["context"]["errorCode"] == "wrong_key_scope"
