"""Certificate-URL and SubscribeURL policies, and the explicit trust setting for local stacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from snsflow.sns import (
    CertificateProvider,
    CertificateUrlRejectedError,
    MessageVerifier,
    SignatureMismatchError,
    SubscribeUrlRejectedError,
    parse_message,
    validate_certificate_url,
    validate_subscribe_url,
)
from snsflow.sns.urls import signing_certificate_names
from tests.support.sns import FakeCertificateFetcher, SnsTestSigner, issue_certificate

SIGNED_AT = datetime(2031, 5, 17, 8, 30, 12, 345000, tzinfo=UTC)
HASH = "0123456789abcdef0123456789abcdef"
TOPIC = "arn:aws:sns:us-west-2:123456789012:orders"
TOKEN = "2336412f37fb687f5d51e6e2425dacbba6354b493e39a58d8ed2df56e3d0d557"
SUBSCRIBE = f"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={TOKEN}"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        (f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{HASH}.pem", "us-east-1"),
        (
            f"https://sns.eu-central-2.amazonaws.com/SimpleNotificationService-{HASH}.pem",
            "eu-central-2",
        ),
        (
            f"https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-{HASH}.pem",
            "us-gov-west-1",
        ),
        (
            f"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-{HASH}.pem",
            "cn-north-1",
        ),
    ],
    ids=["us-east-1", "eu-central-2", "govcloud", "china"],
)
def test_sns_certificate_url_of_the_topics_region_is_accepted(url: str, region: str) -> None:
    validate_certificate_url(url, region=region)


def test_rejected_certificate_url_says_what_is_wrong() -> None:
    with pytest.raises(CertificateUrlRejectedError) as raised:
        validate_certificate_url(
            f"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-{HASH}.pem",
            region="us-east-1",
        )
    assert "sns.us-east-1.amazonaws.com" in raised.value.message


@pytest.mark.parametrize(
    ("region", "names"),
    [
        ("us-east-1", {"sns.amazonaws.com"}),
        ("eu-west-3", {"sns.amazonaws.com"}),
        ("af-south-1", {"sns-signing.af-south-1.amazonaws.com"}),
        ("us-gov-east-1", {"sns-us-gov-west-1.amazonaws.com"}),
        ("cn-northwest-1", {"sns-cn-northwest-1.amazonaws.com.cn"}),
        ("xx-newplace-9", {"sns.amazonaws.com", "sns-signing.xx-newplace-9.amazonaws.com"}),
    ],
)
def test_each_region_expects_its_signing_certificate_name(region: str, names: set[str]) -> None:
    assert signing_certificate_names(region) == names


# --- SubscribeURL -------------------------------------------------------------------------------


def test_real_subscribe_url_is_accepted() -> None:
    validate_subscribe_url(SUBSCRIBE, topic_arn=TOPIC, token=TOKEN)


def test_subscribe_url_parameters_may_come_in_any_order_and_percent_encoded() -> None:
    url = (
        f"https://sns.us-west-2.amazonaws.com/?Token={TOKEN}"
        "&TopicArn=arn%3Aaws%3Asns%3Aus-west-2%3A123456789012%3Aorders&Action=ConfirmSubscription"
    )
    validate_subscribe_url(url, topic_arn=TOPIC, token=TOKEN)


REJECTED_SUBSCRIBE_URLS = {
    "http": SUBSCRIBE.replace("https://", "http://"),
    "foreign-host": SUBSCRIBE.replace("sns.us-west-2.amazonaws.com", "evil.example.com"),
    "other-region": SUBSCRIBE.replace("sns.us-west-2", "sns.us-east-1"),
    "look-alike-host": SUBSCRIBE.replace(".amazonaws.com/", ".amazonaws.com.evil.com/"),
    "userinfo": SUBSCRIBE.replace("https://", "https://user@"),
    "port": SUBSCRIBE.replace(".com/", ".com:8443/"),
    "path": SUBSCRIBE.replace(".com/?", ".com/redirect?"),
    "fragment": SUBSCRIBE + "#x",
    "other-topic": SUBSCRIBE.replace(":orders", ":payments"),
    "other-token": SUBSCRIBE.replace("Token=2336", "Token=9999"),
    "other-action": SUBSCRIBE.replace("ConfirmSubscription", "Unsubscribe"),
    "extra-parameter": SUBSCRIBE + "&Next=https://evil.example.com",
    "repeated-parameter": SUBSCRIBE + f"&Token={TOKEN}",
    "missing-token": SUBSCRIBE.split("&Token=")[0],
    "no-query": "https://sns.us-west-2.amazonaws.com/",
    "not-a-url": "https://[broken/",
}


@pytest.mark.parametrize(
    "url", REJECTED_SUBSCRIBE_URLS.values(), ids=REJECTED_SUBSCRIBE_URLS.keys()
)
def test_subscribe_url_that_does_not_confirm_exactly_this_subscription_is_rejected(
    url: str,
) -> None:
    with pytest.raises(SubscribeUrlRejectedError) as raised:
        validate_subscribe_url(url, topic_arn=TOPIC, token=TOKEN)
    assert raised.value.code == "subscribe_url_rejected"
    assert raised.value.http_status == 403


def test_subscribe_url_on_a_trusted_local_host_still_needs_the_exact_query() -> None:
    local = f"http://127.0.0.1:4566/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={TOKEN}"
    trusted = ("http://127.0.0.1:4566/",)

    validate_subscribe_url(local, topic_arn=TOPIC, token=TOKEN, trusted_prefixes=trusted)
    with pytest.raises(SubscribeUrlRejectedError):
        validate_subscribe_url(
            local + "&x=1", topic_arn=TOPIC, token=TOKEN, trusted_prefixes=trusted
        )
    with pytest.raises(SubscribeUrlRejectedError):
        validate_subscribe_url(local, topic_arn=TOPIC, token=TOKEN)


# --- trusted certificate locations (local stack / LocalStack) ------------------------------------

LOCAL_PREFIX = "http://127.0.0.1:4566/"


def _local_signer() -> SnsTestSigner:
    # A local emulator's certificate need not carry an SNS name.
    return SnsTestSigner(
        certificate=issue_certificate(name="localhost"),
        cert_url=f"{LOCAL_PREFIX}_aws/sns/SimpleNotificationService-local.pem",
    )


def test_trusted_prefix_admits_a_local_certificate_without_the_sns_name() -> None:
    signer = _local_signer()
    verifier = signer.verifier(clock=lambda: SIGNED_AT, trusted_cert_url_prefixes=(LOCAL_PREFIX,))

    verified = verifier.verify(parse_message(signer.notification(timestamp=SIGNED_AT)))

    assert verified.signing_cert_url == signer.cert_url


def test_trusted_prefix_never_skips_the_signature_check() -> None:
    signer = _local_signer()
    verifier = signer.verifier(clock=lambda: SIGNED_AT, trusted_cert_url_prefixes=(LOCAL_PREFIX,))
    fields = json.loads(signer.notification(timestamp=SIGNED_AT))
    fields["Message"] = "forged"

    with pytest.raises(SignatureMismatchError):
        verifier.verify(parse_message(json.dumps(fields)))


def test_local_certificate_is_refused_without_the_trust_setting() -> None:
    signer = _local_signer()
    fetcher = signer.fetcher()

    with pytest.raises(CertificateUrlRejectedError):
        signer.verifier(clock=lambda: SIGNED_AT, fetcher=fetcher).verify(
            parse_message(signer.notification(timestamp=SIGNED_AT))
        )
    assert fetcher.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:45660/cert.pem",
        "http://127.0.0.1:4566.evil.com/cert.pem",
        "https://127.0.0.1:4566/cert.pem",
        "http://127.0.0.1:4566/",
        "http://127.0.0.1:4566/cert.pem?x=1",
        "http://127.0.0.1:4566/cert.pem#x",
        "http://127.0.0.1:4566/a/../cert.pem",
        "http://evil@127.0.0.1:4566/cert.pem",
    ],
    ids=[
        "other-port",
        "host-extension",
        "other-scheme",
        "the-prefix-itself",
        "query",
        "fragment",
        "dot-segments",
        "userinfo",
    ],
)
def test_url_merely_resembling_a_trusted_prefix_is_not_trusted(url: str) -> None:
    signer = SnsTestSigner(certificate=issue_certificate(name="localhost"), cert_url=url)
    fetcher = signer.fetcher()
    verifier = signer.verifier(
        clock=lambda: SIGNED_AT, fetcher=fetcher, trusted_cert_url_prefixes=(LOCAL_PREFIX,)
    )

    with pytest.raises(CertificateUrlRejectedError):
        verifier.verify(parse_message(signer.notification(timestamp=SIGNED_AT)))
    assert fetcher.calls == []


@pytest.mark.parametrize(
    "prefix",
    [
        "http://127.0.0.1:4566",
        "127.0.0.1:4566/",
        "ftp://127.0.0.1/",
        "http://u@127.0.0.1/",
        "http:///x/",
    ],
    ids=["no-trailing-slash", "no-scheme", "ftp", "userinfo", "no-host"],
)
def test_trusted_prefix_must_be_an_unambiguous_location(prefix: str) -> None:
    with pytest.raises(ValueError, match="trusted certificate URL prefix"):
        MessageVerifier(
            CertificateProvider(FakeCertificateFetcher()), trusted_cert_url_prefixes=(prefix,)
        )


def test_trust_setting_is_off_by_default() -> None:
    signer = _local_signer()
    fetcher = FakeCertificateFetcher({signer.cert_url: signer.certificate_pem})
    verifier = signer.verifier(clock=lambda: SIGNED_AT, fetcher=fetcher)
    with pytest.raises(CertificateUrlRejectedError):
        verifier.verify(parse_message(signer.notification(timestamp=SIGNED_AT)))
