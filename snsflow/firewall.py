"""What stands in front of the webhook: the firewall's rules and the stage's throttle.

One definition, two consumers: ``infra/firewall.py`` renders :func:`firewall_rules` into AWS
WAF rules, and the local gateway (``snsflow.local.gateway``) applies them with
:class:`Firewall`, so a flood is refused alike by both. The rules refuse, before the stage's
throttle and before any Lambda runs, every webhook request that cannot be SNS delivering with
one of our keys (docs/deploy.md, "Floods"):

1. no key at all (no ``x-api-key`` header or query argument): 401, as the authorizer would;
2. no value that is well formed (``snsf_`` + 43 URL-safe characters): 403 ``invalid_api_key``;
3. no value that begins with a display prefix of the *key-prefix set*, which the keys
   commands keep in step with the keys table (:class:`KeyPrefixSync`): 403 ``invalid_api_key``;
4. more webhook requests from one source address in a minute than the whole stage serves in
   one: 503, so that SNS retries if one of its addresses ever trips it.

The key-prefix set holds one anchored pattern per valid webhook key value and, in the room
left (:data:`MAX_PATTERNS_PER_SET`), per revoked or expired one, the most recently retired
first (:func:`plan_key_prefix_set`): a delivery still using a retired value reaches the
authorizer, which refuses it with ``revoked_api_key`` or ``expired_api_key`` where the refusal
is logged and alarmed on, until newer values need its room. Before its first sync the set holds
:data:`OPEN_PATTERNS`, which admit every well-formed key: a stack deployed over existing keys
refuses none of them until ``snsflow keys sync-firewall`` closes the gate.
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


#: The rule refusing keys the key-prefix set does not admit (its refusals are alarmed on).
UNKNOWN_KEY_RULE = "WebhookUnknownKey"
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
                UNKNOWN_KEY_RULE,
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


class KeyPrefixSetFullError(SnsflowError):
    code = "key_prefix_set_full"
    http_status = 409


@dataclass(frozen=True)
class KeyPrefixSetPlan:
    """What the key-prefix set should hold for a keys table, and what it leaves out."""

    #: One pattern per valid webhook key value: all of them, always.
    valid: tuple[str, ...]
    #: Revoked or expired webhook key values kept while there is room, most recently retired
    #: first: the authorizer refuses them with their own code, where the refusal is logged.
    retired: tuple[str, ...]
    #: Revoked or expired webhook key values the set has no room for, or marked leaked, most
    #: recently retired first: the firewall refuses them (``invalid_api_key``).
    left_out: tuple[ApiKey, ...]

    @property
    def patterns(self) -> tuple[str, ...]:
        return (*self.valid, *self.retired) or CLOSED_PATTERNS


def plan_key_prefix_set(
    keys: Iterable[ApiKey], now: datetime, capacity: int = MAX_PATTERNS_PER_SET
) -> KeyPrefixSetPlan:
    """The set's content for ``keys``: every valid webhook key value (more than ``capacity``
    of them is :class:`KeyPrefixSetFullError`), then, in the room left, the revoked or expired
    ones not marked leaked, the most recently retired first. Read keys never enter it."""
    webhook = [key for key in keys if key.scope is KeyScope.WEBHOOK]
    valid = sorted(
        {key_prefix_pattern(key.display_prefix) for key in webhook if key.is_valid_at(now)}
    )
    if len(valid) > capacity:
        raise KeyPrefixSetFullError(
            f"the firewall admits at most {capacity} webhook key values and {len(valid)} would "
            "be valid: revoke a key you no longer use (or rotate with a shorter --grace) first"
        )
    by_retirement = sorted(
        ((retired, key) for key in webhook if (retired := key.retired_at(now)) is not None),
        key=lambda item: (item[0], item[1].created_at, item[1].display_prefix),
        reverse=True,
    )
    kept: list[str] = []
    left_out: list[ApiKey] = []
    for _, key in by_retirement:
        pattern = key_prefix_pattern(key.display_prefix)
        if pattern in valid or pattern in kept:
            continue  # two values with one display prefix: one pattern admits both
        if key.leaked_at is None and len(valid) + len(kept) < capacity:
            kept.append(pattern)
        else:
            left_out.append(key)
    return KeyPrefixSetPlan(tuple(valid), tuple(kept), tuple(left_out))


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
    plan: KeyPrefixSetPlan

    @property
    def was_open(self) -> bool:
        return self.before == OPEN_PATTERNS

    @property
    def changed(self) -> bool:
        return set(self.before) != set(self.after)

    @property
    def admitted(self) -> int:
        """Valid webhook key values admitted."""
        return len(self.plan.valid)

    @property
    def retired_admitted(self) -> int:
        """Revoked or expired webhook key values admitted (the authorizer refuses them)."""
        return len(self.plan.retired)

    @property
    def pushed_out(self) -> tuple[ApiKey, ...]:
        """Revoked or expired values this sync took out of the set for want of room: from now
        on the firewall refuses them."""
        before = set(self.before)
        return tuple(
            key
            for key in self.plan.left_out
            if key.leaked_at is None and key_prefix_pattern(key.display_prefix) in before
        )


@dataclass
class KeyPrefixSync:
    """Makes the key-prefix set hold :func:`plan_key_prefix_set` of ``keys`` (and any
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
            plan = plan_key_prefix_set([*self.keys.all(), *extra], self.clock(), self.capacity)
            current = self.prefix_set.read()
            if set(current.patterns) == set(plan.patterns):
                return SyncResult(current.patterns, current.patterns, plan)
            try:
                self.prefix_set.write(plan.patterns, current.lock_token)
            except KeyPrefixSetChangedError:
                continue
            return SyncResult(current.patterns, plan.patterns, plan)
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
        #: Revoked or expired values that made room for the values added here.
        self.pushed_out: list[ApiKey] = []

    def add(self, key: ApiKey) -> None:
        self.pushed_out.extend(self._sync.sync(also=[key]).pushed_out)
        self._store.add(key)

    def named(self, name: str) -> list[ApiKey]:
        return self._store.named(name)

    def all(self) -> list[ApiKey]:
        return self._store.all()

    def revoke(self, key_hash: str, at: datetime) -> None:
        self._store.revoke(key_hash, at)

    def expire(self, key_hash: str, at: datetime) -> None:
        self._store.expire(key_hash, at)

    def mark_leaked(self, key_hash: str, at: datetime) -> None:
        self._store.mark_leaked(key_hash, at)
