"""Hostile whole HTTP requests to the local stack's gateway on 127.0.0.1, over raw sockets:
random and mutated bodies, headers (Content-Type, lying Content-Length, chunked framing,
``x-amz-sns-*``, huge values), query strings with every kind of ``x-api-key``, encodings, sizes,
and messages the local SNS's key signed with one byte changed.

After every case: an HTTP answer came back (the gateway keeps answering), it is not a 5xx —
except the one transient answer SNS-PROTOCOL prescribes, a missing certificate file under the
SNS's (trusted) URL — and nothing was claimed or started for anything but content exactly as
signed (hooks on the webhook's own clients, then Step Functions' own list at the end).
Case counts: ``tests/security/budget.py``.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from urllib.parse import quote

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snsflow.executions import execution_name
from snsflow.local.stack import LocalStack
from tests.security.budget import cases
from tests.security.support import Genuine, Ledger, ledger, signed_content, written_message_id
from tests.support.raw_http import exchange
from tests.support.sns import SnsTestSigner, TestCertificate

pytestmark = pytest.mark.e2e

WORKFLOW = "order-events"


class Target:
    """The running stack, its keys and the genuine messages (printed without secrets)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.port = int(stack.api_url.rsplit(":", 1)[1])
        self.key = stack.keys["prod-sns"]
        self.other_key = stack.keys["audit-sns"]
        identity = stack.sns.signing_identity
        signer = SnsTestSigner(
            topic_arn=f"arn:aws:sns:{stack.config.region}:{stack.config.account_id}:fuzz",
            certificate=TestCertificate(identity.certificate_pem, identity.private_key),
            cert_url=stack.sns.certificate_url,
        )
        bodies = [
            signer.notification('{"status": "paid", "orderId": "F-1"}'),
            signer.notification("Grüße \u2028 ünïcödé", subject="Betreff", signature_version="2"),
            signer.notification(
                "attrs", message_attributes={"k": {"Type": "String", "Value": "v"}}
            ),
            signer.unsubscribe_confirmation(),
        ]
        self.genuine = [Genuine(body.encode(), json.loads(body)) for body in bodies]
        self.by_id = {m.fields["MessageId"]: m for m in self.genuine}

    def __repr__(self) -> str:
        return "Target(<local stack>)"


@pytest.fixture(scope="module")
def target(local_stack: LocalStack) -> Iterator[Target]:
    target = Target(local_stack)
    yield target
    # Step Functions' own view, after every case of the module: genuine messages only.
    client = boto3.client(
        "stepfunctions", endpoint_url=local_stack.aws_endpoint, region_name="us-east-1"
    )
    arn = local_stack.workflow(WORKFLOW).state_machine_arn
    runs = [
        run["name"]
        for page in client.get_paginator("list_executions").paginate(stateMachineArn=arn)
        for run in page["executions"]
    ]
    genuine = {execution_name(m) for m in target.by_id}
    assert set(runs) <= genuine
    assert len(runs) == len(set(runs))


def as_handed_over(sent: bytes) -> bytes:
    """What the webhook gets from the gateway for a text body: invalid UTF-8 replaced, as the
    local gateway (and API Gateway) hand text bodies to the integration."""
    return sent.decode("utf-8", "replace").encode()


def assert_answer(target: Target, status: int, body: bytes, sent: bytes | None) -> None:
    sent = None if sent is None else as_handed_over(sent)
    if status >= 500:
        # The one transient refusal: a certificate file missing under the SNS's own URL.
        code = json.loads(body)["error"]["code"]
        assert (status, code) == (503, "certificate_unavailable"), body[:300]
        document = json.loads(sent or b"{}")
        assert document["SigningCertURL"].startswith(target.stack.sns.trusted_cert_url_prefix)
    if status == 200 and sent is not None:  # a webhook delivery
        assert signed_content(sent) in [m.signed for m in target.genuine], body[:300]


def assert_only_genuine_effects(target: Target, record: Ledger) -> None:
    for _operation, params in record.writes:
        if params["TableName"].endswith("executions"):
            assert written_message_id(params) in target.by_id
    for start in record.starts:
        execution_input = json.loads(start["input"])
        original = target.by_id[execution_input["messageId"]].fields
        assert execution_input["rawMessage"] == original["Message"]
        assert execution_input["topicArn"] == original["TopicArn"]
        assert execution_input["subject"] == original.get("Subject")


# -- request builders ----------------------------------------------------------------------------

_TOKEN = string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@%"
header_names = st.sampled_from(
    [
        "Content-Type",
        "x-amz-sns-message-type",
        "x-amz-sns-message-id",
        "x-amz-sns-topic-arn",
        "x-amz-sns-subscription-arn",
        "x-amz-sns-rawdelivery",
        "X-Amz-Sns-Rawdelivery",
        "x-api-key",
        "X-API-KEY",
        "User-Agent",
        "Accept-Encoding",
        "Content-Encoding",
        "Expect",
        "Host",
        "Connection",
    ]
) | st.text(string.ascii_letters + "-", min_size=1, max_size=30)
header_values = (
    st.sampled_from(
        [
            "text/plain; charset=UTF-8",
            "application/json",
            "application/octet-stream",
            "multipart/form-data; boundary=x",
            "text/plain; charset=UTF-16",
            "true",
            "True",
            "Notification",
            "gzip",
            "100-continue",
            "close",
            "",
        ]
    )
    | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
    | st.integers(1, 16).map(lambda kib: "h" * (kib * 1024))  # huge headers, up to 16 KiB
)


def key_query(target: Target, data: st.DataObject) -> str:
    draw = data.draw
    choice = draw(st.integers(0, 9))
    variants = [
        f"x-api-key={target.key}",
        f"x-api-key={target.key}&x-api-key={target.key}",
        f"x-api-key={target.key}&x-api-key={target.other_key}",
        f"x-api-key={target.other_key}",
        f"x-api-key={quote(target.key + ' ')}",
        f"X-API-KEY={target.key}",
        f"x-api-key={target.key[:-1]}",
        "x-api-key=" + draw(st.text(_TOKEN, max_size=60)),
        draw(st.text(_TOKEN + "?#/", max_size=80)),
        "",
    ]
    return variants[choice]


def one_byte_changed(target: Target, data: st.DataObject) -> bytes:
    draw = data.draw
    original = draw(st.sampled_from(target.genuine)).body
    at = draw(st.integers(0, len(original) - 1))
    new = draw(st.integers(0, 255).filter(lambda b: b != original[at]))
    return original[:at] + bytes([new]) + original[at + 1 :]


def bodies(target: Target, data: st.DataObject) -> bytes:
    draw = data.draw
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=512))
    if kind == 1:
        text = draw(st.text(max_size=256))
        return text.encode(draw(st.sampled_from(["utf-8", "utf-16", "utf-32"])))
    if kind == 2:
        return draw(st.sampled_from(target.genuine)).body.decode().encode("utf-16")
    if kind == 3:
        padding = draw(st.sampled_from([0, 1, 4096, 2 * 1024 * 1024 + 1]))
        genuine = draw(st.sampled_from(target.genuine)).body
        return b"{" + b" " * padding + one_byte_changed(target, data)[1:] if padding else genuine
    return one_byte_changed(target, data)


def framing(body: bytes, data: st.DataObject) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and bytes that frame ``body``: honest, lying or malformed."""
    draw = data.draw
    kind = draw(st.integers(0, 6))
    if kind <= 2:
        return [("Content-Length", str(len(body)))], body
    if kind == 3:  # a Content-Length larger or smaller than the body
        return [("Content-Length", str(max(0, len(body) + draw(st.integers(-64, 64)))))], body
    if kind == 4:
        return [("Content-Length", draw(st.sampled_from(["-1", "1e3", " 12", "0x10", ""])))], body
    if kind == 5:  # chunked, possibly broken
        chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        if draw(st.booleans()):
            chunked = chunked[: draw(st.integers(0, len(chunked)))]
        return [("Transfer-Encoding", "chunked")], chunked
    return [], body  # no length at all


# -- the fuzz tests ------------------------------------------------------------------------------


@cases("http_requests")
@given(data=st.data())
def test_hostile_http_requests_are_never_a_5xx_and_start_nothing_unsigned(
    target: Target, data: st.DataObject
) -> None:
    draw = data.draw
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "HEAD", "OPTIONS", "DELETE"]))
    path = draw(
        st.sampled_from(
            [f"/webhooks/{WORKFLOW}"] * 5
            + ["/webhooks/audit-log", "/webhooks/", "/webhooks/%2e%2e", "/workflows", "/"]
        )
        | st.text(_TOKEN + "/", max_size=40).map(lambda p: "/" + p)
    )
    query = key_query(target, data)
    body = bodies(target, data)
    headers, payload = framing(body, data)
    if draw(st.booleans()):
        headers.append(("Content-Type", "text/plain; charset=UTF-8"))
    headers += draw(st.lists(st.tuples(header_names, header_values), max_size=6))
    version = draw(st.sampled_from(["HTTP/1.1"] * 4 + ["HTTP/1.0"]))
    head = f"{method} {path}{'?' + query if query else ''} {version}\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    request = head.encode("latin-1", "replace") + b"\r\n" + payload

    with ledger() as record:
        reply = exchange(target.port, request)
    status, answer = reply.status, reply.body

    honest = ("Content-Length", str(len(body))) in headers[:1] and payload == body
    to_webhook = method == "POST" and path.startswith("/webhooks/")
    assert_answer(target, status, answer, body if honest and to_webhook else None)
    if status >= 500:
        assert honest  # only a well-framed signed body can reach the certificate fetch
    assert_only_genuine_effects(target, record)


@cases("http_signed_one_byte_changed")
@given(data=st.data(), header=st.sampled_from(["query", "header"]))
def test_signed_message_with_one_byte_changed_runs_only_what_was_signed(
    target: Target, data: st.DataObject, header: str
) -> None:
    raw = one_byte_changed(target, data)
    target_path = f"/webhooks/{WORKFLOW}"
    headers = f"Content-Length: {len(raw)}\r\nContent-Type: text/plain; charset=UTF-8\r\n"
    if header == "query":
        target_path += f"?x-api-key={target.key}"
    else:
        headers += f"x-api-key: {target.key}\r\n"
    request = f"POST {target_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode() + raw

    with ledger() as record:
        reply = exchange(target.port, request)
    status, answer = reply.status, reply.body

    assert status != 401
    assert status != 403 or json.loads(answer)["error"]["code"] not in (
        "invalid_api_key",
        "key_not_bound",
    )
    assert_answer(target, status, answer, raw)
    assert_only_genuine_effects(target, record)


def test_the_genuine_messages_are_accepted_over_http(target: Target) -> None:
    # The oracle's other half: unchanged bytes do get through, and the gateway still answers.
    for message in target.genuine:
        request = (
            f"POST /webhooks/{WORKFLOW}?x-api-key={target.key} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(message.body)}\r\n\r\n"
        ).encode() + message.body
        reply = exchange(target.port, request)
        assert reply.status == 200, reply.body
        answer = reply.body
        assert json.loads(answer)["status"] in ("accepted", "duplicate", "unsubscribed")
    assert exchange(target.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
