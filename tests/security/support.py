"""What the webhook fuzz tests share: genuine messages, events around any body, and the checks
that must hold after every case (no 5xx, nothing written or started that SNS did not sign)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from functions.webhook import handler as webhook_handler
from snsflow import aws
from snsflow.sns import CertificateUrlRejectedError, validate_certificate_url
from tests.integration.webhook.conftest import Stack
from tests.support.apigw import LambdaContext, sns_delivery_event

#: The fields a signature covers per message type (SNS-PROTOCOL.md), and the version that says
#: how they were signed.
_CONFIRMATION_SIGNED = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn")
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn"),
    "SubscriptionConfirmation": _CONFIRMATION_SIGNED,
    "UnsubscribeConfirmation": _CONFIRMATION_SIGNED,
}
#: The one 5xx a hostile body may cause: its SigningCertURL has the exact shape of an SNS
#: certificate of the topic's region, but no such file exists (SNS-PROTOCOL.md: a failed
#: certificate fetch is transient). Checked below: the URL passed the policy first.
CERTIFICATE_UNAVAILABLE = "certificate_unavailable"


@dataclass(frozen=True)
class Genuine:
    """A message exactly as SNS signed it."""

    body: bytes
    fields: dict[str, Any]

    @property
    def signed(self) -> dict[str, Any]:
        return signed_fields(self.fields)


def signed_fields(document: dict[str, Any]) -> dict[str, Any]:
    """What a signature vouches for in ``document``: its Type, version and signed fields."""
    kind = document.get("Type")
    signed = SIGNED_FIELDS.get(kind, ()) if isinstance(kind, str) else ()
    return {
        "Type": document.get("Type"),
        "SignatureVersion": document.get("SignatureVersion"),
    } | {name: document.get(name) for name in signed}


def genuine_messages(stack: Stack) -> list[Genuine]:
    """Every kind of message the order-events workflow accepts, both signature versions."""
    signer = stack.signer
    bodies: list[str] = []
    for version in ("1", "2"):
        bodies += [
            signer.notification('{"status": "paid", "orderId": "A-1"}', signature_version=version),
            signer.notification(
                "Grüße — ünïcödé \u2028 and an escaped \\u00e9",
                subject="Bestellung",
                signature_version=version,
            ),
            signer.notification(
                "with attributes",
                message_attributes={"tenant": {"Type": "String", "Value": "acme"}},
                signature_version=version,
            ),
            signer.subscription_confirmation(signature_version=version),
            signer.unsubscribe_confirmation(signature_version=version),
        ]
    return [Genuine(body.encode("utf-8"), json.loads(body)) for body in bodies]


class Target:
    """The moto stack and the genuine messages of one fuzz test. Not a dataclass: hypothesis
    prints every argument of a failing case, and this one would fill pages."""

    def __init__(self, stack: Stack, genuine: list[Genuine]) -> None:
        self.stack = stack
        self.genuine = genuine

    def __repr__(self) -> str:
        return "Target(<moto stack>, <genuine messages>)"


def event_with_body(
    raw: bytes,
    *,
    base64_encoded: bool,
    workflow_id: str = "order-events",
    text_errors: str = "surrogateescape",
) -> dict[str, Any]:
    """The REST proxy event of a POST of ``raw``. Without the base64 flag the body must be text,
    as API Gateway hands it over: undecodable bytes become lone surrogates or U+FFFD."""
    event = sns_delivery_event(workflow_id, raw, base64_encoded=True)
    if not base64_encoded:
        event["body"] = raw.decode("utf-8", text_errors)
        event["isBase64Encoded"] = False
    return event


def sent_bytes(event: dict[str, Any]) -> bytes:
    """The bytes the handler will see for ``event``'s body."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str | None:
        error = self.body.get("error")
        return error.get("code") if isinstance(error, dict) else None


@dataclass
class Ledger:
    """What the handler did to AWS and to the outside world, from hooks on its own clients."""

    writes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)

    def on_params(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation == "StartExecution":
            self.starts.append(dict(params))
        elif operation in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"):
            self.writes.append((operation, dict(params)))


@contextmanager
def ledger() -> Iterator[Ledger]:
    """Records every write and start the handler's clients make while the block runs."""
    record = Ledger()
    emitters = (
        aws.dynamodb_resource().meta.client.meta.events,
        aws.stepfunctions_client().meta.events,
    )
    for events in emitters:
        events.register("provide-client-params", record.on_params)
    try:
        yield record
    finally:
        for events in emitters:
            events.unregister("provide-client-params", record.on_params)


def call_webhook(event: dict[str, Any]) -> Reply:
    """Call the webhook as Lambda would; its answer must always be JSON."""
    response = webhook_handler.lambda_handler(event, LambdaContext())
    assert response["headers"]["Content-Type"] == "application/json"
    body = json.loads(response["body"])
    assert isinstance(body, dict)
    return Reply(response["statusCode"], body)


def assert_refused(reply: Reply, stack: Stack) -> None:
    """A 4xx with the error shape, or the one tolerated 503 (see CERTIFICATE_UNAVAILABLE)."""
    assert reply.code is not None, reply
    assert isinstance(reply.body["error"].get("message"), str)
    if reply.status >= 500:
        assert_unknown_certificate_on_sns_host(reply, stack)
    else:
        assert 400 <= reply.status < 500, reply


def assert_unknown_certificate_on_sns_host(reply: Reply, stack: Stack) -> None:
    assert (reply.status, reply.code) == (503, CERTIFICATE_UNAVAILABLE), reply
    asked = stack.certificates.calls[-1]
    assert asked not in stack.certificates.files
    try:  # nothing is fetched from anywhere but the SNS host of the topic's region
        validate_certificate_url(asked, region=stack.signer.region)
    except CertificateUrlRejectedError:
        validate_certificate_url(asked, region=stack.audit_signer.region)


def _counts_a_refusal(operation: str, params: dict[str, Any]) -> bool:
    """The delivery log's refusal counter: the one write a refused request may cause."""
    partition = params.get("Key", {}).get("partition", "")
    return operation == "UpdateItem" and re.fullmatch(r"[a-z0-9-]+#r\d+", partition) is not None


def assert_nothing_written_or_started(record: Ledger, stack: Stack, visited_before: int) -> None:
    assert [write for write in record.writes if not _counts_a_refusal(*write)] == []
    assert record.starts == []
    assert len(stack.sns.visited) == visited_before


def signed_content(raw: bytes) -> dict[str, Any] | None:
    """The signed fields of a body as the handler would decode them, or None if it would not."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=unique)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    return signed_fields(document)


def written_message_id(params: dict[str, Any]) -> str:
    """The SNS MessageId an executions-table write is for: its key is
    ``<workflowId>#<MessageId>`` (an update names the key, a put the whole item)."""
    item = params["Key"] if "Key" in params else params["Item"]
    return str(item["recordKey"]).split("#", 1)[1]


def assert_only_genuine_effects(record: Ledger, stack: Stack, genuine: list[Genuine]) -> None:
    """Every claim, start and confirmation is for content SNS signed, exactly as signed."""
    by_id = {message.fields["MessageId"]: message for message in genuine}
    for _operation, params in record.writes:
        if params["TableName"].endswith("executions"):
            assert written_message_id(params) in by_id
    for start in record.starts:
        execution_input = json.loads(start["input"])
        original = by_id[execution_input["messageId"]].fields
        assert execution_input["topicArn"] == original["TopicArn"]
        assert execution_input["rawMessage"] == original["Message"]
        assert execution_input["subject"] == original.get("Subject")
        assert execution_input["timestamp"] == original["Timestamp"]
    genuine_urls = {m.fields.get("SubscribeURL") for m in genuine}
    assert set(stack.sns.visited) <= genuine_urls


def assert_answer_matches_content(
    reply: Reply, raw: bytes, original: Genuine, stack: Stack
) -> None:
    """A 2xx only for exactly the signed content of ``original``; anything else is refused."""
    if reply.status == 200:
        assert signed_content(raw) == original.signed, reply
        expected = {
            "Notification": {"accepted", "duplicate"},
            # "unsubscribed" once the pool's (later) UnsubscribeConfirmation was delivered.
            "SubscriptionConfirmation": {"confirmed", "unsubscribed"},
            "UnsubscribeConfirmation": {"unsubscribed"},
        }[original.fields["Type"]]
        assert reply.body["status"] in expected
    else:
        assert_refused(reply, stack)
