"""Hostile REQUEST authorizer events: random routes, methods, path parameters, and key values in
every carrier (headers of any case, the query string, their multi-value twins), alone or mixed.

The authorizer runs for real against moto. Its decision is checked against an oracle written
from the rules (docs/keys-and-authorizer.md), not from its code: Allow only for exactly one
presented value that is an active key of the route's scope and, for a webhook, the key its
workflow names; no key at all → the ``Unauthorized`` failure (401); anything else → Deny
(403) with an error code. Never any other exception (which API Gateway would answer with 500).
Case counts: ``tests/security/budget.py``.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snsflow.keys import KeyScope, revoke_keys, rotate_key
from snsflow.store.keys import DynamoKeyStore
from snsflow.workflows import WORKFLOW_ID_PATTERN
from tests.integration.authorizer.conftest import FakeClock, Invoke, MakeKey
from tests.integration.authorizer.events import authorizer_event
from tests.security.budget import cases

_RESOURCES = [
    "/webhooks/{workflowId}",
    "/workflows",
    "/workflows/{workflowId}",
    "/workflows/{workflowId}/executions",
    "/executions/{executionId}",
    "/",
    "/webhooks",
    "/webhooks/{workflowId}/extra",
    "/{proxy+}",
]
_READ_RESOURCES = {
    "/workflows",
    "/workflows/{workflowId}",
    "/workflows/{workflowId}/executions",
    "/executions/{executionId}",
}


class Keys:
    """The key values of one test, by what they are. Hypothesis prints every argument of a
    failing case: this one prints without its secrets."""

    def __init__(self, **values: str) -> None:
        self.values = values
        #: Key value → what the oracle allows it: (scope, bound workflow or None).
        self.grants = {
            values["prod"]: (KeyScope.WEBHOOK, "order-events"),
            values["audit"]: (KeyScope.WEBHOOK, "audit-log"),
            values["reader"]: (KeyScope.READ, None),
        }

    def __repr__(self) -> str:
        return f"Keys({sorted(self.values)})"


@pytest.fixture
def keys(make_key: MakeKey, key_store: DynamoKeyStore, clock: FakeClock) -> Keys:
    revoked = make_key("old-sns")
    revoke_keys(key_store, "old-sns", clock())
    expired = make_key("rotated-sns")
    rotate_key(key_store, "rotated-sns", timedelta(0), clock())
    return Keys(
        prod=make_key("prod-sns"),
        audit=make_key("audit-sns"),
        reader=make_key("dashboards", KeyScope.READ),
        revoked=revoked,
        expired=expired,
    )


@dataclass(frozen=True)
class Placement:
    carrier: str  # headers | multiValueHeaders | queryStringParameters | multi... query
    name: str
    value: str


def _placements(keys: Keys) -> st.SearchStrategy[list[Placement]]:
    well_formed = st.just(None).map(lambda _: "snsf_" + secrets.token_urlsafe(32))
    prod = keys.values["prod"]
    values = st.one_of(
        st.sampled_from(sorted(keys.values.values())),
        well_formed,
        st.sampled_from(["", " ", "\t", prod + " ", " " + prod, prod.upper(), prod[:-1]]),
        st.text(max_size=60),
    )
    header_names = st.sampled_from(["x-api-key", "X-API-KEY", "X-Api-Key", "x-aPi-KeY"]) | (
        st.sampled_from(["x-api-key ", "x_api_key", "api-key", "x-api-keys", "authorization"])
    )
    query_names = st.sampled_from(["x-api-key", "X-API-KEY", "x-api-key ", "x_api_key", "key"])
    header = st.builds(
        Placement, st.sampled_from(["headers", "multiValueHeaders"]), header_names, values
    )
    query = st.builds(
        Placement,
        st.sampled_from(["queryStringParameters", "multiValueQueryStringParameters"]),
        query_names,
        values,
    )
    return st.lists(header | query, max_size=4)


def _event(
    method: str, resource: str, parameters: dict[str, str], placements: list[Placement]
) -> dict[str, Any]:
    event = authorizer_event(method, resource, parameters or None)
    for place in placements:
        carrier = event.get(place.carrier) or {}
        if place.carrier.startswith("multi"):
            carrier.setdefault(place.name, []).append(place.value)
        else:
            carrier[place.name] = place.value  # a repeated name keeps its last value
        event[place.carrier] = carrier
    return event


def _is_header(name: str) -> bool:
    return name.lower() == "x-api-key"


def _is_parameter(name: str) -> bool:
    return name == "x-api-key"


def _presented(event: dict[str, Any]) -> set[str]:
    """Non-blank values under the header name (any case) or the exact query parameter name."""
    found: set[str] = set()
    for carrier, matches in (
        ("headers", _is_header),
        ("multiValueHeaders", _is_header),
        ("queryStringParameters", _is_parameter),
        ("multiValueQueryStringParameters", _is_parameter),
    ):
        for name, value in (event.get(carrier) or {}).items():
            if matches(name):
                found.update(value if isinstance(value, list) else [value])
    return {value for value in found if value.strip()}


def _expected_allow(
    keys: Keys, presented: set[str], method: str, resource: str, workflow_id: str | None
) -> bool:
    if len(presented) != 1:
        return False
    grant = keys.grants.get(next(iter(presented)))
    if grant is None:
        return False
    scope, bound_workflow = grant
    if (method, resource) == ("POST", "/webhooks/{workflowId}"):
        return scope is KeyScope.WEBHOOK and workflow_id == bound_workflow
    return method == "GET" and resource in _READ_RESOURCES and scope is KeyScope.READ


@cases("authorizer_requests")
@given(
    data=st.data(),
    # API Gateway always spells methods in capitals.
    method=st.sampled_from(["POST", "GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
    resource=st.sampled_from(_RESOURCES),
    workflow_id=st.sampled_from(["order-events", "audit-log", "no-such-workflow"])
    | st.from_regex(WORKFLOW_ID_PATTERN.strip("^$"), fullmatch=True)
    | st.text(string.printable.replace("/", ""), min_size=1, max_size=70)
    | st.text(min_size=1, max_size=20).filter(lambda text: "/" not in text),
)
def test_only_the_right_key_for_the_route_and_workflow_is_ever_allowed(
    invoke: Invoke,
    keys: Keys,
    data: st.DataObject,
    method: str,
    resource: str,
    workflow_id: str,
) -> None:
    placements = data.draw(_placements(keys))
    parameters = {"workflowId": workflow_id} if "{workflowId}" in resource else {}
    if "{executionId}" in resource:
        parameters["executionId"] = data.draw(st.text(min_size=1, max_size=80))
    if "{proxy+}" in resource:
        parameters["proxy"] = data.draw(st.text(min_size=1, max_size=30))
    event = _event(method, resource, parameters, placements)
    presented = _presented(event)

    if not presented:  # the only failure allowed: the one API Gateway turns into a 401
        with pytest.raises(Exception, match=r"^Unauthorized$") as raised:
            invoke(event)
        assert type(raised.value) is Exception
        return

    response = invoke(event)  # any exception here would be a 500 from API Gateway
    [statement] = response["policyDocument"]["Statement"]
    assert statement["Resource"] == [event["methodArn"]]
    allowed = _expected_allow(keys, presented, method, resource, parameters.get("workflowId"))
    assert statement["Effect"] == ("Allow" if allowed else "Deny")
    if allowed:
        assert response["context"]["keyName"] in ("prod-sns", "audit-sns", "dashboards")
    else:
        assert response["context"]["errorCode"]
        assert response["context"]["errorMessage"]
