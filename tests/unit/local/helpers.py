"""Steps shared by the local SNS tests."""

from __future__ import annotations

import base64
import json
from typing import Any

import urllib3
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from mypy_boto3_sns import SNSClient

from snsflow.local.sns import LocalSns
from tests.support.sns_spec import SIGNED_KEYS
from tests.unit.local.receiver import Receiver

_DIGESTS = {"1": hashes.SHA1, "2": hashes.SHA256}


def http_get(url: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, redirect=False, retries=False, timeout=5.0)


def signature_is_valid(fields: dict[str, Any], certificate_pem: bytes, version: str) -> bool:
    """An independent check (written from the SNS documentation, not with snsflow's code)."""
    signed = "".join(
        f"{key}\n{fields[key]}\n" for key in SIGNED_KEYS[fields["Type"]] if key in fields
    ).encode()
    public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    assert isinstance(public_key, RSAPublicKey)
    try:
        public_key.verify(
            base64.b64decode(fields["Signature"]),
            signed,
            PKCS1v15(),
            _DIGESTS[version](),
        )
    except InvalidSignature:
        return False
    return True


def subscribe_and_confirm(
    client: SNSClient,
    topic_arn: str,
    receiver: Receiver,
    attributes: dict[str, str] | None = None,
) -> str:
    """Subscribe ``receiver``, answer the confirmation by visiting its SubscribeURL."""
    already = len(receiver.requests)
    client.subscribe(
        TopicArn=topic_arn,
        Protocol="http",
        Endpoint=receiver.url(),
        Attributes=attributes or {},
    )
    confirmation = json.loads(receiver.wait_for(already + 1)[already].body)
    assert confirmation["Type"] == "SubscriptionConfirmation"
    response = http_get(confirmation["SubscribeURL"])
    assert response.status == 200
    arns = [
        s["SubscriptionArn"]
        for s in client.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        if s["Endpoint"] == receiver.url()
    ]
    assert len(arns) == 1
    return arns[0]


def delivered_notifications(receiver: Receiver) -> list[dict[str, Any]]:
    return [
        json.loads(r.body)
        for r in receiver.requests
        if r.header("x-amz-sns-message-type") == "Notification"
    ]


def settle(sns: LocalSns) -> None:
    assert sns.wait_until_idle(timeout=10.0), "deliveries still running after 10 s"
