"""What stands in front of the webhook: the firewall's rules and the stage's throttle.

One definition, two consumers: ``infra/firewall.py`` renders :func:`firewall_rules` into AWS
WAF rules, and the local gateway (``snsflow.local.gateway``) applies them with
:class:`Firewall`, so a flood is refused alike by both. The rules refuse, before the stage's
throttle and before any Lambda runs, every webhook request that cannot be SNS delivering with
one of our keys (docs/deploy.md, "Floods"):

1. no key at all (no ``x-api-key`` header or query argument): 401, as the authorizer would;
2. no value that is well formed (``snsf_`` + 43 URL-safe characters): 403 ``invalid_api_key``;
3. no value that begins with the display prefix of a valid webhook key — the *key-prefix set*,
   which the keys commands keep in step with the keys table (:func:`sync_key_prefix_set`):
   403 ``invalid_api_key``;
4. more webhook requests from one source address in a minute than the whole stage serves in
   one: 503, so that SNS retries if one of its addresses ever trips it.

The key-prefix set holds one anchored pattern per valid webhook key value. Before its first
sync it holds :data:`OPEN_PATTERNS`, which admit every well-formed key: a stack deployed over
existing keys refuses none of them until ``snsflow keys sync-firewall`` closes the gate.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from snsflow.authorization import API_KEY_PARAMETER, InvalidApiKeyError, MissingApiKeyError
from snsflow.errors import DependencyUnavailableError, SnsflowError
from snsflow.gateway_responses import GATEWAY_ERRORS
from snsflow.keys import (
    DISPLAY_PREFIX_CHARS,
    KEY_PREFIX,
    KEY_VALUE_LENGTH,
    ApiKey,
    KeyScope,
    KeyStore,
)

#: The stage's throttle (API Gateway applies it to each method on its own): requests per
#: second, and the burst. Over it, the deployed stage and the local gateway answer 503.
DEFAULT_THROTTLE_RATE_LIMIT = 100.0
DEFAULT_THROTTLE_BURST_LIMIT = 200
#: WAF's rate-based rules count over 60, 120, 300 or 600 s; the shortest reacts and releases
#: fastest. Their lowest limit is 10 requests per window.
SOURCE_IP_WINDOW_SECONDS = 60
MIN_RATE_LIMIT = 10
#: WAF's quota on the patterns of one regex pattern set.
MAX_PATTERNS_PER_SET = 10

_KEY_CHARACTER = "[A-Za-z0-9_-]"
_KEY_TAIL_LENGTH = KEY_VALUE_LENGTH - len(KEY_PREFIX)
#: A value the authorizer could accept at all (``snsflow.keys.is_well_formed``).
WELL_FORMED_KEY = f"^{KEY_PREFIX}{_KEY_CHARACTER}{{{_KEY_TAIL_LENGTH}}}$"
#: A present, non-blank value (the authorizer ignores blank ones).
ANY_VALUE = r"\S"
#: ``/webhooks/{workflowId}``, whatever comes before it (the stage, a custom domain's base path).
WEBHOOK_PATH = r"/webhooks/[^/]+$"
#: The key-prefix set before its first sync: every well-formed key is admitted.
OPEN_PATTERNS: tuple[str, ...] = (WELL_FORMED_KEY,)
#: The key-prefix set when no webhook key is valid (WAF wants at least one pattern): matches
#: nothing a key could be, since keys have no spaces.
CLOSED_PATTERNS: tuple[str, ...] = ("^no valid webhook key$",)
KEY_PREFIX_SET_DESCRIPTION = (
    "snsflow: webhook key prefixes the firewall admits, kept by snsflow keys"
)


# -- the rule model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MethodIs:
    method: str


@dataclass(frozen=True)
class PathMatches:
    """The URI path matches ``pattern`` (a search, as WAF's regex match)."""

    pattern: str


@dataclass(frozen=True)
class ApiKeyMatches:
    """The ``x-api-key`` header (name in any case) or query argument (URL-decoded) matches."""

    pattern: str


@dataclass(frozen=True)
class ApiKeyInPrefixSet:
    """The ``x-api-key`` header or query argument matches a pattern of the key-prefix set."""


@dataclass(frozen=True)
class AllOf:
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class AnyOf:
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Not:
    statement: Statement


Statement = MethodIs | PathMatches | ApiKeyMatches | ApiKeyInPrefixSet | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Block:
    """Refuse with ``error``'s status and contract body."""

    error: SnsflowError

    @property
    def status(self) -> int:
        return self.error.http_status


@dataclass(frozen=True)
class MatchRule:
    """Blocks every request ``statement`` matches."""

    name: str
    statement: Statement
    block: Block


@dataclass(frozen=True)
class SourceRateRule:
    """Blocks the requests ``scope`` matches from a source address that sent more than
    ``limit`` of them in the last ``window_seconds`` (a WAF rate-based rule on IP)."""

    name: str
    limit: int
    window_seconds: int
    scope: Statement
    block: Block


Rule = MatchRule | SourceRateRule


@dataclass(frozen=True)
class FirewallSettings:
    """What a deployment chooses: both stacks build their rules from this."""

    #: Refuse keys whose prefix is not a valid webhook key's (rule 3).
    key_prefix_gate: bool = True
    #: Webhook requests per source address per minute; None: what the stage serves in a minute.
    source_ip_limit: int | None = None
    throttle_rate_limit: float = DEFAULT_THROTTLE_RATE_LIMIT

    @property
    def effective_source_ip_limit(self) -> int:
        if self.source_ip_limit is not None:
            return self.source_ip_limit
        return max(MIN_RATE_LIMIT, math.ceil(self.throttle_rate_limit * SOURCE_IP_WINDOW_SECONDS))


WEBHOOK_REQUEST = AllOf((MethodIs("POST"), PathMatches(WEBHOOK_PATH)))
_INVALID_KEY = Block(InvalidApiKeyError("the API key is not valid"))


def firewall_rules(settings: FirewallSettings) -> tuple[Rule, ...]:
    """The rules, in evaluation order (the first that blocks answers)."""
    missing = GATEWAY_ERRORS["UNAUTHORIZED"].message or MissingApiKeyError.code
    rules: list[Rule] = [
        MatchRule(
            "WebhookWithoutKey",
            AllOf((WEBHOOK_REQUEST, Not(ApiKeyMatches(ANY_VALUE)))),
            Block(MissingApiKeyError(missing)),
        ),
        MatchRule(
            "WebhookMalformedKey",
            AllOf((WEBHOOK_REQUEST, Not(ApiKeyMatches(WELL_FORMED_KEY)))),
            _INVALID_KEY,
        ),
    ]
    if settings.key_prefix_gate:
        rules.append(
            MatchRule(
                "WebhookUnknownKey",
                AllOf((WEBHOOK_REQUEST, Not(ApiKeyInPrefixSet()))),
                _INVALID_KEY,
            )
        )
    rules.append(
        SourceRateRule(
            "WebhookSourceFlood",
            limit=settings.effective_source_ip_limit,
            window_seconds=SOURCE_IP_WINDOW_SECONDS,
            scope=WEBHOOK_REQUEST,
            block=Block(
                DependencyUnavailableError(
                    "Too many requests from this address right now; retry later."
                )
            ),
        )
    )
    return tuple(rules)


# -- applying the rules (the local gateway) -------------------------------------------------------


@dataclass(frozen=True)
class InspectedRequest:
    method: str
    path: str
    #: Header pairs as received (names in any case).
    headers: Sequence[tuple[str, str]]
    #: Query pairs, URL-decoded.
    query: Sequence[tuple[str, str]]
    source_ip: str


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _key_values(request: InspectedRequest) -> list[str]:
    # WAF matches header and query argument names in any case; a name that appears more than
    # once is matched on any of its values (WAF documents neither way: this is the lenient one).
    return [
        value
        for name, value in (*request.headers, *request.query)
        if name.lower() == API_KEY_PARAMETER
    ]


class Firewall:
    """Applies ``rules`` to requests, as WAF does in front of the stage.

    ``key_prefix_patterns`` gives the key-prefix set's current patterns. Rate-based rules act
    at once here; WAF notices a rate only after a delay (usually under 30 s).
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        key_prefix_patterns: Callable[[], Sequence[str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = tuple(rules)
        self._key_prefix_patterns = key_prefix_patterns
        self._clock = clock
        self._seen: dict[tuple[str, str], deque[float]] = {}
        self._guard = threading.Lock()

    def inspect(self, request: InspectedRequest) -> tuple[str, Block] | None:
        """The blocking rule's name and block, or None when the request may pass."""
        for rule in self.rules:
            if isinstance(rule, MatchRule):
                if self._matches(rule.statement, request):
                    return rule.name, rule.block
            elif self._matches(rule.scope, request) and self._over_rate(rule, request.source_ip):
                return rule.name, rule.block
        return None

    def _matches(self, statement: Statement, request: InspectedRequest) -> bool:
        match statement:
            case MethodIs(method):
                return request.method == method
            case PathMatches(pattern):
                return _compiled(pattern).search(request.path) is not None
            case ApiKeyMatches(pattern):
                return any(_compiled(pattern).search(v) for v in _key_values(request))
            case ApiKeyInPrefixSet():
                patterns = [_compiled(p) for p in self._key_prefix_patterns()]
                return any(p.search(v) for p in patterns for v in _key_values(request))
            case AllOf(statements):
                return all(self._matches(s, request) for s in statements)
            case AnyOf(statements):
                return any(self._matches(s, request) for s in statements)
            case Not(inner):
                return not self._matches(inner, request)

    def _over_rate(self, rule: SourceRateRule, source_ip: str) -> bool:
        now = self._clock()
        with self._guard:
            seen = self._seen.setdefault((rule.name, source_ip), deque())
            while seen and seen[0] <= now - rule.window_seconds:
                seen.popleft()
            seen.append(now)  # blocked requests count too: WAF measures the incoming rate
            return len(seen) > rule.limit


# -- the key-prefix set ---------------------------------------------------------------------------


def key_prefix_pattern(display_prefix: str) -> str:
    """The pattern admitting the well-formed values that begin with ``display_prefix``."""
    if not re.fullmatch(f"{KEY_PREFIX}{_KEY_CHARACTER}{{{DISPLAY_PREFIX_CHARS}}}", display_prefix):
        raise ValueError(f"{display_prefix!r} is not a key's display prefix")
    # Every character of a prefix is literal in a regular expression ('-' outside a class).
    tail = _KEY_TAIL_LENGTH - DISPLAY_PREFIX_CHARS
    return f"^{display_prefix}{_KEY_CHARACTER}{{{tail}}}$"


def key_prefix_patterns(keys: Iterable[ApiKey], now: datetime) -> list[str]:
    """The set's content for ``keys``: one pattern per valid webhook key value, in order."""
    prefixes = {
        key.display_prefix for key in keys if key.scope is KeyScope.WEBHOOK and key.is_valid_at(now)
    }
    return sorted(key_prefix_pattern(p) for p in prefixes) or list(CLOSED_PATTERNS)


class KeyPrefixSetFullError(SnsflowError):
    code = "key_prefix_set_full"
    http_status = 409


class KeyPrefixSetChangedError(SnsflowError):
    """The set changed between reading and writing it (WAF's lock token did not match)."""

    code = "key_prefix_set_changed"
    http_status = 409
    retryable = True


@dataclass(frozen=True)
class PatternSetContent:
    patterns: tuple[str, ...]
    #: WAF's optimistic lock: a write must name the token of the content it replaces.
    lock_token: str


class KeyPrefixSet(Protocol):
    """The firewall's key-prefix set (``snsflow.wafv2.WafRegexPatternSet``)."""

    def read(self) -> PatternSetContent: ...

    def write(self, patterns: Sequence[str], lock_token: str) -> None:
        """Replace the patterns; :class:`KeyPrefixSetChangedError` if the token is stale."""
        ...


@dataclass(frozen=True)
class SyncResult:
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def was_open(self) -> bool:
        return self.before == OPEN_PATTERNS

    @property
    def changed(self) -> bool:
        return set(self.before) != set(self.after)

    @property
    def admitted(self) -> int:
        return 0 if self.after == CLOSED_PATTERNS else len(self.after)


@dataclass
class KeyPrefixSync:
    """Makes the key-prefix set admit exactly the valid webhook keys of ``keys`` (and any
    ``also``): read the keys, read the set, write it if it differs; when another writer got
    in between (a stale lock token), start over from the keys. Idempotent."""

    keys: KeyStore
    prefix_set: KeyPrefixSet
    clock: Callable[[], datetime]
    capacity: int = MAX_PATTERNS_PER_SET
    attempts: int = 5
    backoff_seconds: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep)

    def sync(self, also: Iterable[ApiKey] = ()) -> SyncResult:
        extra = list(also)
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.backoff_seconds * attempt)
            wanted = key_prefix_patterns([*self.keys.all(), *extra], self.clock())
            if len(wanted) > self.capacity:
                raise KeyPrefixSetFullError(
                    f"the firewall admits at most {self.capacity} webhook key values and "
                    f"{len(wanted)} would be valid: revoke a key you no longer use (or rotate "
                    "with a shorter --grace) first"
                )
            current = self.prefix_set.read()
            if set(current.patterns) == set(wanted):
                return SyncResult(current.patterns, current.patterns)
            try:
                self.prefix_set.write(wanted, current.lock_token)
            except KeyPrefixSetChangedError:
                continue
            return SyncResult(current.patterns, tuple(wanted))
        raise KeyPrefixSetChangedError(
            f"the firewall's key-prefix set kept changing during {self.attempts} attempts; "
            "run 'snsflow keys sync-firewall' again"
        )


class GatedKeyStore:
    """A :class:`KeyStore` that admits a new key value to the firewall before storing it, so a
    key is never stored without its prefix in the set (a prefix without a stored key is
    harmless: the authorizer refuses it, and the next sync removes it)."""

    def __init__(self, store: KeyStore, sync: KeyPrefixSync) -> None:
        self._store = store
        self._sync = sync

    def add(self, key: ApiKey) -> None:
        self._sync.sync(also=[key])
        self._store.add(key)

    def named(self, name: str) -> list[ApiKey]:
        return self._store.named(name)

    def all(self) -> list[ApiKey]:
        return self._store.all()

    def revoke(self, key_hash: str, at: datetime) -> None:
        self._store.revoke(key_hash, at)

    def expire(self, key_hash: str, at: datetime) -> None:
        self._store.expire(key_hash, at)
