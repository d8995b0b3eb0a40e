"""AWS WAF adapter: the firewall's key-prefix set, a WAF regex pattern set (the port
:class:`snsflow.firewall.KeyPrefixSet`).

WAF guards every change with an optimistic lock: a write names the lock token of the content it
replaces, and a stale token is refused (:class:`KeyPrefixSetChangedError`, which the sync
retries from a fresh read). Every other failure — no such set, no permission, WAF's quota of
one change per second — becomes a :class:`KeyPrefixSetUnavailableError` with WAF's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from snsflow.errors import DependencyUnavailableError
from snsflow.firewall import (
    KEY_PREFIX_SET_DESCRIPTION,
    KeyPrefixSetChangedError,
    PatternSetContent,
)

if TYPE_CHECKING:
    from mypy_boto3_wafv2 import WAFV2Client

#: ``arn:aws:wafv2:<region>:<account>:regional/regexpatternset/<name>/<id>``
_ARN = re.compile(
    r"arn:aws[a-z-]*:wafv2:[a-z0-9-]*:\d{12}:(?P<scope>regional|global)/regexpatternset/"
    r"(?P<name>[\w-]{1,128})/(?P<id>[a-f0-9-]{1,36})"
)


class KeyPrefixSetUnavailableError(DependencyUnavailableError):
    code = "key_prefix_set_unavailable"


@dataclass(frozen=True)
class PatternSetAddress:
    """What WAF's API names a regex pattern set by: its name, scope and id."""

    name: str
    id: str
    scope: Literal["REGIONAL", "CLOUDFRONT"]

    @classmethod
    def from_arn(cls, arn: str) -> PatternSetAddress:
        match = _ARN.fullmatch(arn)
        if match is None:
            raise ValueError(f"'{arn}' is not the ARN of a WAF regex pattern set")
        scope: Literal["REGIONAL", "CLOUDFRONT"] = (
            "REGIONAL" if match["scope"] == "regional" else "CLOUDFRONT"
        )
        return cls(name=match["name"], id=match["id"], scope=scope)


@contextmanager
def _waf_errors(action: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        detail = error.response.get("Error", {})
        if detail.get("Code") == "WAFOptimisticLockException":
            raise KeyPrefixSetChangedError(f"cannot {action}: it changed meanwhile") from error
        raise KeyPrefixSetUnavailableError(
            f"cannot {action}: {detail.get('Code')}: {detail.get('Message')}"
        ) from error
    except BotoCoreError as error:
        raise KeyPrefixSetUnavailableError(f"cannot {action}: {error}") from error


class WafRegexPatternSet:
    """One regex pattern set, through a WAFV2 client."""

    def __init__(self, client: WAFV2Client, arn: str) -> None:
        self._client = client
        self.arn = arn
        self.address = PatternSetAddress.from_arn(arn)
        self._description = ""

    def read(self) -> PatternSetContent:
        address = self.address
        with _waf_errors(f"read the firewall's key-prefix set {address.name}"):
            answer = self._client.get_regex_pattern_set(
                Name=address.name, Scope=address.scope, Id=address.id
            )
        pattern_set = answer["RegexPatternSet"]
        self._description = pattern_set.get("Description", "")
        return PatternSetContent(
            patterns=tuple(
                entry["RegexString"]
                for entry in pattern_set.get("RegularExpressionList", [])
                if "RegexString" in entry
            ),
            lock_token=answer["LockToken"],
        )

    def write(self, patterns: Sequence[str], lock_token: str) -> None:
        address = self.address
        with _waf_errors(f"write the firewall's key-prefix set {address.name}"):
            self._client.update_regex_pattern_set(
                Name=address.name,
                Scope=address.scope,
                Id=address.id,
                # An update replaces every setting: keep the description.
                Description=self._description or KEY_PREFIX_SET_DESCRIPTION,
                RegularExpressionList=[{"RegexString": pattern} for pattern in patterns],
                LockToken=lock_token,
            )
