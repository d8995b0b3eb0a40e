"""Every input SNS-PROTOCOL.md says must be rejected, and every way the firewall and the
authorizer deny, POSTed over HTTP to the local stack's gateway: the status and error code SNS
(or the caller) sees, and nothing started.

The message cases are the unit-level tables of ``tests/unit/sns/test_rejections.py``, built by
the local SNS's own signing identity with its certificate URL (the one the local stack trusts)
and a current timestamp. What cannot be reproduced over HTTP locally is said where it is left
out: certificate *name* checks are skipped for the local SNS's trusted URL prefix by design
(docs/local-stack.md), so those stay covered at the event level only.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import snsflow.webhook  # noqa: F401 - registers the webhook's own error codes
from snsflow.errors import SnsflowError
from snsflow.executions import execution_name
from snsflow.keys import KeyScope, create_key, revoke_keys, rotate_key
from snsflow.local.sns.signing import SigningIdentity
from snsflow.local.stack import LocalStack, wait_until
from snsflow.settings import WebhookSettings
from snsflow.sns import MalformedMessageError
from snsflow.sns.verifier import FUTURE_SKEW
from tests.e2e.conftest import (
    DEADLINE_SECONDS,
    Driver,
    HttpAnswer,
    OutboundRecorder,
    http_request,
)
from tests.support.sns import (
    VALID_FROM,
    VALID_UNTIL,
    SnsTestSigner,
    TestCertificate,
    issue_certificate,
    rsa_key,
)
from tests.unit.sns import test_rejections as unit

pytestmark = pytest.mark.e2e

ORDERS = "order-events"
AUDIT = "audit-log"


def _status_of_codes() -> dict[str, int]:
    """Error code → HTTP status, from the error hierarchy itself (every subclass)."""
    found: dict[str, int] = {}
    pending: list[type[SnsflowError]] = [SnsflowError]
    while pending:
        error = pending.pop()
        found.setdefault(error.code, error.http_status)
        pending.extend(error.__subclasses__())
    return found


STATUS_OF = _status_of_codes()


def _default(setting: str) -> int:
    """A webhook setting as the local stack leaves it (it sets none of these)."""
    value = WebhookSettings.model_fields[setting].default
    assert isinstance(value, int)
    return value


def topic_arn(stack: LocalStack, name: str = "orders-http") -> str:
    return f"arn:aws:sns:{stack.config.region}:{stack.config.account_id}:{name}"


@pytest.fixture
def signer(local_stack: LocalStack) -> SnsTestSigner:
    """Signs as the local SNS does: its key, its certificate URL (trusted by the stack)."""
    identity = local_stack.sns.signing_identity
    return SnsTestSigner(
        topic_arn=topic_arn(local_stack),
        certificate=TestCertificate(identity.certificate_pem, identity.private_key),
        cert_url=local_stack.sns.certificate_url,
    )


@pytest.fixture(autouse=True)
def signed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The unit tables sign at a fixed instant; over HTTP the webhook's clock is real."""
    now = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(unit, "SIGNED_AT", now)
    return now


def deliver(
    stack: LocalStack,
    body: str | bytes,
    *,
    workflow: str = ORDERS,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> HttpAnswer:
    key = key or stack.keys[stack.workflow(workflow).api_key_name]
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return http_request(
        stack.api_url,
        "POST",
        f"/webhooks/{workflow}?x-api-key={urllib.parse.quote(key)}",
        raw,
        {"Content-Type": "text/plain; charset=UTF-8", **(headers or {})},
    )


def expected_code(case: unit.Case, body: str | bytes) -> str:
    """The unit case's code, or the webhook's advice when a malformed body is no SNS envelope
    at all (most likely raw delivery without its header: snsflow.webhook._parse)."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    malformed = issubclass(_error_class(case.code), MalformedMessageError)
    if malformed and case.code != "message_too_large" and b'"SignatureVersion"' not in raw:
        return "raw_delivery_not_supported"
    return case.code


def _error_class(code: str) -> type[SnsflowError]:
    pending: list[type[SnsflowError]] = [SnsflowError]
    while pending:
        error = pending.pop()
        if error.code == code:
            return error
        pending.extend(error.__subclasses__())
    raise LookupError(code)


def assert_refused(answer: HttpAnswer, code: str) -> None:
    assert (answer.status, answer.code) == (STATUS_OF[code], code), answer.body[:300]


@pytest.fixture
def no_runs(driver: Driver) -> Iterator[None]:
    """Nothing any test of this module refuses may start an execution."""
    before = {name for wf in (ORDERS, AUDIT) for name in driver.step_functions_runs(wf)}
    yield
    after = {name for wf in (ORDERS, AUDIT) for name in driver.step_functions_runs(wf)}
    assert after == before


# -- body --------------------------------------------------------------------------------------

BODY_CASES = [case for case in unit.BODY_CASES if not case.lambda_format]


@pytest.mark.parametrize("case", BODY_CASES, ids=lambda case: case.id)
def test_malformed_body_is_refused_over_http(
    local_stack: LocalStack, signer: SnsTestSigner, case: unit.Case, no_runs: None
) -> None:
    body = case.body(signer)
    answer = deliver(local_stack, body)
    assert_refused(answer, expected_code(case, body))


@pytest.mark.parametrize(
    "header", ["x-amz-sns-rawdelivery", "X-Amz-Sns-Rawdelivery"], ids=["lower", "mixed"]
)
def test_raw_delivery_is_refused_over_http_with_advice(
    local_stack: LocalStack, signer: SnsTestSigner, header: str, no_runs: None
) -> None:
    answer = deliver(local_stack, '{"order": 17}', headers={header: "true"})
    assert_refused(answer, "raw_delivery_not_supported")
    assert "RawMessageDelivery off" in answer.json["error"]["message"]


def test_body_over_the_webhook_limit_is_refused_over_http(
    local_stack: LocalStack, no_runs: None
) -> None:
    limit = _default("max_body_bytes")
    answer = deliver(local_stack, b"{" + b" " * limit + b"}")
    assert_refused(answer, "message_too_large")


# -- signature ---------------------------------------------------------------------------------

#: The unit table alters Timestamp to a fixed 2031 instant; here it is altered by one second.
SIGNATURE_CASES = [
    case for case in unit.SIGNATURE_CASES if not case.id.endswith("-Timestamp-altered")
]


@pytest.mark.parametrize("case", SIGNATURE_CASES, ids=lambda case: case.id)
def test_message_without_a_valid_signature_is_refused_over_http(
    local_stack: LocalStack, signer: SnsTestSigner, case: unit.Case, no_runs: None
) -> None:
    body = case.body(signer)
    assert_refused(deliver(local_stack, body), expected_code(case, body))


@pytest.mark.parametrize("kind", sorted(unit.TYPES))
def test_signed_timestamp_altered_by_one_second_is_refused_over_http(
    local_stack: LocalStack, signer: SnsTestSigner, kind: str, signed_now: datetime, no_runs: None
) -> None:
    fields = unit.signed(signer, kind)
    fields["Timestamp"] = (signed_now + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    answer = deliver(local_stack, json.dumps(fields))
    assert_refused(answer, "signature_mismatch")


# -- certificate URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", unit.REJECTED_CERTIFICATE_URLS.values(), ids=unit.REJECTED_CERTIFICATE_URLS.keys()
)
def test_certificate_url_outside_sns_is_refused_over_http_before_any_fetch(
    local_stack: LocalStack,
    signer: SnsTestSigner,
    url: str,
    outbound: OutboundRecorder,
    no_runs: None,
) -> None:
    body = unit.changed(SigningCertURL=url)(signer)
    answer = deliver(local_stack, body)
    assert_refused(answer, "certificate_url_rejected")
    assert outbound.to_port(local_stack.sns.port) == []
    assert outbound.not_to(aws_port(local_stack)) == []


def aws_port(stack: LocalStack) -> int:
    return urllib.parse.urlsplit(stack.aws_endpoint).port or 0


# -- certificate -------------------------------------------------------------------------------
# Served for real by the local SNS (its HTTP server serves the identity's certificate at a name
# derived from the content), under the prefix the stack trusts. Left out: the name cases of
# the unit table (trusted local URLs skip the name check by design).

CERTIFICATE_FORMAT_CASES = {
    name: build
    for name, (build, code) in unit.CERTIFICATE_CASES.items()
    if code == "certificate_invalid"
}


def _served_certificate(
    monkeypatch: pytest.MonkeyPatch, stack: LocalStack, pem: bytes
) -> SnsTestSigner:
    """The local SNS serves ``pem``; a signer whose messages point at it (signed by the key of
    the test certificates)."""
    crafted = SigningIdentity(rsa_key(), pem)
    monkeypatch.setattr(stack.sns, "signing_identity", crafted)
    return SnsTestSigner(
        topic_arn=topic_arn(stack),
        certificate=TestCertificate(pem, rsa_key()),
        cert_url=f"{stack.sns.base_url}/{crafted.certificate_file_name}",
    )


@pytest.mark.parametrize(
    "build", CERTIFICATE_FORMAT_CASES.values(), ids=CERTIFICATE_FORMAT_CASES.keys()
)
def test_unacceptable_certificate_file_is_refused_over_http(
    local_stack: LocalStack,
    monkeypatch: pytest.MonkeyPatch,
    build: Callable[[SnsTestSigner], Any],
    outbound: OutboundRecorder,
    no_runs: None,
) -> None:
    template = SnsTestSigner()
    pem = build(template).files[template.cert_url]
    signer = _served_certificate(monkeypatch, local_stack, pem)
    answer = deliver(local_stack, unit.changed()(signer))
    assert_refused(answer, "certificate_invalid")
    assert outbound.to_port(local_stack.sns.port)  # it was fetched, over HTTP


@pytest.mark.parametrize(
    ("not_before", "not_after", "code"),
    [
        (VALID_FROM, datetime.now(UTC) - timedelta(minutes=5), "certificate_expired"),
        (datetime.now(UTC) + timedelta(days=1), VALID_UNTIL, "certificate_not_yet_valid"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_certificate_outside_its_validity_is_refused_over_http(
    local_stack: LocalStack,
    monkeypatch: pytest.MonkeyPatch,
    not_before: datetime,
    not_after: datetime,
    code: str,
    no_runs: None,
) -> None:
    pem = issue_certificate(not_before=not_before, not_after=not_after).pem
    signer = _served_certificate(monkeypatch, local_stack, pem)
    answer = deliver(local_stack, unit.changed()(signer))
    assert_refused(answer, code)


def test_missing_certificate_file_is_503_so_that_sns_retries(
    local_stack: LocalStack, signer: SnsTestSigner, no_runs: None
) -> None:
    missing = f"{local_stack.sns.base_url}/SimpleNotificationService-{'0' * 32}.pem"
    answer = deliver(local_stack, unit.resigned(SigningCertURL=missing)(signer))
    assert_refused(answer, "certificate_unavailable")


# -- semantics ---------------------------------------------------------------------------------

UNREADABLE_TIMESTAMPS = [case for case in unit.TIMESTAMP_CASES if case.code == "invalid_timestamp"]


@pytest.mark.parametrize("case", UNREADABLE_TIMESTAMPS, ids=lambda case: case.id)
def test_unreadable_timestamp_is_refused_over_http(
    local_stack: LocalStack, signer: SnsTestSigner, case: unit.Case, no_runs: None
) -> None:
    assert_refused(deliver(local_stack, case.body(signer)), case.code)


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (-timedelta(seconds=_default("max_message_age_seconds") + 60), "stale_timestamp"),
        (FUTURE_SKEW + timedelta(minutes=1), "future_timestamp"),
    ],
    ids=["older-than-window", "in-the-future"],
)
def test_timestamp_outside_the_window_is_refused_over_http(
    local_stack: LocalStack,
    signer: SnsTestSigner,
    offset: timedelta,
    code: str,
    no_runs: None,
) -> None:
    answer = deliver(local_stack, signer.notification(timestamp=datetime.now(UTC) + offset))
    assert_refused(answer, code)


@pytest.mark.parametrize("kind", ["notification", "subconf"])
def test_topic_the_workflow_does_not_allow_is_403_and_never_confirmed(
    local_stack: LocalStack,
    signer: SnsTestSigner,
    kind: str,
    outbound: OutboundRecorder,
    driver: Driver,
    no_runs: None,
) -> None:
    body = json.dumps(unit.signed(signer, kind))  # orders-http: not an audit-* topic
    answer = deliver(local_stack, body, workflow=AUDIT)
    assert_refused(answer, "topic_not_allowed")
    assert outbound.to_port(local_stack.sns.port) == []
    assert driver.subscription_status(AUDIT, signer.topic_arn) is None


def test_unsubscribe_confirmation_is_recorded_and_its_subscribe_url_never_visited(
    local_stack: LocalStack, signer: SnsTestSigner, outbound: OutboundRecorder, no_runs: None
) -> None:
    token = "ab" * 64
    resubscribe = (
        f"{local_stack.sns.base_url}/?Action=ConfirmSubscription"
        f"&TopicArn={signer.topic_arn}&Token={token}"
    )
    body = signer.unsubscribe_confirmation(token=token, subscribe_url=resubscribe)
    answer = deliver(local_stack, body)
    assert (answer.status, answer.json["status"]) == (200, "unsubscribed")
    assert outbound.to_port(local_stack.sns.port) == []


def test_duplicate_message_id_is_200_and_runs_once(
    local_stack: LocalStack, signer: SnsTestSigner, driver: Driver
) -> None:
    body = signer.notification('{"orderId": "H-1", "status": "accepted"}')
    message_id = json.loads(body)["MessageId"]

    first, second = deliver(local_stack, body), deliver(local_stack, body)

    assert (first.status, first.json["status"]) == (200, "accepted")
    assert (second.status, second.json["status"], second.json["deliveries"]) == (
        200,
        "duplicate",
        2,
    )
    assert driver.step_functions_runs(ORDERS).count(execution_name(message_id)) == 1


# -- the authorizer ----------------------------------------------------------------------------


class Keys:
    """Keys in every state the authorizer tells apart (values never printed), made as
    ``snsflow keys`` makes them: the firewall's key-prefix set follows."""

    def __init__(self, stack: LocalStack) -> None:
        store = stack.key_store()
        now = datetime.now(UTC)
        self.prod = stack.keys["prod-sns"]
        self.audit = stack.keys["audit-sns"]
        self.read = stack.read_key
        self.revoked = create_key(store, "http-revoked", KeyScope.WEBHOOK, now).value
        revoke_keys(store, "http-revoked", now)
        self.expired = create_key(store, "http-rotated", KeyScope.WEBHOOK, now).value
        self.rotated = rotate_key(store, "http-rotated", timedelta(0), now).value
        self.unbound = create_key(store, "http-unbound", KeyScope.WEBHOOK, now).value
        stack.sync_firewall()  # as the revoke and rotate commands do
        wait_until(  # the gateway's copy of the set is refreshed every half second
            lambda: self._reaches_the_authorizer(stack, self["unbound"]),
            timeout=DEADLINE_SECONDS,
            what="the firewall to admit the last key made",
        )

    @staticmethod
    def _reaches_the_authorizer(stack: LocalStack, value: str) -> bool:
        answer = http_request(
            stack.api_url, "POST", "/webhooks/order-events", b"{}", {"x-api-key": value}
        )
        return answer.code == "key_not_bound"

    def __getitem__(self, name: str) -> str:
        value = getattr(self, name)
        return value if isinstance(value, str) else value.get_secret_value()

    def __repr__(self) -> str:
        return "Keys(<secret>)"


@pytest.fixture(scope="module")
def keys(local_stack: LocalStack) -> Keys:
    return Keys(local_stack)


#: (key in keys, method, path, expected status, expected code). On the webhook, the firewall
#: refuses every key its key-prefix set does not admit — unknown, malformed and read keys —
#: with ``invalid_api_key`` before the authorizer could tell them apart; revoked and expired
#: webhook keys stay in the set while it has room, so the authorizer answers for them.
DENIALS = {
    "unknown-key": ("snsf_" + "A" * 43, "POST", "/webhooks/order-events", 403, "invalid_api_key"),
    "malformed-key": ("not-a-key", "POST", "/webhooks/order-events", 403, "invalid_api_key"),
    "revoked-key": ("revoked", "POST", "/webhooks/order-events", 403, "revoked_api_key"),
    "rotated-and-expired-key": (
        "expired",
        "POST",
        "/webhooks/order-events",
        403,
        "expired_api_key",
    ),
    "read-key-on-webhook": ("read", "POST", "/webhooks/order-events", 403, "invalid_api_key"),
    "webhook-key-on-read-route": ("prod", "GET", "/workflows", 403, "wrong_key_scope"),
    "webhook-key-on-execution-route": (
        "prod",
        "GET",
        "/executions/order-events.x",
        403,
        "wrong_key_scope",
    ),
    "key-bound-to-another-workflow": (
        "audit",
        "POST",
        "/webhooks/order-events",
        403,
        "key_not_bound",
    ),
    "key-bound-to-no-workflow": ("unbound", "POST", "/webhooks/order-events", 403, "key_not_bound"),
    "unknown-workflow": ("prod", "POST", "/webhooks/no-such-flow", 403, "key_not_bound"),
}


def _key(keys: Keys, name: str) -> str:
    return keys[name] if hasattr(keys, name) else name


@pytest.mark.parametrize("carrier", ["query", "header", "HEADER-ANY-CASE"])
@pytest.mark.parametrize(
    ("key", "method", "path", "status", "code"), DENIALS.values(), ids=DENIALS.keys()
)
def test_authorizer_denial_over_http(
    local_stack: LocalStack,
    keys: Keys,
    carrier: str,
    key: str,
    method: str,
    path: str,
    status: int,
    code: str,
    no_runs: None,
) -> None:
    value = _key(keys, key)
    headers: dict[str, str] = {}
    target = path
    if carrier == "query":
        target = f"{path}?x-api-key={urllib.parse.quote(value)}"
    else:
        headers["X-aPi-KeY" if carrier == "HEADER-ANY-CASE" else "x-api-key"] = value
    body = b"{}" if method == "POST" else None
    answer = http_request(local_stack.api_url, method, target, body, headers)
    assert (answer.status, answer.code) == (status, code), answer.body[:300]
    assert value not in answer.body.decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/webhooks/order-events", {}),
        ("/webhooks/order-events?x-api-key=", {}),
        ("/webhooks/order-events", {"x-api-key": ""}),
        # Query names are exact for the authorizer (the firewall, like WAF, ignores their case).
        ("/webhooks/order-events?X-API-KEY={prod}", {}),
        ("/workflows", {}),
    ],
    ids=["none", "empty-query", "empty-header", "upper-case-query-name", "read-route"],
)
def test_missing_key_is_401_over_http(
    local_stack: LocalStack, target: str, headers: dict[str, str], no_runs: None
) -> None:
    method = "GET" if target == "/workflows" else "POST"
    target = target.format(prod=local_stack.keys["prod-sns"])
    answer = http_request(local_stack.api_url, method, target, b"{}", headers)
    assert (answer.status, answer.code) == (401, "missing_api_key")


def test_two_different_keys_are_403_over_http(
    local_stack: LocalStack, keys: Keys, no_runs: None
) -> None:
    answer = http_request(
        local_stack.api_url,
        "POST",
        f"/webhooks/order-events?x-api-key={keys['prod']}",
        b"{}",
        {"x-api-key": keys["audit"]},
    )
    assert (answer.status, answer.code) == (403, "conflicting_api_keys")


@pytest.mark.parametrize("carrier", ["query", "header", "X-API-KEY", "both-same"])
def test_accepted_key_reaches_the_webhook_in_any_carrier(
    local_stack: LocalStack, keys: Keys, carrier: str, no_runs: None
) -> None:
    target = "/webhooks/order-events"
    headers: dict[str, str] = {}
    if carrier in ("query", "both-same"):
        target += f"?x-api-key={keys['prod']}"
    if carrier != "query":
        headers["X-API-KEY" if carrier == "X-API-KEY" else "x-api-key"] = keys["prod"]
    body = b'{"SignatureVersion": "1"}'
    answer = http_request(local_stack.api_url, "POST", target, body, headers)
    # Past the authorizer: the webhook itself refuses the body.
    assert (answer.status, answer.code) == (400, "missing_field")


def test_read_key_reaches_the_read_api(local_stack: LocalStack, keys: Keys) -> None:
    answer = http_request(
        local_stack.api_url, "GET", "/workflows", None, {"x-api-key": keys["read"]}
    )
    assert answer.status == 200
