"""Hostile requests to every read and action route of the local stack's API, over HTTP on
127.0.0.1.

Every route ``snsflow.authorization.ROUTES`` has for GET (and the page) is fuzzed with a
strategy per path and query parameter (``READ_ROUTES``; a route or a parameter without one
fails ``test_every_read_route_*``): any text in any encoding, percent-encoded bytes (invalid
UTF-8, ``%00``), raw bytes in the request line, extreme ISO 8601 times and offsets, durations,
numbers of any size, page tokens genuine, foreign and tampered, repeated and empty parameters,
unknown ones, very long values.

After every case: an HTTP answer came back, not reset; it is a 2xx or a 4xx, never a 5xx; it
is JSON (the page's 200 aside) and a refusal has the contract's error body with a stable code,
naming a parameter that was sent when the code is ``invalid_parameter``. Requests whose
parameters are all valid get a 200 whose page is exactly what the records say. With DynamoDB
failing (``tests/faults/injection.py``), a request that met a fault is a 503
``dependency_unavailable`` and nothing else ever is a 5xx.

The action routes (POST redrive and re-run, ``ACTION_ROUTES``) get hostile execution ids,
Idempotency-Key headers, bodies and keys of every scope: a key that may not act is a 403
``insufficient_scope`` whatever else the request holds, and an operate key's request is a 2xx or
a 4xx in the contract's shape, never a 5xx. They act on another workflow's records than the
listings check.

Also the repro requests of the issue that brought this suite. Case counts:
``tests/security/budget.py``.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import string
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, unquote

import pytest
from aws_lambda_powertools.event_handler.openapi.models import Parameter
from hypothesis import event, given
from hypothesis import strategies as st

from functions.query import handler as query_handler
from snsflow.authorization import ROUTES
from snsflow.deliveries import DeliveryOutcome
from snsflow.executions import execution_id
from snsflow.gateway_responses import PAGE_ROUTE
from snsflow.local.stack import LocalStack, wait_until
from snsflow.store.dynamodb import format_time
from snsflow.store.executions import ExecutionStatus
from tests.faults.injection import FaultInjector, injected_faults
from tests.security.budget import cases
from tests.support.raw_http import RawAnswer, exchange
from tests.support.sns import SnsTestSigner, TestCertificate

pytestmark = pytest.mark.e2e

WORKFLOW = "order-events"
#: Where the concurrent deliveries go, so that the order-events records stay as seeded.
BURST_WORKFLOW = "audit-log"
#: order-events runs by the message's status: "rejected" fails, anything else succeeds.
SEEDED_ORDER_STATUSES = ("accepted", "rejected", "accepted", "cancelled", "rejected", "accepted")
#: The DynamoDB calls of the read path (the authorizer's and the query function's reads).
READ_OPERATIONS = frozenset(
    f"dynamodb.{name}" for name in ("GetItem", "BatchGetItem", "Query", "Scan")
)
STABLE_CODE = re.compile(r"[a-z][a-z0-9_]*")
DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Record:
    execution_id: str
    status: str
    received_at: str


class Target:
    """The running stack, its read key, the seeded records and tokens (printed without
    secrets)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.port = int(stack.api_url.rsplit(":", 1)[1])
        self.read_key = stack.read_key
        identity = stack.sns.signing_identity
        certificate = TestCertificate(identity.certificate_pem, identity.private_key)
        prefix = f"arn:aws:sns:{stack.config.region}:{stack.config.account_id}"
        self.order_signer = SnsTestSigner(
            topic_arn=f"{prefix}:orders",
            certificate=certificate,
            cert_url=stack.sns.certificate_url,
        )
        self.audit_signer = SnsTestSigner(
            topic_arn=f"{prefix}:audit-trail",
            certificate=certificate,
            cert_url=stack.sns.certificate_url,
        )
        self.records: dict[str, Record] = {}
        #: Execution ids of BURST_WORKFLOW the action routes act on.
        self.action_records: list[str] = []
        #: Tokens the API issued, for several queries.
        self.tokens: list[str] = []

    def __repr__(self) -> str:
        return "Target(<local stack>)"

    def get(self, target: str) -> RawAnswer:
        return exchange(self.port, read_request(self, target.encode("latin-1")))

    def deliver(self, workflow_id: str, body: str) -> int:
        key = self.stack.keys[self.stack.workflow(workflow_id).api_key_name]
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE_SECONDS)
        try:
            connection.request(
                "POST",
                f"/webhooks/{workflow_id}",
                body=body.encode(),
                headers={"x-api-key": key, "Content-Type": "text/plain; charset=UTF-8"},
            )
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def listing(self, query: str) -> dict[str, Any]:
        answer = self.get(f"/workflows/{WORKFLOW}/executions?{query}")
        assert answer.status == 200, answer.body[:300]
        document = answer.json()
        assert isinstance(document, dict)
        return document


def read_request(target: Target, request_target: bytes) -> bytes:
    """A GET of ``request_target`` (sent as it is) with the read key in the header."""
    return (
        b"GET " + request_target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"x-api-key: " + target.read_key.encode() + b"\r\n\r\n"
    )


def _seed(target: Target) -> None:
    """Deliveries of order events, run to their end; then genuine tokens of a few queries."""
    for status in SEEDED_ORDER_STATUSES:
        body = target.order_signer.notification(json.dumps({"status": status, "orderId": "F"}))
        assert target.deliver(WORKFLOW, body) == 200

    def all_ended() -> dict[str, Record] | None:
        items = target.listing("limit=100")["items"]
        records = {
            item["executionId"]: Record(item["executionId"], item["status"], item["receivedAt"])
            for item in items
        }
        ended = len(records) == len(SEEDED_ORDER_STATUSES) and all(
            ExecutionStatus(r.status).is_terminal for r in records.values()
        )
        return records if ended else None

    target.records = wait_until(
        all_ended, timeout=DEADLINE_SECONDS, what="the seeded executions to end"
    )
    # The action routes' own records (a re-run adds records to their workflow).
    bodies = [target.audit_signer.notification(f"act on me {n}") for n in range(3)]
    for body in bodies:
        assert target.deliver(BURST_WORKFLOW, body) == 200
    target.action_records = [
        execution_id(BURST_WORKFLOW, json.loads(body)["MessageId"]) for body in bodies
    ]

    def acted_on_ended() -> bool:
        return all(
            ExecutionStatus(
                json.loads(target.get(f"/executions/{identifier}").body)["status"]
            ).is_terminal
            for identifier in target.action_records
        )

    wait_until(acted_on_ended, timeout=DEADLINE_SECONDS, what="the audit-log executions to end")
    for query in ("limit=1", "limit=2&status=SUCCEEDED,FAILED", "limit=1&since=2000-01-01T00:00Z"):
        token = target.listing(query)["nextToken"]
        assert isinstance(token, str)
        target.tokens.append(token)


@pytest.fixture(scope="module")
def target(local_stack: LocalStack) -> Target:
    target = Target(local_stack)
    _seed(target)
    return target


# -- values, as a client puts them in a URL -------------------------------------------------------

#: Bytes that would end the request line, the path or a query item if sent raw.
_DELIMITERS = frozenset(b" \t\r\n#&?=/")


def _raw(text: str) -> bytes:
    """UTF-8 sent as it is, but for what would break the request line or the query."""
    return b"".join(
        b"%%%02X" % byte if byte in _DELIMITERS else bytes([byte]) for byte in text.encode()
    )


_ENCODINGS: tuple[Callable[[str], bytes], ...] = (
    lambda text: quote(text, safe="").encode(),
    lambda text: quote(text, safe="!$'()*+,;:@~").encode(),  # reserved characters left raw
    lambda text: quote(text, safe="").lower().encode(),  # lower-case hex digits
    _raw,
)


def encoded(texts: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    return st.builds(lambda text, encode: encode(text), texts, st.sampled_from(_ENCODINGS))


#: Escapes that decode to no text, or to text no UTF-8 encoder would write.
_BROKEN_ESCAPES = [
    "%", "%z", "%zz", "%%", "%0", "%g0", "%00", "%C3", "%C3%28", "%ED%A0%80",
    "%F4%90%80%80", "%C0%AF", "%FF%FE", "%E2%80%AE", "%EF%BB%BF",
]  # fmt: skip

hostile_bytes = st.one_of(
    encoded(st.text(max_size=40)),
    st.binary(max_size=40).map(lambda raw: "".join(f"%{b:02X}" for b in raw).encode()),
    st.binary(max_size=20).map(lambda raw: bytes(b for b in raw if b not in _DELIMITERS)),
    st.lists(st.sampled_from(_BROKEN_ESCAPES), min_size=1, max_size=4).map(
        lambda parts: "".join(parts).encode()
    ),
    st.sampled_from([1000, 4096, 4097, 20_000, 70_000]).map(lambda n: b"x" * n),
)


def _year(year: int, style: int) -> str:
    if style == 0 or year > 9999:
        return f"{year:04d}" if year <= 9999 else f"+{year:06d}"
    return [str(year), f"{year:+05d}", f"{year:06d}"][style - 1]


@st.composite
def iso_times(draw: st.DrawFn) -> str:
    """ISO 8601 date-times right and wrong: any year, out-of-range fields, leap seconds, any
    fraction, offsets up to and past a day."""
    year = draw(
        st.sampled_from([1, 2, 999, 1000, 1969, 1970, 2026, 9998, 9999]) | st.integers(0, 99_999)
    )
    style = draw(st.sampled_from([0] * 6 + [1, 2, 3]))
    month = draw(st.sampled_from([1, 12]) | st.integers(0, 13))
    day = draw(st.sampled_from([1, 28, 31]) | st.integers(0, 32))
    hour = draw(st.sampled_from([0, 23]) | st.integers(0, 25))
    minute = draw(st.sampled_from([0, 59]) | st.integers(0, 60))
    second = draw(st.sampled_from([0, 59, 60]) | st.integers(0, 61))
    fraction = draw(
        st.just("")
        | st.text(string.digits, min_size=1, max_size=12).map(lambda d: "." + d)
        | st.text(string.digits, min_size=1, max_size=3).map(lambda d: "," + d)
    )
    separator = draw(st.sampled_from(["T"] * 5 + ["t", " ", "_"]))
    offset_hours = draw(st.sampled_from([0, 1, 14, 23]) | st.integers(0, 25))
    offset_minutes = draw(st.sampled_from([0, 1, 30, 59]) | st.integers(0, 60))
    sign = draw(st.sampled_from("+-"))
    zone = draw(
        st.sampled_from(
            [
                "Z",
                "z",
                "",
                f"{sign}{offset_hours:02d}:{offset_minutes:02d}",
                f"{sign}{offset_hours:02d}{offset_minutes:02d}",
                f"{sign}{offset_hours:02d}",
                " UTC",
                "+00:00:30",
            ]
        )
    )
    return (
        f"{_year(year, style)}-{month:02d}-{day:02d}{separator}"
        f"{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    )


#: What a time is not, though a client may think so.
_TIME_LOOKALIKES = [
    "2026-W01-1T00:00:00Z", "2026-W53-7", "2026-001T00:00:00Z", "2026-366", "20260101T000000Z",
    "2026-01-01", "00:00:00Z", "2026-01-01T24:00:00Z", "now", "today", "yesterday", "-0", "0",
    "1700000000", "1700000000000", "-62135596800", "253402300800", "1e400", "inf", "NaN",
    "P1D", "PT15M", "-P1Y", "P9999999999Y", "15m", "2h", "7d", "-1d", "9999999999999999d",
    # The repro values.
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59-00:01",
    "0001-01-01T00:00:00+00:01",
]  # fmt: skip

_ZONES = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def _fits_utc(moment: datetime) -> bool:
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


#: Any time UTC can hold, in any zone, spelled by Python's isoformat.
valid_times = encoded(
    st.datetimes(timezones=_ZONES | st.just(UTC)).filter(_fits_utc).map(datetime.isoformat)
)
hostile_times = st.one_of(
    encoded(iso_times()),
    encoded(st.sampled_from(_TIME_LOOKALIKES)),
    st.integers(-(10**30), 10**30).map(lambda n: str(n).encode()),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: quote(repr(x)).encode()),
    hostile_bytes,
)

#: Numbers a parser might take: signs, padding, other notations, other scripts' digits.
_LIMIT_LOOKALIKES = [
    "", "+5", "05", " 5", "5 ", "5.0", "5.5", "1e2", "0x10", "1_0", "\u0661\u0662", "\uff15",
    "null", "true", "Infinity", "-0", "9" * 5000, "25\x00",
]  # fmt: skip

valid_limits = st.integers(1, 100).map(lambda n: str(n).encode())
hostile_limits = st.one_of(
    st.integers(-5, 105).map(lambda n: str(n).encode()),
    st.integers(-(10**40), 10**40).map(lambda n: str(n).encode()),
    encoded(st.sampled_from(_LIMIT_LOOKALIKES)),
    hostile_bytes,
)

_STATUS_NAMES = [s.value for s in ExecutionStatus]


_ANY_CASE_STATUS = st.sampled_from(_STATUS_NAMES).flatmap(
    lambda name: st.sampled_from([name, name.lower(), name.title()])
)


def status_lists(names: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """Statuses joined by any separators, with repeats."""
    return encoded(
        st.builds(
            lambda separator, listed: separator.join(listed),
            st.sampled_from([",", ", ", " , ", ",,"]),
            st.lists(names, max_size=8),
        )
    )


#: Known statuses in any case; blanks are allowed.
valid_statuses = status_lists(_ANY_CASE_STATUS | st.sampled_from(["", " "]))
hostile_statuses = st.one_of(
    status_lists(
        _ANY_CASE_STATUS | st.sampled_from(["DONE", "FAILED ", "TIMED-OUT", "*", "ALL", "\x00"])
    ),
    st.integers(1, 5000).map(lambda n: b"," * n),
    st.integers(1, 500).map(lambda n: b"FAILED," * n),
    hostile_bytes,
)


_OUTCOMES = [outcome.value for outcome in DeliveryOutcome]
#: A delivery outcome in any case, with blanks around it (or none at all).
valid_outcomes = encoded(
    st.builds(
        lambda name, upper, pad: pad + (name.upper() if upper else name) + pad,
        st.sampled_from(_OUTCOMES),
        st.booleans(),
        st.sampled_from(["", " "]),
    )
    | st.sampled_from(["", " "])
)
hostile_outcomes = st.one_of(
    encoded(st.sampled_from(["refused,accepted", "REFUSED!", "failed", "all", "*", "\x00"])),
    st.integers(1, 5000).map(lambda n: b"r" * n),
    hostile_bytes,
)


def _genuine_tokens(target: Target) -> st.SearchStrategy[str]:
    return st.sampled_from(target.tokens)


def valid_tokens(target: Target) -> st.SearchStrategy[bytes]:
    """Tokens the API issued (for this query or another one)."""
    return _genuine_tokens(target).map(str.encode)


def hostile_tokens(target: Target) -> st.SearchStrategy[bytes]:
    genuine = _genuine_tokens(target)

    def tampered(token: str, at: int, replacement: str) -> str:
        at %= len(token)
        return token[:at] + replacement + token[at + 1 :]

    return st.one_of(
        st.builds(tampered, genuine, st.integers(0, 10_000), st.sampled_from("AB._-=+/x")).map(
            str.encode
        ),
        st.builds(lambda token, cut: token[:cut], genuine, st.integers(0, 300)).map(str.encode),
        genuine.map(lambda token: (token + "=").encode()),
        genuine.map(lambda token: quote(token, safe="").encode()),
        st.builds(
            lambda body, mac: f"1.{body}.{mac}".encode(),
            st.text(string.ascii_letters + string.digits + "-_", max_size=200),
            st.text(string.ascii_letters + string.digits + "-_", max_size=50),
        ),
        st.sampled_from([4096, 4097, 10_000]).map(lambda n: b"1." + b"A" * (n - 2)),
        hostile_bytes,
    )


def valid_workflow_ids(target: Target) -> st.SearchStrategy[bytes]:
    return st.sampled_from(sorted(w.id for w in target.stack.workflows)).map(str.encode)


def hostile_workflow_ids(target: Target) -> st.SearchStrategy[bytes]:
    del target
    return st.one_of(
        st.sampled_from(["no-such-workflow", "a" * 64, "a" * 65]).map(str.encode),
        encoded(
            st.sampled_from(
                ["Order-Events", "order-events\n", " order-events", "..", ".", "order.events"]
            )
        ),
        st.just(b"order%2Devents"),
        hostile_bytes,
    )


def valid_execution_ids(target: Target) -> st.SearchStrategy[bytes]:
    return st.sampled_from(sorted(target.records)).map(str.encode)


def hostile_execution_ids(target: Target) -> st.SearchStrategy[bytes]:
    known = st.sampled_from(sorted(target.records))
    return st.one_of(
        known.map(lambda identifier: (identifier[:-1] + "x").encode()),
        known.map(lambda identifier: identifier.upper().encode()),
        known.map(lambda identifier: quote(identifier, safe="").replace(".", "%2E").encode()),
        st.builds(
            lambda workflow, name: f"{workflow}.{name}".encode(),
            st.sampled_from([WORKFLOW, "no-such-workflow", ""]),
            st.text(string.ascii_letters + string.digits + "_-", max_size=90),
        ),
        st.just(execution_id(WORKFLOW, "00000000-0000-0000-0000-000000000000").encode()),
        hostile_bytes,
    )


# -- the read routes and their parameters ----------------------------------------------------------

ValueStrategy = Callable[[Target], st.SearchStrategy[bytes]]


def _fixed(strategy: st.SearchStrategy[bytes]) -> ValueStrategy:
    return lambda _target: strategy


@dataclass(frozen=True)
class Values:
    """A parameter's values as sent in a URL: ones the API accepts (alone: in combination they
    may still be refused, e.g. ``since`` after ``until``), and hostile ones."""

    valid: ValueStrategy
    hostile: ValueStrategy


@dataclass(frozen=True)
class ReadRoute:
    """How to fuzz one route: the values of each path parameter and query parameter."""

    path_parameters: Mapping[str, Values]
    query_parameters: Mapping[str, Values]


_TIMES = Values(_fixed(valid_times), _fixed(hostile_times))
_WORKFLOW_ID = Values(valid_workflow_ids, hostile_workflow_ids)

#: Every read route, by (method, resource) as in ``snsflow.authorization.ROUTES``. A route added
#: there, or a parameter added to the query function, fails the two tests below until it has
#: its values here.
READ_ROUTES: dict[tuple[str, str], ReadRoute] = {
    PAGE_ROUTE: ReadRoute({}, {}),
    ("GET", "/workflows"): ReadRoute({}, {}),
    ("GET", "/workflows/{workflowId}"): ReadRoute({"workflowId": _WORKFLOW_ID}, {}),
    ("GET", "/workflows/{workflowId}/executions"): ReadRoute(
        {"workflowId": _WORKFLOW_ID},
        {
            "status": Values(_fixed(valid_statuses), _fixed(hostile_statuses)),
            "since": _TIMES,
            "until": _TIMES,
            "limit": Values(_fixed(valid_limits), _fixed(hostile_limits)),
            "nextToken": Values(valid_tokens, hostile_tokens),
        },
    ),
    ("GET", "/workflows/{workflowId}/deliveries"): ReadRoute(
        {"workflowId": _WORKFLOW_ID},
        {
            "outcome": Values(_fixed(valid_outcomes), _fixed(hostile_outcomes)),
            "since": _TIMES,
            "until": _TIMES,
            "limit": Values(_fixed(valid_limits), _fixed(hostile_limits)),
            "nextToken": Values(valid_tokens, hostile_tokens),
        },
    ),
    ("GET", "/executions/{executionId}"): ReadRoute(
        {"executionId": Values(valid_execution_ids, hostile_execution_ids)}, {}
    ),
    ("GET", "/executions/{executionId}/history"): ReadRoute(
        {"executionId": Values(valid_execution_ids, hostile_execution_ids)},
        {"nextToken": Values(valid_tokens, hostile_tokens)},
    ),
    ("GET", "/me"): ReadRoute({}, {}),
}
PATH_PARAMETER_NAMES = {name for route in READ_ROUTES.values() for name in route.path_parameters}


def _shape(resource: str) -> str:
    """A resource with its parameters' names left out: ``/workflows/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", resource)


def test_every_read_route_is_fuzzed() -> None:
    read_routes = {(r.http_method, r.resource) for r in ROUTES if r.http_method == "GET"}

    assert read_routes | {PAGE_ROUTE} == set(READ_ROUTES), "add the route to READ_ROUTES"


def test_every_parameter_of_the_read_routes_is_fuzzed() -> None:
    schema = query_handler.app.get_openapi_schema()
    declared: dict[str, tuple[int, set[str]]] = {}
    for path, item in (schema.paths or {}).items():
        if item.get is None:
            continue  # an action route (ACTION_ROUTES)
        listed = item.get.parameters or []
        parameters = [(p.name, p.in_.value) for p in listed if isinstance(p, Parameter)]
        in_path = len([name for name, where in parameters if where == "path"])
        declared[_shape(path)] = (in_path, {name for name, where in parameters if where == "query"})
    fuzzed = {
        _shape(resource): (len(route.path_parameters), set(route.query_parameters))
        for (_method, resource), route in READ_ROUTES.items()
    }

    assert declared == fuzzed, "give every parameter of the query function a strategy"


# -- requests and what every answer must be -------------------------------------------------------


@dataclass(frozen=True)
class ReadCase:
    resource: str
    request_target: bytes
    #: Query parameter names as the gateway decodes them.
    sent_names: frozenset[str]


_WEIGHTED_RESOURCES = sorted(
    resource
    for (_method, resource), route in READ_ROUTES.items()
    for _ in range(1 + len(route.query_parameters))
)
_DECOY_NAMES = ["Limit", "STATUS", "next_token", "nexttoken", "foo", "", "%00", "x-api-key"]


def draw_case(target: Target, data: st.DataObject, hostile_share: float) -> ReadCase:
    """A request to a read route; each value is hostile with probability ``hostile_share``."""
    draw = data.draw

    def value(values: Values) -> bytes:
        hostile = draw(st.floats(0, 1, exclude_max=True)) < hostile_share
        return draw((values.hostile if hostile else values.valid)(target))

    # Each route as often as it has query parameters, plus one.
    resource = draw(st.sampled_from(_WEIGHTED_RESOURCES))
    route = READ_ROUTES[("GET", resource)]
    path = resource
    for name, values in route.path_parameters.items():
        path = path.replace("{" + name + "}", value(values).decode("latin-1"))
    items: list[bytes] = []
    names: set[str] = set()
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 9))
        if kind <= 6 and route.query_parameters:
            name = draw(st.sampled_from(sorted(route.query_parameters)))
            items.append(name.encode() + b"=" + value(route.query_parameters[name]))
        elif kind <= 7 and draw(st.floats(0, 1, exclude_max=True)) < hostile_share:
            name = draw(st.sampled_from(_DECOY_NAMES) | st.text(max_size=10))
            items.append(quote(name, safe="%").encode() + b"=" + draw(hostile_bytes))
        elif kind == 8 and route.query_parameters:
            name = draw(st.sampled_from(sorted(route.query_parameters)))
            items.append(name.encode())  # no "=": an empty value
        else:
            items.append(b"")
            continue
        names.add(unquote(items[-1].split(b"=", 1)[0].decode("latin-1")))
    query = b"&".join(items)
    request_target = path.encode("latin-1") + (b"?" + query if query else b"")
    return ReadCase(resource, request_target, frozenset(names))


def assert_answered_in_contract(case: ReadCase, answer: RawAnswer) -> None:
    assert not answer.reset, case
    assert answer.status < 500, (answer.status, answer.body[:300])
    if case.resource == PAGE_ROUTE[1] and answer.status == 200:
        assert answer.content_type.startswith("text/html"), answer.headers
        return
    if answer.status < 300:
        assert answer.content_type == "application/json", answer.headers
        assert isinstance(answer.json(), dict)
        return
    assert 400 <= answer.status < 500, answer.status
    error = answer.error()
    assert STABLE_CODE.fullmatch(error["code"]), error
    if error["code"] == "invalid_parameter":
        parameter = error.get("parameter")
        assert parameter in case.sent_names | PATH_PARAMETER_NAMES, (error, case)
        assert f"'{parameter}'" in error["message"], error


# -- the fuzz tests --------------------------------------------------------------------------------


@cases("read_requests")
@given(data=st.data())
def test_any_read_request_is_a_2xx_or_a_4xx_naming_the_parameter(
    target: Target, data: st.DataObject
) -> None:
    # From nearly valid requests, which reach the records, to wholly hostile ones.
    case = draw_case(target, data, hostile_share=data.draw(st.sampled_from([0.1, 0.3, 0.6, 1.0])))

    answer = exchange(target.port, read_request(target, case.request_target))

    event(f"{case.resource} {answer.status}")  # shown by --hypothesis-show-statistics
    assert_answered_in_contract(case, answer)


def _in_zone(moment: datetime, minutes: int) -> datetime | None:
    """``moment`` as the clock of a zone ``minutes`` east of UTC shows it, if it can."""
    try:
        return moment.astimezone(timezone(timedelta(minutes=minutes)))
    except OverflowError:
        return None


def instants(records: list[Record]) -> st.SearchStrategy[datetime]:
    """Instants to the millisecond: a record's own, one beside it, or the calendar's ends."""
    received = [datetime.fromisoformat(r.received_at) for r in records]
    return st.builds(
        lambda at, step: at + timedelta(milliseconds=step),
        st.sampled_from(received),
        st.sampled_from([-1, 0, 0, 1]),
    ) | st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(300, 1, 1, tzinfo=UTC),  # stored as "0300-...", not "300-..." (> "2026-")
            datetime(2000, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
        ]
    )


def spelled(moment: datetime, data: st.DataObject) -> str:
    """An ISO 8601 spelling of ``moment`` in some zone (UTC where that one cannot show it)."""
    draw = data.draw
    minutes = draw(st.sampled_from([0, 60, -300, 14 * 60, -14 * 60, 23 * 60 + 59, -1439]))
    local = _in_zone(moment, minutes) or moment
    text = local.isoformat(timespec=draw(st.sampled_from(["milliseconds", "microseconds"])))
    if local.utcoffset() == timedelta(0) and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    return quote(text, safe="")


@cases("read_requests_valid")
@given(data=st.data())
def test_a_listing_with_valid_parameters_is_exactly_the_matching_records(
    target: Target, data: st.DataObject
) -> None:
    draw = data.draw
    records = list(target.records.values())
    wanted = draw(st.sets(st.sampled_from(_STATUS_NAMES)))
    limit = draw(st.integers(1, 100))
    query = [f"limit={limit}"]
    if wanted:
        query.append("status=" + ",".join(draw(st.permutations([s.lower() for s in wanted]))))
    bounds = sorted(draw(st.lists(instants(records), max_size=2)))
    names = ["since", "until"] if len(bounds) == 2 else [draw(st.sampled_from(["since", "until"]))]
    window = dict(zip(names, bounds, strict=False))
    query += [f"{name}={spelled(moment, data)}" for name, moment in window.items()]
    since = format_time(window["since"]) if "since" in window else ""
    until = format_time(window["until"]) if "until" in window else "~"
    matching = {
        r.execution_id
        for r in records
        if (not wanted or r.status in wanted) and since <= r.received_at <= until
    }

    page = target.listing("&".join(query))

    listed = [item["executionId"] for item in page["items"]]
    assert len(listed) == min(limit, len(matching)), (query, page)
    assert set(listed) <= matching
    times = [item["receivedAt"] for item in page["items"]]
    assert times == sorted(times, reverse=True)
    assert (page["nextToken"] is None) == (len(matching) <= limit)


class _RequestThreadFaults(FaultInjector):
    """Faults only in the threads serving HTTP requests: the stack's own background work (status
    events, the reconciler) reads DynamoDB too, and must neither fail nor use up the faults."""

    def _strikes(self, operation: str, probability: float) -> bool:
        serving = "process_request" in threading.current_thread().name
        return serving and super()._strikes(operation, probability)


@cases("read_requests_dynamodb_faults")
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.3, 1.0]))
def test_a_read_request_that_meets_a_dynamodb_fault_is_a_503_never_a_500(
    target: Target, data: st.DataObject, seed: int, rate: float
) -> None:
    # Mostly valid requests: those reach DynamoDB.
    case = draw_case(target, data, hostile_share=0.1)
    injector = _RequestThreadFaults(random.Random(seed), rate, operations=READ_OPERATIONS)

    with injected_faults(injector):
        answer = exchange(target.port, read_request(target, case.request_target))

    event(f"fault in {injector.injected[0].operation}" if injector.injected else "no fault")
    if injector.injected:
        assert answer.status == 503, (answer.status, answer.body[:300], injector.injected)
        error = answer.error()
        assert error["code"] == "dependency_unavailable"
        assert not answer.reset
    else:
        assert_answered_in_contract(case, answer)


# -- the repro requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=0001-01-01T00:00:00%2B14:00", "since"),
        ("until=9999-12-31T23:59:59-14:00", "until"),
        ("since=9999-12-31T23:59:59-00:01", "since"),
        ("until=0001-01-01T00:00:00%2B00:01", "until"),
    ],
)
def test_a_time_utc_cannot_hold_is_a_400_naming_it(
    target: Target, query: str, parameter: str
) -> None:
    answer = target.get(f"/workflows/{WORKFLOW}/executions?{query}")

    assert answer.status == 400
    error = answer.error()
    assert error["code"] == "invalid_parameter"
    assert error["parameter"] == parameter
    assert "out of range" in error["message"]


def _get_with_http_client(target: Target, path: str, headers: dict[str, str]) -> RawAnswer:
    connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=DEADLINE_SECONDS)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return RawAnswer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
            reset=False,
        )
    finally:
        connection.close()


def test_a_100k_api_key_header_is_a_431_in_the_error_shape(target: Target) -> None:
    answer = _get_with_http_client(target, "/workflows", {"x-api-key": "k" * 100_000})

    assert answer.status == 431
    assert answer.error()["code"] == "bad_request"


def test_a_100k_url_is_a_414_in_the_error_shape(target: Target) -> None:
    path = f"/workflows/{WORKFLOW}/executions?status=" + "FAILED," * (100_000 // 7)

    answer = _get_with_http_client(target, path, {"x-api-key": target.read_key})

    assert answer.status == 414
    assert answer.error()["code"] == "bad_request"


def test_50_concurrent_deliveries_are_all_answered_and_recorded(target: Target) -> None:
    bodies = [target.audit_signer.notification(f"burst {n}") for n in range(50)]
    together = threading.Barrier(len(bodies))
    statuses: dict[int, int] = {}
    failures: list[OSError] = []

    def deliver(index: int) -> None:
        together.wait()
        try:
            statuses[index] = target.deliver(BURST_WORKFLOW, bodies[index])
        except OSError as error:  # a reset, a refused or timed-out connection
            failures.append(error)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(statuses.values()) == [200] * len(bodies)
    wanted = {execution_id(BURST_WORKFLOW, json.loads(body)["MessageId"]) for body in bodies}
    for identifier in wanted:
        assert target.get(f"/executions/{identifier}").status == 200


# -- the action routes ----------------------------------------------------------------------------

#: Every route that acts (POST, operate keys), as in ``snsflow.authorization.ROUTES``.
ACTION_ROUTES = ("/executions/{executionId}/redrive", "/executions/{executionId}/rerun")
_HEADER_SAFE = st.binary(max_size=60).map(lambda raw: bytes(b for b in raw if b not in b"\r\n"))


def test_every_action_route_is_fuzzed() -> None:
    acting = {
        r.resource for r in ROUTES if r.http_method == "POST" and "{workflowId}" not in r.resource
    }

    assert acting == set(ACTION_ROUTES), "add the route to ACTION_ROUTES"


@st.composite
def action_requests(
    draw: st.DrawFn, target: Target, *, operate_only: bool = False
) -> tuple[str, bytes]:
    """(the key's scope, a whole POST to an action route). ``operate_only``: requests an
    operate key makes to the seeded executions (and their re-runs), which reach the actions."""
    known = st.sampled_from(target.action_records)
    valid_ids = st.one_of(known.map(str.encode), known.map(lambda i: (i + ".r1").encode()))
    identifier = draw(
        valid_ids
        if operate_only
        else st.one_of(
            valid_ids,
            known.map(lambda i: (i[:-1] + "x").encode()),
            hostile_execution_ids(target),
        )
    )
    resource = draw(st.sampled_from(ACTION_ROUTES))
    path = resource.replace("{executionId}", identifier.decode("latin-1")).encode("latin-1")
    scopes = ["operate"] if operate_only else ["operate"] * 3 + ["read", "webhook", "none"]
    scope = draw(st.sampled_from(scopes))
    keys = {
        "operate": target.stack.operate_key,
        "read": target.read_key,
        "webhook": target.stack.keys[target.stack.workflow(WORKFLOW).api_key_name],
    }
    headers = [b"Host: 127.0.0.1"]
    if scope in keys:
        headers.append(b"x-api-key: " + keys[scope].encode())
    uuids = st.uuids().map(lambda u: str(u).encode())
    odd = st.sampled_from([b"", b" ", b"k" * 255, b"k" * 256, b"\xff\xfe", b"a b"])
    for _ in range(draw(st.integers(0, 1 if operate_only else 2))):
        value = draw(uuids if operate_only else st.one_of(uuids, odd, _HEADER_SAFE))
        headers.append(b"Idempotency-Key: " + value)
    body = draw(
        st.just(b"")
        if operate_only
        else st.one_of(st.just(b""), st.binary(max_size=200), st.just(b"{}"))
    )
    headers.append(b"Content-Length: " + str(len(body)).encode())
    request = b"POST " + path + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body
    return scope, request


@cases("action_requests")
@given(data=st.data())
def test_any_action_request_is_a_2xx_or_a_4xx_and_only_operate_keys_act(
    target: Target, data: st.DataObject
) -> None:
    scope, request = data.draw(action_requests(target), label="request")

    answer = exchange(target.port, request)

    event(f"{scope} {answer.status}")
    assert not answer.reset
    assert answer.status < 500, (answer.status, answer.body[:300])
    assert answer.content_type == "application/json", answer.headers
    if answer.status >= 400:
        error = answer.error()
        assert STABLE_CODE.fullmatch(error["code"]), error
        if error["code"] == "invalid_parameter":
            assert error["parameter"] in ("executionId", "Idempotency-Key"), error
    if answer.status >= 400 and answer.error()["code"] in ("bad_request", "not_found"):
        # The gateway refused the request line itself (raw bytes in it) or matched no route
        # (an id holding a '/', say): no key was looked at.
        return
    if scope in ("read", "webhook"):
        assert (answer.status, answer.error()["code"]) == (403, "insufficient_scope")
    elif scope == "none":
        assert answer.status == 401


#: The 503s that say to retry: a dependency failed, or (its kind) an execution did not start.
RETRY_LATER_CODES = frozenset({"dependency_unavailable", "execution_start_failed"})
#: What the action routes call: the authorizer's and the query function's DynamoDB requests and
#: the Step Functions calls of a history, a redrive and a re-run.
ACTION_OPERATIONS = READ_OPERATIONS | frozenset(
    {
        "dynamodb.UpdateItem",
        "dynamodb.PutItem",
        "dynamodb.TransactWriteItems",
        "sfn.DescribeExecution",
        "sfn.RedriveExecution",
        "sfn.StartExecution",
        "sfn.GetExecutionHistory",
    }
)


@cases("action_requests_faults")
@given(data=st.data(), seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.2, 0.5, 1.0]))
def test_an_action_that_meets_a_fault_is_a_503_never_a_500(
    target: Target, data: st.DataObject, seed: int, rate: float
) -> None:
    _scope, request = data.draw(action_requests(target, operate_only=True), label="request")
    injector = _RequestThreadFaults(random.Random(seed), rate, operations=ACTION_OPERATIONS)

    with injected_faults(injector):
        answer = exchange(target.port, request)

    event(f"{answer.status} after {len(injector.injected)} fault(s)")
    assert not answer.reset
    if answer.status >= 500:
        # Only a fault may make a 5xx, and only the one that says to retry. (Some faults end in
        # a success: a key's use that could not be noted, a RUNNING mark left to the events.)
        assert injector.injected, (answer.status, answer.body[:300])
        assert answer.status == 503
        assert answer.error()["code"] in RETRY_LATER_CODES
    elif answer.status >= 400:
        assert STABLE_CODE.fullmatch(answer.error()["code"])
