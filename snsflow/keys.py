"""API keys: how a value is made and recognised, what is stored of it, and its lifecycle.

A key value is ``snsf_`` followed by 43 URL-safe characters (32 random bytes: 256 bits). Only
its SHA-256 (hex) and a short display prefix are stored. A plain, unsalted hash is enough here:
the value is uniformly random with 256 bits of entropy, so neither salting nor a slow hash adds
anything against guessing, and an exact hash lets a key be found with one keyed read.

Several values may share a name: ``rotate`` adds a value and gives the older ones an expiry.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from snsflow.errors import BadRequestError, NotFoundError, SnsflowError
from snsflow.workflows import KEY_NAME_PATTERN

KEY_PREFIX = "snsf_"
_RANDOM_BYTES = 32
#: Characters shown after ``snsf_`` in listings, so an operator can tell values apart.
DISPLAY_PREFIX_CHARS = 8
_KEY_VALUE = re.compile(KEY_PREFIX + r"[A-Za-z0-9_-]{43}")
KEY_VALUE_LENGTH = len(KEY_PREFIX) + 43
#: ``lastUsedAt`` is kept to this resolution, so recording use costs at most one write per
#: key per interval.
LAST_USED_RESOLUTION = timedelta(minutes=1)
DEFAULT_ROTATION_GRACE = timedelta(hours=24)
_SHA256_HEX = r"^[0-9a-f]{64}$"
_NAME = re.compile(KEY_NAME_PATTERN)


class KeyScope(StrEnum):
    #: Deliveries to ``POST /webhooks/{workflowId}`` of the workflows naming this key.
    WEBHOOK = "webhook"
    #: The read-only API (workflows, executions).
    READ = "read"
    #: Everything ``read`` may, and acting on executions (redrive, re-run).
    OPERATE = "operate"

    def grants(self, needed: KeyScope) -> bool:
        """Whether a key of this scope may call a route that needs ``needed``."""
        return self is needed or (self is KeyScope.OPERATE and needed is KeyScope.READ)


class KeyStatus(StrEnum):
    ACTIVE = "active"
    #: Rotated out: still accepted until its expiry.
    EXPIRING = "expiring"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ApiKey(BaseModel):
    """What is stored of one key value: never the value itself."""

    model_config = ConfigDict(frozen=True)

    key_hash: str = Field(pattern=_SHA256_HEX)
    name: str = Field(pattern=KEY_NAME_PATTERN)
    scope: KeyScope
    display_prefix: str
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    last_used_at: AwareDatetime | None = None
    #: When an operator said the value may be known to others (``--leaked``): from then on the
    #: firewall admits it only while it is valid (``snsflow.firewall.plan_key_prefix_set``).
    leaked_at: AwareDatetime | None = None

    def status_at(self, now: datetime) -> KeyStatus:
        if self.revoked_at is not None and self.revoked_at <= now:
            return KeyStatus.REVOKED
        if self.expires_at is None:
            return KeyStatus.ACTIVE
        return KeyStatus.EXPIRING if now < self.expires_at else KeyStatus.EXPIRED

    def is_valid_at(self, now: datetime) -> bool:
        return self.status_at(now) in (KeyStatus.ACTIVE, KeyStatus.EXPIRING)

    def retired_at(self, now: datetime) -> datetime | None:
        """When the value stopped being accepted (revoked or expired), or None while valid."""
        ended = [
            end for end in (self.revoked_at, self.expires_at) if end is not None and end <= now
        ]
        return min(ended, default=None)

    def use_is_unrecorded_at(self, now: datetime) -> bool:
        """True when ``last_used_at`` is older than the resolution we keep it to."""
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION


class IssuedKey(BaseModel):
    """A freshly made key: the only moment its value exists outside the caller's hands."""

    model_config = ConfigDict(frozen=True)

    value: SecretStr
    key: ApiKey


def is_well_formed(value: str) -> bool:
    """Whether ``value`` could be a key snsflow issued (cheap; no secret involved)."""
    return len(value) == KEY_VALUE_LENGTH and _KEY_VALUE.fullmatch(value) is not None


def hash_key_value(value: str) -> str:
    """The stored form of a key value: hex SHA-256 of its (ASCII) text."""
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def display_prefix(value: str) -> str:
    return value[: len(KEY_PREFIX) + DISPLAY_PREFIX_CHARS]


def check_key_name(name: str) -> str:
    """``name``, if it can name a key; else :class:`InvalidKeyNameError`."""
    if not _NAME.fullmatch(name):
        raise InvalidKeyNameError(
            f"key name '{name}' is not valid: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return name


def issue_key(name: str, scope: KeyScope, now: datetime) -> IssuedKey:
    """Make a new random value for ``name`` (not stored yet)."""
    check_key_name(name)
    value = KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    key = ApiKey(
        key_hash=hash_key_value(value),
        name=name,
        scope=scope,
        display_prefix=display_prefix(value),
        created_at=now,
    )
    return IssuedKey(value=SecretStr(value), key=key)


class KeyStore(Protocol):
    """What the key lifecycle needs from storage (see :mod:`snsflow.store.keys`)."""

    def add(self, key: ApiKey) -> None: ...

    def named(self, name: str) -> list[ApiKey]: ...

    def all(self) -> list[ApiKey]: ...

    def revoke(self, key_hash: str, at: datetime) -> None: ...

    def expire(self, key_hash: str, at: datetime) -> None: ...

    def mark_leaked(self, key_hash: str, at: datetime) -> None: ...


class InvalidKeyNameError(BadRequestError):
    code = "invalid_key_name"


class KeyNameInUseError(SnsflowError):
    code = "key_name_in_use"
    http_status = 409


class KeyNotFoundError(NotFoundError):
    code = "key_not_found"


def _valid_named(store: KeyStore, name: str, now: datetime) -> list[ApiKey]:
    # Checked before the store is asked: DynamoDB refuses some invalid names (an empty one)
    # with its own error, and no name that fails the check can have been stored.
    check_key_name(name)
    return [key for key in store.named(name) if key.is_valid_at(now)]


def create_key(store: KeyStore, name: str, scope: KeyScope, now: datetime) -> IssuedKey:
    """Issue and store the first value of ``name``; a name whose values are all revoked or
    expired may be reused."""
    if _valid_named(store, name, now):
        raise KeyNameInUseError(
            f"key '{name}' already exists: rotate it, or revoke it before creating it again"
        )
    issued = issue_key(name, scope, now)
    store.add(issued.key)
    return issued


def revoke_keys(store: KeyStore, name: str, now: datetime, *, leaked: bool = False) -> list[ApiKey]:
    """Revoke every value of ``name`` that is still accepted; returns what was revoked.

    ``leaked``: every value of ``name``, revoked now or earlier, is marked leaked first, so the
    firewall refuses them all; a name with no accepted value left is then no error (its values
    are marked, which is what a retry after a failure needs)."""
    if leaked:
        check_key_name(name)
        values = store.named(name)
        if not values:
            raise KeyNotFoundError(f"no key named '{name}'")
        _mark_leaked(store, values, now)
        valid = [key for key in values if key.is_valid_at(now)]
    else:
        valid = _valid_named(store, name, now)
        if not valid:
            raise KeyNotFoundError(f"no active key named '{name}'")
    for key in valid:
        store.revoke(key.key_hash, now)
    return valid


def rotate_key(
    store: KeyStore, name: str, grace: timedelta, now: datetime, *, leaked: bool = False
) -> IssuedKey:
    """Add a new value to ``name`` (same scope) and let the older values expire after ``grace``.

    The new value is stored before the old ones are given an expiry, so there is never a moment
    without an accepted value. An older value that already expires sooner keeps its expiry.
    ``leaked``: every older value is marked leaked, so the firewall refuses each once it expires.
    """
    if grace < timedelta(0):
        raise BadRequestError("the grace period cannot be negative")
    valid = _valid_named(store, name, now)
    if not valid:
        raise KeyNotFoundError(f"no active key named '{name}'")
    newest = max(valid, key=lambda key: key.created_at)
    issued = issue_key(name, newest.scope, now)
    store.add(issued.key)
    if leaked:
        older = [key for key in store.named(name) if key.key_hash != issued.key.key_hash]
        _mark_leaked(store, older, now)
    expiry = now + grace
    for key in valid:
        if key.expires_at is None or key.expires_at > expiry:
            store.expire(key.key_hash, expiry)
    return issued


def _mark_leaked(store: KeyStore, keys: Sequence[ApiKey], now: datetime) -> None:
    for key in keys:
        if key.leaked_at is None:
            store.mark_leaked(key.key_hash, now)


def list_keys(store: KeyStore) -> Sequence[ApiKey]:
    """Every stored value, by name then newest first."""
    by_newest = sorted(store.all(), key=lambda key: key.created_at, reverse=True)
    return sorted(by_newest, key=lambda key: key.name)
