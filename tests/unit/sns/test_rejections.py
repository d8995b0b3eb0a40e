"""Every input SNS-PROTOCOL.md says must be rejected, each with its own reason code."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snsflow.errors import BadRequestError, DependencyUnavailableError, ForbiddenError
from snsflow.sns import (
    MessageVerifier,
    SnsVerificationError,
    parse_message,
    reject_raw_delivery,
)
from snsflow.sns.messages import MAX_BODY_BYTES, REQUIRED_FIELDS
from snsflow.sns.signatures import SIGNED_KEYS
from tests.support.sns import (
    FakeCertificateFetcher,
    SnsTestSigner,
    ec_certificate_pem,
    issue_certificate,
    rsa_key,
)

SIGNED_AT = datetime(2031, 5, 17, 8, 30, 12, 345000, tzinfo=UTC)
Fields = dict[str, Any]
TYPES = {
    "notification": "Notification",
    "subconf": "SubscriptionConfirmation",
    "unsubconf": "UnsubscribeConfirmation",
}


@pytest.fixture(scope="module")
def signer() -> SnsTestSigner:
    return SnsTestSigner()


def signed(signer: SnsTestSigner, kind: str = "notification", version: str = "1") -> Fields:
    """A genuine message of ``kind`` as a dict (notifications carry a Subject)."""
    if kind == "notification":
        body = signer.notification(
            "order 17 shipped",
            subject="Order",
            timestamp=SIGNED_AT,
            signature_version=version,
            message_attributes={"kind": {"Type": "String", "Value": "order"}},
        )
    else:
        body = signer.confirmation(TYPES[kind], timestamp=SIGNED_AT, signature_version=version)
    fields: Fields = json.loads(body)
    return fields


def changed(kind: str = "notification", **changes: Any) -> Callable[[SnsTestSigner], str]:
    """A genuine message with fields replaced (or removed, for ``...``) after signing."""

    def build(signer: SnsTestSigner) -> str:
        fields = signed(signer, kind)
        for key, value in changes.items():
            if value is ...:
                del fields[key]
            else:
                fields[key] = value
        return json.dumps(fields)

    return build


def resigned(kind: str = "notification", **changes: Any) -> Callable[[SnsTestSigner], str]:
    """A message with fields replaced BEFORE signing: the signature itself is genuine."""

    def build(signer: SnsTestSigner) -> str:
        fields = signed(signer, kind) | changes
        return json.dumps(signer.sign(fields))

    return build


@dataclass(frozen=True)
class Case:
    id: str
    body: Callable[[SnsTestSigner], str | bytes]
    code: str
    lambda_format: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def reject(
    signer: SnsTestSigner, case: Case, fetcher: FakeCertificateFetcher | None = None
) -> SnsVerificationError:
    verifier = signer.verifier(clock=lambda: SIGNED_AT, fetcher=fetcher, **case.options)
    with pytest.raises(SnsVerificationError) as raised:
        verifier.verify(parse_message(case.body(signer), lambda_format=case.lambda_format))
    assert raised.value.code == case.code, raised.value.message
    return raised.value


def _duplicate_key(key: str, value: str) -> Callable[[SnsTestSigner], str]:
    def build(signer: SnsTestSigner) -> str:
        text = json.dumps(signed(signer))
        # The forged copy comes last, where a lenient parser would keep it.
        return text[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}"

    return build


def _lambda_record_with_both_spellings(signer: SnsTestSigner) -> str:
    fields = signed(signer)
    fields["SigningCertUrl"] = fields["SigningCertURL"]
    return json.dumps(fields)


# --- body ---------------------------------------------------------------------------------------

MISSING_FIELDS = [
    Case(f"{kind}-without-{name}", changed(kind, **{name: ...}), "missing_field")
    for kind, message_type in TYPES.items()
    for name in REQUIRED_FIELDS[message_type]
    if name != "Type"
]
BODY_CASES = [
    Case("not-json", lambda s: b"order 17 shipped", "invalid_json"),
    Case("empty-body", lambda s: b"", "invalid_json"),
    Case("truncated-json", lambda s: json.dumps(signed(s))[:-1], "invalid_json"),
    Case("json-with-nan", lambda s: b'{"Type": NaN}', "invalid_json"),
    Case("deeply-nested-json", lambda s: b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    Case("utf8-bom", lambda s: b"\xef\xbb\xbf" + json.dumps(signed(s)).encode(), "invalid_json"),
    Case("not-utf8", lambda s: json.dumps(signed(s)).encode("utf-16"), "invalid_encoding"),
    Case(
        "latin1-bytes", lambda s: b'{"Type": "Notification", "Message": "\xe9"}', "invalid_encoding"
    ),
    Case("unpaired-surrogate", changed(Message="\ud800"), "invalid_encoding"),
    Case("array", lambda s: json.dumps([signed(s)]), "not_an_object"),
    Case("string", lambda s: '"Notification"', "not_an_object"),
    Case("number", lambda s: "17", "not_an_object"),
    Case("null", lambda s: "null", "not_an_object"),
    Case("duplicate-message", _duplicate_key("Message", "forged"), "duplicate_key"),
    Case("duplicate-type", _duplicate_key("Type", "Notification"), "duplicate_key"),
    Case(
        "duplicate-attribute-key",
        lambda s: json.dumps(signed(s))[:-2] + ', "kind": {"Type": "String", "Value": "x"}}}',
        "duplicate_key",
    ),
    Case(
        "lambda-record-with-both-spellings",
        _lambda_record_with_both_spellings,
        "duplicate_key",
        lambda_format=True,
    ),
    *MISSING_FIELDS,
    Case("without-type", changed(Type=...), "missing_field"),
    Case("raw-delivery-body", lambda s: json.dumps({"order": 17}), "missing_field"),
    Case(
        "attribute-without-value",
        changed(MessageAttributes={"k": {"Type": "String"}}),
        "missing_field",
    ),
    Case("message-is-an-object", changed(Message={"order": 17}), "wrong_field_type"),
    Case("message-id-is-a-number", changed(MessageId=17), "wrong_field_type"),
    Case("subject-is-null", changed(Subject=None), "wrong_field_type"),
    Case("subject-is-a-number", changed(Subject=3), "wrong_field_type"),
    Case("timestamp-is-a-number", changed(Timestamp=1_700_000_000), "wrong_field_type"),
    Case("signature-is-an-array", changed(Signature=["abc"]), "wrong_field_type"),
    Case("signature-version-is-a-number", changed(SignatureVersion=1), "wrong_field_type"),
    Case("signing-cert-url-is-a-number", changed(SigningCertURL=17), "wrong_field_type"),
    Case("signing-cert-url-is-null", changed(SigningCertURL=None), "wrong_field_type"),
    Case("token-is-a-boolean", changed("subconf", Token=True), "wrong_field_type"),
    Case("attributes-are-an-array", changed(MessageAttributes=[]), "wrong_field_type"),
    Case("attribute-is-a-string", changed(MessageAttributes={"k": "v"}), "wrong_field_type"),
    Case(
        "attribute-value-is-a-number",
        changed(MessageAttributes={"k": {"Type": "Number", "Value": 3}}),
        "wrong_field_type",
    ),
    Case("unknown-type", changed(Type="Notice"), "unknown_message_type"),
    Case("lower-case-type", changed(Type="notification"), "unknown_message_type"),
    Case("empty-type", changed(Type=""), "unknown_message_type"),
    Case("topic-arn-not-an-arn", resigned(TopicArn="orders"), "invalid_topic_arn"),
    Case(
        "topic-arn-of-another-service",
        resigned(TopicArn="arn:aws:sqs:us-east-1:123456789012:orders"),
        "invalid_topic_arn",
    ),
    Case("oversize", lambda s: b" " * (MAX_BODY_BYTES + 1), "message_too_large"),
]


@pytest.mark.parametrize("case", BODY_CASES, ids=lambda case: case.id)
def test_malformed_body_is_a_client_error(signer: SnsTestSigner, case: Case) -> None:
    error = reject(signer, case)
    assert error.http_status in (400, 413)
    assert not error.retryable


def test_oversize_body_is_refused_before_it_is_read() -> None:
    with pytest.raises(SnsVerificationError) as raised:
        parse_message(b"{" * (MAX_BODY_BYTES + 1))
    assert raised.value.code == "message_too_large"
    assert raised.value.http_status == 413


@pytest.mark.parametrize(
    "headers",
    [{"x-amz-sns-rawdelivery": "true"}, {"X-Amz-Sns-Rawdelivery": "True"}],
    ids=["lower-case", "mixed-case"],
)
def test_raw_message_delivery_is_refused_with_advice(headers: dict[str, str]) -> None:
    with pytest.raises(SnsVerificationError) as raised:
        reject_raw_delivery(headers)
    assert raised.value.code == "raw_delivery_not_supported"
    assert raised.value.http_status == 400
    assert "RawMessageDelivery off" in raised.value.message


@pytest.mark.parametrize(
    "body", [b"order 17 shipped", b'{"order": 17}', b"[17]"], ids=["text", "object", "array"]
)
def test_raw_delivered_body_fails_with_advice_to_turn_raw_delivery_off(body: bytes) -> None:
    with pytest.raises(SnsVerificationError) as raised:
        parse_message(body)
    assert raised.value.http_status == 400
    assert "raw message delivery" in raised.value.message


def test_signed_delivery_headers_pass_the_raw_delivery_check() -> None:
    reject_raw_delivery(
        {"x-amz-sns-message-type": "Notification", "x-amz-sns-rawdelivery": "false"}
    )


# --- signature ----------------------------------------------------------------------------------


def _signature(transform: Callable[[str], str]) -> Callable[[SnsTestSigner], str]:
    def build(signer: SnsTestSigner) -> str:
        fields = signed(signer)
        fields["Signature"] = transform(fields["Signature"])
        return json.dumps(fields)

    return build


def _signed_by_another_key(signer: SnsTestSigner) -> str:
    impostor = SnsTestSigner(certificate=issue_certificate(private_key=rsa_key("impostor")))
    fields = impostor.sign(signed(signer))
    return json.dumps(fields)


def _relabelled(version: str, label: str) -> Callable[[SnsTestSigner], str]:
    def build(signer: SnsTestSigner) -> str:
        fields = signed(signer, version=version)
        fields["SignatureVersion"] = label
        return json.dumps(fields)

    return build


def _nonzero_padding_bits(signature: str) -> str:
    # 256 bytes encode as 342 characters and "=="; the last character has 4 unused bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    data = signature.rstrip("=")
    return data[:-1] + alphabet[alphabet.index(data[-1]) | 1] + "=="


ALTERED_FIELDS = (
    [
        Case(f"{kind}-{key}-altered", changed(kind, **{key: f"forged {key}"}), "signature_mismatch")
        for kind, message_type in TYPES.items()
        for key in SIGNED_KEYS[message_type]
        if key not in ("Type", "Timestamp", "TopicArn")
    ]
    + [
        Case(
            f"{kind}-Timestamp-altered",
            changed(kind, Timestamp="2031-05-17T08:30:13.345Z"),
            "signature_mismatch",
        )
        for kind in TYPES
    ]
    + [
        Case(
            f"{kind}-TopicArn-altered",
            changed(kind, TopicArn="arn:aws:sns:us-east-1:123456789012:payments"),
            "signature_mismatch",
        )
        for kind in TYPES
    ]
)
SIGNATURE_CASES = [
    Case("signature-version-missing", changed(SignatureVersion=...), "missing_field"),
    Case("signature-version-empty", changed(SignatureVersion=""), "unsupported_signature_version"),
    Case("signature-version-3", changed(SignatureVersion="3"), "unsupported_signature_version"),
    Case("signature-version-01", changed(SignatureVersion="01"), "unsupported_signature_version"),
    Case("signature-empty", _signature(lambda sig: ""), "invalid_signature_encoding"),
    Case(
        "signature-with-newline",
        _signature(lambda sig: sig[:64] + "\n" + sig[64:]),
        "invalid_signature_encoding",
    ),
    Case("signature-with-space", _signature(lambda sig: sig + " "), "invalid_signature_encoding"),
    Case(
        "signature-without-padding",
        _signature(lambda sig: sig.rstrip("=")),
        "invalid_signature_encoding",
    ),
    Case(
        "signature-extra-padding", _signature(lambda sig: sig + "=="), "invalid_signature_encoding"
    ),
    Case(
        "signature-bad-character",
        _signature(lambda sig: "!" + sig[1:]),
        "invalid_signature_encoding",
    ),
    Case(
        "signature-urlsafe-alphabet",
        _signature(lambda sig: "-_" + sig[2:]),
        "invalid_signature_encoding",
    ),
    Case(
        "signature-non-ascii", _signature(lambda sig: "é" + sig[1:]), "invalid_signature_encoding"
    ),
    Case(
        "signature-nonzero-padding-bits",
        _signature(_nonzero_padding_bits),
        "invalid_signature_encoding",
    ),
    Case(
        "signature-of-random-bytes",
        _signature(lambda sig: base64.b64encode(bytes(256)).decode()),
        "signature_mismatch",
    ),
    Case(
        "signature-truncated",
        _signature(lambda sig: base64.b64encode(base64.b64decode(sig)[:-1]).decode()),
        "signature_mismatch",
    ),
    Case("signature-by-another-key", _signed_by_another_key, "signature_mismatch"),
    *ALTERED_FIELDS,
    Case("subject-added", changed(Subject="Forged subject"), "signature_mismatch"),
    Case("subject-removed", changed(Subject=...), "signature_mismatch"),
    Case(
        "subscription-relabelled-unsubscribe",
        changed("subconf", Type="UnsubscribeConfirmation"),
        "signature_mismatch",
    ),
    Case(
        "unsubscribe-relabelled-subscription",
        changed("unsubconf", Type="SubscriptionConfirmation"),
        "signature_mismatch",
    ),
    Case(
        "notification-relabelled-confirmation",
        changed(Type="SubscriptionConfirmation"),
        "missing_field",
    ),
    Case("v2-relabelled-v1", _relabelled("2", "1"), "signature_mismatch"),
    Case("v1-relabelled-v2", _relabelled("1", "2"), "signature_mismatch"),
]


@pytest.mark.parametrize("case", SIGNATURE_CASES, ids=lambda case: case.id)
def test_message_without_a_valid_signature_is_rejected(signer: SnsTestSigner, case: Case) -> None:
    error = reject(signer, case)
    expected_status = 400 if isinstance(error, BadRequestError) else 403
    assert error.http_status == expected_status
    assert not error.retryable


# --- certificate URL ----------------------------------------------------------------------------

PEM_NAME = "SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
REJECTED_CERTIFICATE_URLS = {
    "http": f"http://sns.us-east-1.amazonaws.com/{PEM_NAME}",
    "foreign-host": f"https://example.com/{PEM_NAME}",
    "suffix-look-alike": f"https://sns.us-east-1.amazonaws.com.evil.com/{PEM_NAME}",
    "other-amazonaws-host": f"https://foo.amazonaws.com/{PEM_NAME}",
    "s3-path": f"https://s3.amazonaws.com/bucket/{PEM_NAME}",
    "s3-regional-host-named-sns": f"https://sns.s3-us-east-1.amazonaws.com/{PEM_NAME}",
    "s3-bucket-host": f"https://sns.s3.amazonaws.com/{PEM_NAME}",
    "bucket-subdomain": f"https://sns-us-east-1.s3.amazonaws.com/{PEM_NAME}",
    "sns-without-region": f"https://sns.amazonaws.com/{PEM_NAME}",
    "wrong-path": f"https://sns.us-east-1.amazonaws.com/certs/{PEM_NAME}",
    "wrong-file-name": "https://sns.us-east-1.amazonaws.com/Other-0123456789abcdef0123456789abcdef.pem",
    "short-hash": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "upper-case-hash": f"https://sns.us-east-1.amazonaws.com/{PEM_NAME.upper()}",
    "wrong-extension": f"https://sns.us-east-1.amazonaws.com/{PEM_NAME[:-4]}.crt",
    "pem-only-in-query": f"https://sns.us-east-1.amazonaws.com/{PEM_NAME[:-4]}?x=.pem",
    "pem-only-in-fragment": f"https://sns.us-east-1.amazonaws.com/{PEM_NAME[:-4]}#.pem",
    "userinfo": f"https://user@sns.us-east-1.amazonaws.com/{PEM_NAME}",
    "userinfo-look-alike": f"https://sns.us-east-1.amazonaws.com@evil.com/{PEM_NAME}",
    "port": f"https://sns.us-east-1.amazonaws.com:443/{PEM_NAME}",
    "empty-port": f"https://sns.us-east-1.amazonaws.com:/{PEM_NAME}",
    "query": f"https://sns.us-east-1.amazonaws.com/{PEM_NAME}?x=1",
    "empty-query": f"https://sns.us-east-1.amazonaws.com/{PEM_NAME}?",
    "fragment": f"https://sns.us-east-1.amazonaws.com/{PEM_NAME}#x",
    "other-region": f"https://sns.us-west-2.amazonaws.com/{PEM_NAME}",
    "china-suffix-outside-china": f"https://sns.us-east-1.amazonaws.com.cn/{PEM_NAME}",
    "empty": "",
    "upper-case-host": f"https://SNS.US-EAST-1.AMAZONAWS.COM/{PEM_NAME}",
    "upper-case-scheme": f"HTTPS://sns.us-east-1.amazonaws.com/{PEM_NAME}",
    "trailing-dot-host": f"https://sns.us-east-1.amazonaws.com./{PEM_NAME}",
    "trailing-newline": f"https://sns.us-east-1.amazonaws.com/{PEM_NAME}\n",
    "leading-space": f" https://sns.us-east-1.amazonaws.com/{PEM_NAME}",
    "backslash": f"https://sns.us-east-1.amazonaws.com\\@evil.com/{PEM_NAME}",
    "dot-segments": f"https://sns.us-east-1.amazonaws.com/x/../{PEM_NAME}",
    "percent-encoded-path": f"https://sns.us-east-1.amazonaws.com/%53impleNotificationService-{PEM_NAME[26:]}",
}


@pytest.mark.parametrize(
    "url", REJECTED_CERTIFICATE_URLS.values(), ids=REJECTED_CERTIFICATE_URLS.keys()
)
def test_certificate_url_outside_sns_is_rejected_before_any_fetch(
    signer: SnsTestSigner, url: str
) -> None:
    fetcher = FakeCertificateFetcher({url: signer.certificate_pem})
    case = Case("url", changed(SigningCertURL=url), "certificate_url_rejected")

    error = reject(signer, case, fetcher)

    assert error.http_status == 403
    assert fetcher.calls == []


def test_china_region_needs_the_china_suffix(signer: SnsTestSigner) -> None:
    china = SnsTestSigner(
        topic_arn="arn:aws-cn:sns:cn-north-1:123456789012:orders",
        cert_url=f"https://sns.cn-north-1.amazonaws.com/{PEM_NAME}",
    )
    fetcher = china.fetcher()
    case = Case(
        "china", lambda s: china.notification(timestamp=SIGNED_AT), "certificate_url_rejected"
    )

    reject(china, case, fetcher)

    assert fetcher.calls == []


# --- certificate --------------------------------------------------------------------------------


def _served(pem: bytes | Callable[[], bytes]) -> Callable[[SnsTestSigner], FakeCertificateFetcher]:
    def fetcher(signer: SnsTestSigner) -> FakeCertificateFetcher:
        return FakeCertificateFetcher({signer.cert_url: pem() if callable(pem) else pem})

    return fetcher


def _pem(signer_pem: Callable[[bytes], bytes]) -> Callable[[SnsTestSigner], FakeCertificateFetcher]:
    def fetcher(signer: SnsTestSigner) -> FakeCertificateFetcher:
        return FakeCertificateFetcher({signer.cert_url: signer_pem(signer.certificate_pem)})

    return fetcher


def _bad_der(pem: bytes) -> bytes:
    lines = pem.splitlines(keepends=True)
    return lines[0] + base64.encodebytes(b"\x30\x82\x01\x00not a certificate" * 4) + lines[-1]


CERTIFICATE_CASES: dict[str, tuple[Callable[[SnsTestSigner], FakeCertificateFetcher], str]] = {
    "empty-body": (_served(b""), "certificate_invalid"),
    "html-body": (_served(b"<html><body>Not Found</body></html>"), "certificate_invalid"),
    "der-instead-of-pem": (
        _pem(lambda pem: base64.b64decode(b"".join(pem.splitlines()[1:-1]))),
        "certificate_invalid",
    ),
    "text-before-pem": (_pem(lambda pem: b"hello\n" + pem), "certificate_invalid"),
    "text-after-pem": (_pem(lambda pem: pem + b"trailing text\n"), "certificate_invalid"),
    "pem-buried-in-html": (_pem(lambda pem: b"<pre>\n" + pem + b"</pre>\n"), "certificate_invalid"),
    "two-certificates": (_pem(lambda pem: pem + pem), "certificate_invalid"),
    "certificate-and-key": (
        _pem(lambda pem: pem + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        "certificate_invalid",
    ),
    "wrong-pem-label": (
        _pem(lambda pem: pem.replace(b"CERTIFICATE", b"PUBLIC KEY")),
        "certificate_invalid",
    ),
    "bad-base64-in-pem": (_pem(lambda pem: pem.replace(b"\n", b"\n*", 1)), "certificate_invalid"),
    "invalid-der": (_pem(_bad_der), "certificate_invalid"),
    "ec-key": (_served(ec_certificate_pem), "certificate_invalid"),
    "expired": (
        _served(lambda: issue_certificate(not_after=SIGNED_AT - timedelta(seconds=1)).pem),
        "certificate_expired",
    ),
    "not-yet-valid": (
        _served(lambda: issue_certificate(not_before=SIGNED_AT + timedelta(seconds=1)).pem),
        "certificate_not_yet_valid",
    ),
    "wrong-name": (
        _served(lambda: issue_certificate(name="evil.example.com").pem),
        "certificate_name_mismatch",
    ),
    "look-alike-name": (
        _served(lambda: issue_certificate(name="sns.amazonaws.com.evil.com").pem),
        "certificate_name_mismatch",
    ),
    "name-of-another-region": (
        _served(lambda: issue_certificate(name="sns-signing.af-south-1.amazonaws.com").pem),
        "certificate_name_mismatch",
    ),
    "name-only-in-common-name-beside-other-san": (
        _served(lambda: issue_certificate(alt_names=("other.example.com",)).pem),
        "certificate_name_mismatch",
    ),
}


@pytest.mark.parametrize(
    ("fetcher", "code"), CERTIFICATE_CASES.values(), ids=CERTIFICATE_CASES.keys()
)
def test_unacceptable_certificate_is_rejected(
    signer: SnsTestSigner, fetcher: Callable[[SnsTestSigner], FakeCertificateFetcher], code: str
) -> None:
    case = Case("certificate", lambda s: json.dumps(signed(s)), code)
    error = reject(signer, case, fetcher(signer))
    assert error.http_status == 403
    assert isinstance(error, ForbiddenError)


def test_certificate_without_alternative_names_is_matched_on_its_common_name(
    signer: SnsTestSigner,
) -> None:
    pem = issue_certificate(alt_names=()).pem
    verifier = signer.verifier(
        clock=lambda: SIGNED_AT, fetcher=FakeCertificateFetcher({signer.cert_url: pem})
    )
    assert verifier.verify(parse_message(json.dumps(signed(signer)))).message == "order 17 shipped"


@pytest.mark.parametrize(
    "failure",
    ["HTTP 404 from the certificate host", "connection refused"],
    ids=["non-200", "network"],
)
def test_certificate_fetch_failure_is_transient(signer: SnsTestSigner, failure: str) -> None:
    fetcher = FakeCertificateFetcher(failure=failure)
    case = Case("fetch", lambda s: json.dumps(signed(s)), "certificate_unavailable")

    error = reject(signer, case, fetcher)

    assert isinstance(error, DependencyUnavailableError)
    assert error.http_status == 503
    assert error.retryable
    assert fetcher.calls == [signer.cert_url]


# --- semantics ----------------------------------------------------------------------------------

TIMESTAMP_CASES = [
    Case("timestamp-unparseable", resigned(Timestamp="yesterday"), "invalid_timestamp"),
    Case(
        "timestamp-without-zone", resigned(Timestamp="2031-05-17T08:30:12.345"), "invalid_timestamp"
    ),
    Case("timestamp-date-only", resigned(Timestamp="2031-05-17"), "invalid_timestamp"),
    Case(
        "timestamp-impossible-date",
        resigned(Timestamp="2031-02-30T08:30:12.345Z"),
        "invalid_timestamp",
    ),
    Case("timestamp-basic-format", resigned(Timestamp="20310517T083012Z"), "invalid_timestamp"),
    # Year 0 in UTC: past the calendar's start once the offset is taken off.
    Case(
        "timestamp-outside-utc-calendar",
        resigned(Timestamp="0001-01-01T00:00:00.000+14:00"),
        "invalid_timestamp",
    ),
    Case(
        "timestamp-older-than-window",
        resigned(Timestamp="2031-05-17T07:30:12.344Z"),
        "stale_timestamp",
        options={"max_age": timedelta(hours=1)},
    ),
    Case(
        "timestamp-in-the-future",
        resigned(Timestamp="2031-05-17T08:40:12.345Z"),
        "future_timestamp",
        options={"max_age": timedelta(hours=1)},
    ),
]


@pytest.mark.parametrize("case", TIMESTAMP_CASES, ids=lambda case: case.id)
def test_timestamp_that_is_unreadable_or_outside_the_window_is_rejected(
    signer: SnsTestSigner, case: Case
) -> None:
    reject(signer, case)


@pytest.mark.parametrize(
    "timestamp",
    ["2031-05-17T07:30:12.345Z", "2031-05-17T08:35:12.345Z"],
    ids=["oldest-allowed", "small-clock-skew"],
)
def test_timestamp_inside_the_window_is_accepted(signer: SnsTestSigner, timestamp: str) -> None:
    verifier = signer.verifier(clock=lambda: SIGNED_AT, max_age=timedelta(hours=1))
    body = signer.notification(timestamp=timestamp)
    assert verifier.verify(parse_message(body)).timestamp_raw == timestamp


def test_without_a_window_an_old_message_with_a_valid_certificate_is_accepted(
    signer: SnsTestSigner,
) -> None:
    verifier = signer.verifier(clock=lambda: SIGNED_AT + timedelta(days=365))
    assert verifier.verify(parse_message(json.dumps(signed(signer)))).type == "Notification"


def test_verifier_is_a_message_verifier(signer: SnsTestSigner) -> None:
    assert isinstance(signer.verifier(), MessageVerifier)
