"""Where SNS certificates and confirmation links may point, checked before any network I/O.

The policy is an exact match, not a pattern hunt: ``https://sns.<region>.amazonaws.com[.cn]/``
with the topic's own region, then ``SimpleNotificationService-<32 hex>.pem``, nothing else.
Looser checks used by several SDKs have let S3 bucket hosts or ``?x=.pem`` through.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import SplitResult, parse_qsl, urlsplit

from snsflow.sns.errors import CertificateUrlRejectedError, SubscribeUrlRejectedError
from snsflow.sns.messages import topic_region

_CERTIFICATE_URL = re.compile(
    r"https://sns\.(?P<region>[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2})\.amazonaws\.com(?P<china>\.cn)?"
    r"/SimpleNotificationService-[0-9a-f]{32}\.pem"
)
_CERTIFICATE_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]{32}\.pem")

#: The name of the certificate that signs each region's messages: ``sns.amazonaws.com`` for
#: the original regions; China, GovCloud and opt-in regions have their own (as listed by the AWS
#: SDK for Java v2 SNS message manager).
_SIGNING_CERT_NAMES: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "ca-central-1",
                "sa-east-1",
                "eu-west-1",
                "eu-west-2",
                "eu-west-3",
                "eu-central-1",
                "eu-north-1",
                "ap-northeast-1",
                "ap-northeast-2",
                "ap-northeast-3",
                "ap-southeast-1",
                "ap-southeast-2",
                "ap-south-1",
            ),
            "sns.amazonaws.com",
        ),
        "cn-north-1": "sns-cn-north-1.amazonaws.com.cn",
        "cn-northwest-1": "sns-cn-northwest-1.amazonaws.com.cn",
        "us-gov-west-1": "sns-us-gov-west-1.amazonaws.com",
        "us-gov-east-1": "sns-us-gov-west-1.amazonaws.com",
        **{
            region: f"sns-signing.{region}.amazonaws.com"
            for region in (
                "af-south-1",
                "ap-east-1",
                "ap-east-2",
                "ap-south-2",
                "ap-southeast-3",
                "ap-southeast-4",
                "ap-southeast-5",
                "ap-southeast-6",
                "ap-southeast-7",
                "ca-west-1",
                "eu-central-2",
                "eu-south-1",
                "eu-south-2",
                "il-central-1",
                "me-central-1",
                "me-south-1",
                "mx-central-1",
            )
        },
    }
)


def sns_host(region: str) -> str:
    """The SNS endpoint host of a region (``amazonaws.com.cn`` in China)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"sns.{region}.{suffix}"


@functools.lru_cache(maxsize=256)
def signing_certificate_names(region: str) -> frozenset[str]:
    """DNS names acceptable in the certificate that signs a region's messages.

    For a region this table does not know yet, both names SNS has used for new regions are
    accepted; the certificate still had to come from that region's SNS host over TLS.
    """
    known = _SIGNING_CERT_NAMES.get(region)
    if known is not None:
        return frozenset((known,))
    if region.startswith("cn-"):
        return frozenset((f"sns-{region}.amazonaws.com.cn",))
    return frozenset(("sns.amazonaws.com", f"sns-signing.{region}.amazonaws.com"))


def validate_certificate_url(url: str, *, region: str) -> None:
    """Accept only ``https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<hex>.pem``.

    Raises :class:`CertificateUrlRejectedError` (saying what is wrong) otherwise.
    """
    if not _is_sns_certificate_url(url, region):
        raise CertificateUrlRejectedError(
            f"SigningCertURL {url[:300]!r} is refused: {_certificate_url_problem(url, region)}"
        )


def trusted_certificate_url(url: str, prefixes: tuple[str, ...]) -> bool:
    """True if ``url`` lies under one of the explicitly trusted ``prefixes`` (local stacks only).

    The URL must share a prefix's scheme and exact host[:port], extend its path without ``..``
    segments, and have no userinfo, query or fragment.
    """
    parts = _trusted_origin(url, prefixes)
    if parts is None or parts.query or parts.fragment or "?" in url or "#" in url:
        return False
    # Every prefix ends in "/", so a match pins the scheme and host[:port] as well.
    return ".." not in parts.path.split("/") and any(
        url.startswith(prefix) and len(url) > len(prefix) for prefix in prefixes
    )


def check_trusted_prefixes(prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """Validate trusted certificate-location prefixes: absolute http(s) URLs ending in ``/``."""
    for prefix in prefixes:
        parts = urlsplit(prefix)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or "@" in parts.netloc
            or parts.query
            or parts.fragment
            or not parts.path.endswith("/")
        ):
            raise ValueError(
                f"trusted certificate URL prefix {prefix!r} must be an http(s) URL with a host "
                "and a path ending in '/', without userinfo, query or fragment"
            )
    return prefixes


def validate_subscribe_url(
    url: str, *, topic_arn: str, token: str, trusted_prefixes: tuple[str, ...] = ()
) -> None:
    """Accept a ``SubscribeURL`` only if it confirms exactly this topic with exactly this token.

    It must be ``https://sns.<topic region>.amazonaws.com[.cn]/?Action=ConfirmSubscription&
    TopicArn=<topic_arn>&Token=<token>`` (the three parameters once each, in any order; no
    userinfo, port, other path or fragment). Under a trusted prefix (local stacks) the host may
    differ but the query is checked all the same. Raises :class:`SubscribeUrlRejectedError`.
    """
    problem = _subscribe_url_problem(
        url, topic_region(topic_arn), topic_arn, token, trusted_prefixes
    )
    if problem is not None:
        raise SubscribeUrlRejectedError(f"SubscribeURL {url[:300]!r} is refused: {problem}")


@functools.lru_cache(maxsize=256)
def _is_sns_certificate_url(url: str, region: str) -> bool:
    match = _CERTIFICATE_URL.fullmatch(url)
    return (
        match is not None
        and match["region"] == region
        and bool(match["china"]) == region.startswith("cn-")
    )


def _certificate_url_problem(url: str, region: str) -> str:
    """Explain why a URL failed :func:`_is_sns_certificate_url` (slow path, errors only)."""
    if not url:
        return "it is empty"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    expected_host = sns_host(region)
    problem = _origin_problem(parts, port, expected_host, "https")
    if problem is not None:
        return problem
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "it must not have a query or a fragment"
    if _CERTIFICATE_PATH.fullmatch(parts.path) is None:
        return "its path must be /SimpleNotificationService-<32 hex digits>.pem"
    return f"it must be https://{expected_host}/SimpleNotificationService-<32 hex digits>.pem"


def _origin_problem(
    parts: SplitResult, port: int | None, expected_host: str, scheme: str
) -> str | None:
    if parts.scheme != scheme:
        return f"it must use {scheme}"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "it must not contain userinfo"
    if port is not None or parts.netloc.endswith(":"):
        return "it must not name a port"
    if parts.netloc != expected_host:
        return f"its host must be exactly {expected_host} (the SNS endpoint of the topic's region)"
    return None


def _subscribe_url_problem(
    url: str, region: str, topic_arn: str, token: str, trusted_prefixes: tuple[str, ...]
) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    if _trusted_origin(url, trusted_prefixes) is None:
        problem = _origin_problem(parts, port, sns_host(region), "https")
        if problem is not None:
            return problem
        if parts.path != "/":
            return "its path must be /"
    if parts.fragment or "#" in url:
        return "it must not have a fragment"
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return "its query is malformed"
    expected = {"Action": "ConfirmSubscription", "TopicArn": topic_arn, "Token": token}
    if len(query) != len(expected) or dict(query) != expected:
        return "its query must be exactly Action=ConfirmSubscription, this TopicArn and this Token"
    return None


def _trusted_origin(url: str, prefixes: tuple[str, ...]) -> SplitResult | None:
    """The parts of ``url`` if its scheme and host[:port] are those of a trusted prefix."""
    if not prefixes or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if "@" in parts.netloc:
        return None
    origins = {urlsplit(prefix)[:2] for prefix in prefixes}
    return parts if parts[:2] in origins else None
