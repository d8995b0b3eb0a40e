"""Hostile REST proxy events to the webhook handler: whatever arrives, the answer is a 4xx (never
a crash, never a 5xx a retry could not fix), and nothing is claimed, started or confirmed that
SNS did not sign exactly as it stands.

The handler runs for real against moto (DynamoDB, Step Functions) with the test CA's
certificate served from memory; the authorizer has let every event through, as API Gateway
would after it (so the workflow id in the path is always one the authorizer accepts: a
well-formed id). Case counts: ``tests/security/budget.py``.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.webhook import handler as webhook_handler
from snsflow.workflows import WORKFLOW_ID_PATTERN
from tests.integration.webhook.conftest import AUDIT_TOPIC, ORDERS_TOPIC, Stack
from tests.security.budget import cases
from tests.security.support import (
    Genuine,
    Target,
    assert_answer_matches_content,
    assert_nothing_written_or_started,
    assert_only_genuine_effects,
    assert_refused,
    call_webhook,
    event_with_body,
    genuine_messages,
    ledger,
    sent_bytes,
)
from tests.support.apigw import sns_delivery_event
from tests.support.sns import sns_timestamp

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
#: JSON values of every type but the string that a field should be (cheap to draw).
odd_json = st.sampled_from([None, 0, -1, 1.5, True, False, [], {}, ["1"], {"Type": "String"}])
#: Any Unicode, lone surrogates included (API Gateway hands the handler a string).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=512)
well_formed_workflow_ids = st.from_regex(WORKFLOW_ID_PATTERN.strip("^$"), fullmatch=True)


@pytest.fixture
def target(stack: Stack) -> Target:
    return Target(stack, genuine_messages(stack))


def test_every_genuine_message_is_accepted_once_and_then_as_a_duplicate(target: Target) -> None:
    stack, genuine = target.stack, target.genuine
    # The oracle of the fuzz tests below, checked on the messages they mutate.
    with ledger() as record:
        first = [call_webhook(event_with_body(m.body, base64_encoded=False)) for m in genuine]
        again = [call_webhook(event_with_body(m.body, base64_encoded=True)) for m in genuine]

    assert [reply.body["status"] for reply in first] == [
        "accepted",
        "accepted",
        "accepted",
        "confirmed",
        "unsubscribed",
    ] * 2
    assert [reply.body["status"] for reply in again][:3] == ["duplicate"] * 3
    assert len(record.starts) == 6
    assert_only_genuine_effects(record, stack, genuine)


@cases("arbitrary_bodies")
@given(
    raw=st.one_of(
        st.binary(max_size=1024),
        any_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
        json_values.map(lambda value: json.dumps(value).encode()),
    ),
    base64_encoded=st.booleans(),
    text_errors=st.sampled_from(["surrogateescape", "replace"]),
    mislabelled=st.integers(0, 9).map(lambda n: n == 0),
)
def test_arbitrary_bodies_are_refused_and_run_nothing(
    target: Target, raw: bytes, base64_encoded: bool, text_errors: str, mislabelled: bool
) -> None:
    stack = target.stack
    visited = len(stack.sns.visited)
    event = event_with_body(raw, base64_encoded=base64_encoded, text_errors=text_errors)
    if mislabelled:  # flagged base64 but sent as it is
        event["body"] = raw.decode("utf-8", "replace")
        event["isBase64Encoded"] = True
    with ledger() as record:
        reply = call_webhook(event)
    assert_refused(reply, stack)
    assert_nothing_written_or_started(record, stack, visited)


def _certificate_urls(genuine_url: str) -> list[str]:
    """The genuine URL and the look-alikes SNS-PROTOCOL.md lists as traps."""
    file = genuine_url.rsplit("/", 1)[1]
    return [
        genuine_url,
        genuine_url.replace("https://", "http://"),
        genuine_url.replace("amazonaws.com", "amazonaws.com.evil.com"),
        f"https://foo.amazonaws.com/{file}",
        f"https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/{file}",
        f"https://sns.s3-us-east-1.amazonaws.com/{file}",
        f"https://bucket.s3.amazonaws.com/{file}",
        genuine_url.replace(".pem", ".pem.txt"),
        genuine_url.replace(".pem", "") + "?x=.pem",
        genuine_url + "#.pem",
        genuine_url.replace("https://", "https://user@"),
        genuine_url.replace("amazonaws.com", "amazonaws.com:443"),
        genuine_url + "?",
        genuine_url.replace("us-east-1", "eu-west-1"),
        genuine_url.replace("sns.us-east-1", "SNS.US-EAST-1"),
        genuine_url.replace("amazonaws.com", "amazonaws.com."),
        # The right shape, but no such certificate: fetched (from the SNS host only), not found.
        genuine_url.rsplit("-", 1)[0] + "-" + "0" * 32 + ".pem",
        "",
    ]


def _timestamps() -> st.SearchStrategy[Any]:
    now = datetime.now(UTC)
    return st.one_of(
        st.just(sns_timestamp(now)),
        st.sampled_from(
            [
                sns_timestamp(now - timedelta(hours=3)),
                sns_timestamp(now + timedelta(hours=1)),
                "2024-02-30T00:00:00.000Z",
                now.isoformat(),
                "yesterday",
            ]
        ),
        odd_json,
    )


@cases("sns_shaped_documents")
@given(data=st.data(), base64_encoded=st.booleans())
def test_documents_shaped_like_sns_messages_are_refused_and_run_nothing(
    target: Target, data: st.DataObject, base64_encoded: bool
) -> None:
    stack, genuine = target.stack, target.genuine
    signatures = [m.fields["Signature"] for m in genuine]
    strings = st.text(max_size=64) | odd_json
    document = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "Type": st.sampled_from(
                    ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
                )
                | strings,
                "MessageId": st.uuids().map(str) | strings,
                "TopicArn": st.sampled_from(
                    [ORDERS_TOPIC, AUDIT_TOPIC, "arn:aws:sns:us-east-1:123456789012", "arn:x"]
                )
                | strings,
                "Subject": strings,
                "Message": strings,
                "Token": strings,
                "Timestamp": _timestamps(),
                "SignatureVersion": st.sampled_from(["1", "2", "3", "", " 1", "1.0", 1, None])
                | strings,
                "Signature": st.sampled_from(signatures)
                | st.binary(min_size=256, max_size=256).map(lambda b: base64.b64encode(b).decode())
                | strings,
                "SigningCertURL": st.sampled_from(_certificate_urls(stack.signer.cert_url))
                | strings,
                "SubscribeURL": st.sampled_from([m.fields.get("SubscribeURL") for m in genuine])
                | strings,
                "UnsubscribeURL": strings,
                "MessageAttributes": st.dictionaries(
                    st.text(max_size=8),
                    st.fixed_dictionaries({"Type": strings, "Value": strings}) | odd_json,
                    max_size=2,
                )
                | odd_json,
            },
        )
    )
    raw = json.dumps(document, ensure_ascii=data.draw(st.booleans())).encode()
    visited = len(stack.sns.visited)
    with ledger() as record:
        reply = call_webhook(event_with_body(raw, base64_encoded=base64_encoded))
    assert_refused(reply, stack)
    assert_nothing_written_or_started(record, stack, visited)


@cases("one_byte_changed")
@given(data=st.data(), base64_encoded=st.booleans())
def test_a_signed_message_with_one_byte_changed_runs_only_what_sns_signed(
    target: Target, data: st.DataObject, base64_encoded: bool
) -> None:
    stack, genuine = target.stack, target.genuine
    original = data.draw(st.sampled_from(genuine))
    position = data.draw(st.integers(0, len(original.body) - 1))
    old = original.body[position]
    new = data.draw(
        (st.integers(0, 255) | st.sampled_from(b' \t\n"\\{}[]:,0aAfF=+/-.')).filter(
            lambda byte: byte != old
        )
    )
    raw = original.body[:position] + bytes([new]) + original.body[position + 1 :]
    with ledger() as record:
        reply = call_webhook(event_with_body(raw, base64_encoded=base64_encoded))
    assert_answer_matches_content(reply, raw, original, stack)
    assert_only_genuine_effects(record, stack, genuine)


Mutation = Callable[[Genuine, st.DataObject, list[Genuine]], bytes]


def _dumps(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


def _drop_field(message: Genuine, data: st.DataObject, _pool: list[Genuine]) -> bytes:
    name = data.draw(st.sampled_from(sorted(message.fields)))
    return _dumps({k: v for k, v in message.fields.items() if k != name})


def _set_field(message: Genuine, data: st.DataObject, _pool: list[Genuine]) -> bytes:
    name = data.draw(st.sampled_from([*sorted(message.fields), "Subject", "Token"]))
    return _dumps(message.fields | {name: data.draw(json_values)})


def _swap_type(message: Genuine, data: st.DataObject, _pool: list[Genuine]) -> bytes:
    kinds = ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    kind = data.draw(st.sampled_from([k for k in kinds if k != message.fields["Type"]]))
    return _dumps(message.fields | {"Type": kind})


def _relabel_version(message: Genuine, data: st.DataObject, _pool: list[Genuine]) -> bytes:
    version = data.draw(st.sampled_from(["1", "2", "3", ""]))
    return _dumps(message.fields | {"SignatureVersion": version})


def _duplicate_key(message: Genuine, data: st.DataObject, _pool: list[Genuine]) -> bytes:
    name = data.draw(st.sampled_from(sorted(message.fields)))
    value = json.dumps(data.draw(st.text(max_size=20)))
    return b'{"' + name.encode() + b'": ' + value.encode() + b", " + message.body[1:]


def _splice(message: Genuine, data: st.DataObject, pool: list[Genuine]) -> bytes:
    """A signed field, or the signature, taken from another genuine message."""
    donor = data.draw(st.sampled_from([m for m in pool if m is not message]))
    name = data.draw(
        st.sampled_from(sorted(set(donor.fields) & {"Signature", "MessageId", "Message", "Token"}))
    )
    return _dumps(message.fields | {name: donor.fields[name]})


def _cut(message: Genuine, data: st.DataObject, _pool: list[Genuine]) -> bytes:
    start = data.draw(st.integers(0, len(message.body)))
    end = data.draw(st.integers(start, len(message.body)))
    return message.body[:start] + message.body[end:]


def _insert(message: Genuine, data: st.DataObject, _pool: list[Genuine]) -> bytes:
    at = data.draw(st.integers(0, len(message.body)))
    return message.body[:at] + data.draw(st.binary(min_size=1, max_size=8)) + message.body[at:]


def _wrap(message: Genuine, data: st.DataObject, _pool: list[Genuine]) -> bytes:
    shape = data.draw(st.sampled_from([b"[%s]", b'{"Message": %s}', b"%s %s", b'"%s"']))
    return shape.replace(b"%s", message.body)


MUTATIONS: list[Mutation] = [
    _drop_field,
    _set_field,
    _swap_type,
    _relabel_version,
    _duplicate_key,
    _splice,
    _cut,
    _insert,
    _wrap,
]


@cases("structural_mutations")
@given(data=st.data(), mutation=st.sampled_from(MUTATIONS), base64_encoded=st.booleans())
def test_a_signed_message_changed_in_structure_runs_only_what_sns_signed(
    target: Target,
    data: st.DataObject,
    mutation: Mutation,
    base64_encoded: bool,
) -> None:
    stack, genuine = target.stack, target.genuine
    original = data.draw(st.sampled_from(genuine))
    raw = mutation(original, data, genuine)
    with ledger() as record:
        reply = call_webhook(event_with_body(raw, base64_encoded=base64_encoded))
    assert_answer_matches_content(reply, raw, original, stack)
    assert_only_genuine_effects(record, stack, genuine)


_SNS_HEADERS = [
    "x-amz-sns-message-type",
    "x-amz-sns-message-id",
    "x-amz-sns-topic-arn",
    "x-amz-sns-subscription-arn",
    "x-amz-sns-rawdelivery",
    "content-type",
    "user-agent",
    "x-api-key",
]


def _random_case(data: st.DataObject, name: str) -> str:
    flips = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return "".join(c.upper() if flip else c for c, flip in zip(name, flips, strict=True))


@cases("headers_and_query")
@given(
    data=st.data(),
    forged=st.integers(0, 9).map(lambda n: n > 0),  # 1 in 10 cases carries the genuine body
    workflow_id=st.sampled_from(["order-events", "audit-log"]) | well_formed_workflow_ids,
)
def test_headers_and_query_strings_never_change_what_the_body_decides(
    target: Target, data: st.DataObject, forged: bool, workflow_id: str
) -> None:
    stack, genuine = target.stack, target.genuine
    original = genuine[0]
    body = original.body.replace(b"paid", b"PAID") if forged else original.body
    values = st.sampled_from(["true", " TRUE ", "false", "", ORDERS_TOPIC, AUDIT_TOPIC]) | any_text
    headers = data.draw(
        st.dictionaries(
            st.sampled_from(_SNS_HEADERS) | st.text(string.ascii_letters + "-", min_size=1),
            values,
            max_size=8,
        )
    )
    headers = {_random_case(data, name.lower()): value for name, value in headers.items()}
    query = data.draw(st.dictionaries(st.text(max_size=16), any_text, max_size=4))
    event = event_with_body(body, base64_encoded=False, workflow_id=workflow_id)
    event["headers"] = headers
    event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None

    with ledger() as record:
        reply = call_webhook(event)

    raw_delivery = any(
        name.lower() == "x-amz-sns-rawdelivery" and value.strip().lower() == "true"
        for name, value in headers.items()
    )
    expected: tuple[int, str | None]
    if raw_delivery:
        expected = (400, "raw_delivery_not_supported")
    elif workflow_id not in ("order-events", "audit-log"):
        expected = (404, "workflow_not_found")
    elif workflow_id == "audit-log":
        expected = (403, "topic_not_allowed")
    elif forged:
        expected = (403, "signature_mismatch")
    else:
        expected = (200, None)
    assert (reply.status, reply.code) == expected, reply
    assert_only_genuine_effects(record, stack, genuine)


@cases("event_shapes")
@given(
    data=st.data(),
    genuine_body=st.integers(0, 9).map(lambda n: n == 0),  # 1 in 10 cases
    absent=st.sets(
        st.sampled_from(
            [
                "headers",
                "multiValueHeaders",
                "queryStringParameters",
                "multiValueQueryStringParameters",
                "body",
                "isBase64Encoded",
                "stageVariables",
            ]
        )
    ),
    as_null=st.booleans(),
)
def test_events_with_null_or_missing_parts_are_answered_without_a_crash(
    target: Target,
    data: st.DataObject,
    genuine_body: bool,
    absent: set[str],
    as_null: bool,
) -> None:
    stack, genuine = target.stack, target.genuine
    original = data.draw(st.sampled_from(genuine))
    raw = original.body if genuine_body else data.draw(st.binary(max_size=64))
    event = event_with_body(raw, base64_encoded=data.draw(st.booleans()))
    for part in absent:
        if as_null:
            event[part] = None
        else:
            del event[part]
    with ledger() as record:
        reply = call_webhook(event)
    if reply.status == 200:
        assert signed_body(event) == original.body
    else:
        assert_refused(reply, stack)
    assert_only_genuine_effects(record, stack, genuine)


def signed_body(event: dict[str, Any]) -> bytes:
    return sent_bytes(event)


#: The smallest body limit the settings allow, so that the cases stay small.
BODY_LIMIT = 64 * 1024


@pytest.fixture
def small_body_limit(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("SNSFLOW_MAX_BODY_BYTES", str(BODY_LIMIT))
    webhook_handler._settings.cache_clear()
    webhook_handler._webhook.cache_clear()
    return BODY_LIMIT


def _padded(body: bytes, size: int) -> bytes:
    """``body`` (a JSON object) grown to ``size`` bytes with whitespace after its ``{``."""
    return b"{" + b" " * (size - len(body)) + body[1:]


@cases("sizes")
@given(
    size=st.integers(BODY_LIMIT - 64, BODY_LIMIT + 64)
    | st.integers(BODY_LIMIT, 8 * BODY_LIMIT)
    | st.integers(2048, BODY_LIMIT),
    base64_encoded=st.booleans(),
)
def test_bodies_over_the_limit_are_refused_before_they_are_read(
    target: Target, small_body_limit: int, size: int, base64_encoded: bool
) -> None:
    stack, genuine = target.stack, target.genuine
    forged = genuine[0].body.replace(b"paid", b"PAID")
    raw = _padded(forged, size)
    with ledger() as record:
        reply = call_webhook(event_with_body(raw, base64_encoded=base64_encoded))
    # A base64 body is measured as 3/4 of its length, which may overshoot by up to 2 bytes.
    slack = 2 if base64_encoded else 0
    if size > small_body_limit:
        assert (reply.status, reply.code) == (413, "message_too_large")
    elif size <= small_body_limit - slack:
        assert (reply.status, reply.code) == (403, "signature_mismatch")
    else:
        assert reply.status in (403, 413)
    assert_nothing_written_or_started(record, stack, len(stack.sns.visited))


def test_a_genuine_message_padded_up_to_the_limit_is_accepted(
    target: Target, small_body_limit: int
) -> None:
    raw = _padded(target.genuine[1].body, small_body_limit - 2)
    reply = call_webhook(event_with_body(raw, base64_encoded=True))
    assert (reply.status, reply.body.get("status")) == (200, "accepted")


def _reencoded(message: Genuine, data: st.DataObject) -> dict[str, Any]:
    text = message.body.decode("utf-8")
    kind = data.draw(
        st.sampled_from(
            [
                "utf-8",
                "utf-8-sig",
                "utf-16",
                "utf-16-be",
                "utf-32",
                "latin-1",
                "cp1252",
                "invalid-byte",
                "lone-surrogate",
                "base64-urlsafe",
                "base64-lines",
                "base64-unpadded",
                "base64-flag-on-plain-body",
            ]
        )
    )
    at = data.draw(st.integers(0, len(text)))
    if kind in ("utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252"):
        raw = text.encode(kind, "replace")
        return event_with_body(raw, base64_encoded=data.draw(st.booleans()))
    if kind == "invalid-byte":
        byte = bytes([data.draw(st.integers(0x80, 0xFF))])
        encoded = text.encode()
        return event_with_body(encoded[:at] + byte + encoded[at:], base64_encoded=True)
    event = event_with_body(message.body, base64_encoded=kind.startswith("base64"))
    if kind == "lone-surrogate":
        event["body"] = text[:at] + chr(data.draw(st.integers(0xD800, 0xDFFF))) + text[at:]
    elif kind == "base64-urlsafe":
        event["body"] = base64.urlsafe_b64encode(message.body).decode()
    elif kind == "base64-lines":
        event["body"] = base64.encodebytes(message.body).decode()
    elif kind == "base64-unpadded":
        event["body"] = event["body"].rstrip("=") + ("" if event["body"].endswith("=") else "=")
    else:
        event["body"] = text  # the text itself, non-ASCII included, flagged base64
    return event


@cases("encodings")
@given(data=st.data())
def test_only_the_exact_utf8_bytes_sns_signed_are_accepted_whatever_the_encoding(
    target: Target, data: st.DataObject
) -> None:
    stack, genuine = target.stack, target.genuine
    original = genuine[1]  # non-ASCII text, an escaped character, U+2028
    event = _reencoded(original, data)
    with ledger() as record:
        reply = call_webhook(event)
    if reply.status == 200:
        assert sent_bytes(event) == original.body
    else:
        assert_refused(reply, stack)
    assert_only_genuine_effects(record, stack, genuine)


def test_a_workflow_id_the_authorizer_would_refuse_is_a_4xx(target: Target) -> None:
    event = sns_delivery_event("", target.genuine[0].body)
    assert call_webhook(event).status < 500


def test_a_body_flagged_base64_that_is_not_even_ascii_is_a_4xx(target: Target) -> None:
    event = event_with_body(target.genuine[1].body, base64_encoded=True)
    event["body"] = target.genuine[1].body.decode()
    assert call_webhook(event).status == 400
