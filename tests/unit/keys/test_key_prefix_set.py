"""The firewall's key-prefix set follows the keys table: a WAF regex pattern set (moto) kept by
:class:`KeyPrefixSync`, and :class:`GatedKeyStore`, which admits a value before storing it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from snsflow import aws
from snsflow.firewall import (
    CLOSED_PATTERNS,
    KEY_PREFIX_SET_DESCRIPTION,
    OPEN_PATTERNS,
    GatedKeyStore,
    KeyPrefixSetChangedError,
    KeyPrefixSetFullError,
    KeyPrefixSync,
    PatternSetContent,
    key_prefix_pattern,
)
from snsflow.keys import ApiKey, KeyScope, create_key, revoke_keys, rotate_key
from snsflow.store.keys import DynamoKeyStore
from snsflow.wafv2 import KeyPrefixSetUnavailableError, PatternSetAddress, WafRegexPatternSet

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def create_pattern_set(patterns: Sequence[str] = OPEN_PATTERNS) -> WafRegexPatternSet:
    created = aws.wafv2_client().create_regex_pattern_set(
        Name="snsflow-webhook-key-prefixes",
        Scope="REGIONAL",
        Description=KEY_PREFIX_SET_DESCRIPTION,
        RegularExpressionList=[{"RegexString": p} for p in patterns],
    )
    return WafRegexPatternSet(aws.wafv2_client(), created["Summary"]["ARN"])


@pytest.fixture
def prefix_set(dynamodb_tables: dict[str, str]) -> WafRegexPatternSet:
    return create_pattern_set()


@pytest.fixture
def sync(key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet) -> KeyPrefixSync:
    return KeyPrefixSync(key_store, prefix_set, clock=lambda: NOW, sleep=lambda _: None)


def test_a_sync_admits_the_valid_webhook_keys_and_closes_the_open_set(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, sync: KeyPrefixSync
) -> None:
    prod = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    create_key(key_store, "reader", KeyScope.READ, NOW)

    result = sync.sync()

    assert result.was_open
    assert result.changed
    assert result.admitted == 1
    assert prefix_set.read().patterns == (key_prefix_pattern(prod.key.display_prefix),)


def test_a_second_sync_changes_nothing(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, sync: KeyPrefixSync
) -> None:
    create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    sync.sync()
    token = prefix_set.read().lock_token

    result = sync.sync()

    assert not result.changed
    assert prefix_set.read().lock_token == token  # not written again


def test_revoked_and_expired_values_leave_the_set(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, sync: KeyPrefixSync
) -> None:
    create_key(key_store, "old-sns", KeyScope.WEBHOOK, NOW)
    first = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    second = rotate_key(key_store, "prod-sns", timedelta(0), NOW)
    revoke_keys(key_store, "old-sns", NOW)

    sync.sync()

    assert first.key.display_prefix != second.key.display_prefix
    assert prefix_set.read().patterns == (key_prefix_pattern(second.key.display_prefix),)


def test_with_no_valid_webhook_key_the_set_is_closed(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, sync: KeyPrefixSync
) -> None:
    create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    sync.sync()
    revoke_keys(key_store, "prod-sns", NOW)

    result = sync.sync()

    assert result.admitted == 0
    assert prefix_set.read().patterns == CLOSED_PATTERNS


def test_a_gated_store_admits_a_value_before_storing_it(
    dynamodb_tables: dict[str, str], key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet
) -> None:
    class Watching(DynamoKeyStore):
        admitted_when_stored: bool | None = None

        def add(self, key: ApiKey) -> None:
            pattern = key_prefix_pattern(key.display_prefix)
            Watching.admitted_when_stored = pattern in prefix_set.read().patterns
            super().add(key)

    watched = Watching(aws.dynamodb_resource().Table(dynamodb_tables["Keys"]))
    gated = GatedKeyStore(watched, KeyPrefixSync(watched, prefix_set, clock=lambda: NOW))

    issued = create_key(gated, "prod-sns", KeyScope.WEBHOOK, NOW)

    assert Watching.admitted_when_stored is True
    assert key_store.get(issued.key.key_hash) == issued.key


def test_a_full_set_refuses_a_new_key_before_it_is_stored(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet
) -> None:
    small = KeyPrefixSync(key_store, prefix_set, clock=lambda: NOW, capacity=2)
    gated = GatedKeyStore(key_store, small)
    create_key(gated, "a", KeyScope.WEBHOOK, NOW)
    create_key(gated, "b", KeyScope.WEBHOOK, NOW)
    before = prefix_set.read().patterns

    with pytest.raises(KeyPrefixSetFullError, match="at most 2 webhook key values"):
        create_key(gated, "c", KeyScope.WEBHOOK, NOW)

    assert [key.name for key in key_store.all() if key.name == "c"] == []
    assert prefix_set.read().patterns == before
    # Read keys take no room.
    create_key(gated, "reader", KeyScope.READ, NOW)


def test_a_rotation_needs_room_for_the_new_value_beside_the_old(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet
) -> None:
    gated = GatedKeyStore(key_store, KeyPrefixSync(key_store, prefix_set, lambda: NOW, capacity=1))
    create_key(gated, "prod-sns", KeyScope.WEBHOOK, NOW)

    with pytest.raises(KeyPrefixSetFullError, match="--grace"):
        rotate_key(gated, "prod-sns", timedelta(hours=1), NOW)

    assert len(key_store.named("prod-sns")) == 1


class _MemorySet:
    """A key-prefix set whose writes can be made to lose races."""

    def __init__(self, patterns: Sequence[str], conflicts: int = 0) -> None:
        self.patterns = tuple(patterns)
        self.version = 0
        self.conflicts = conflicts
        self.writes = 0

    def read(self) -> PatternSetContent:
        return PatternSetContent(self.patterns, str(self.version))

    def write(self, patterns: Sequence[str], lock_token: str) -> None:
        if self.conflicts:
            self.conflicts -= 1
            self.version += 1  # another writer got in first
        if lock_token != str(self.version):
            raise KeyPrefixSetChangedError("stale")
        self.patterns = tuple(patterns)
        self.version += 1
        self.writes += 1


def test_a_lost_race_is_retried_from_a_fresh_read(key_store: DynamoKeyStore) -> None:
    racing = _MemorySet(OPEN_PATTERNS, conflicts=2)
    waits: list[float] = []
    sync = KeyPrefixSync(key_store, racing, clock=lambda: NOW, sleep=waits.append)
    prod = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)

    sync.sync()

    assert racing.patterns == (key_prefix_pattern(prod.key.display_prefix),)
    assert racing.writes == 1
    assert len(waits) == 2


def test_endless_races_give_up_with_a_reason(key_store: DynamoKeyStore) -> None:
    racing = _MemorySet(OPEN_PATTERNS, conflicts=99)
    sync = KeyPrefixSync(key_store, racing, clock=lambda: NOW, sleep=lambda _: None)
    create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)

    with pytest.raises(KeyPrefixSetChangedError, match="sync-firewall"):
        sync.sync()


# -- the WAF adapter ------------------------------------------------------------------------------


def test_a_stale_lock_token_is_a_change_not_a_failure(prefix_set: WafRegexPatternSet) -> None:
    stale = prefix_set.read().lock_token
    prefix_set.write(CLOSED_PATTERNS, stale)

    with pytest.raises(KeyPrefixSetChangedError):
        prefix_set.write(OPEN_PATTERNS, stale)


def test_writing_keeps_the_description(prefix_set: WafRegexPatternSet) -> None:
    prefix_set.write(CLOSED_PATTERNS, prefix_set.read().lock_token)

    address = prefix_set.address
    stored = aws.wafv2_client().get_regex_pattern_set(
        Name=address.name, Scope=address.scope, Id=address.id
    )["RegexPatternSet"]
    assert stored["Description"] == KEY_PREFIX_SET_DESCRIPTION
    assert [entry["RegexString"] for entry in stored["RegularExpressionList"]] == list(
        CLOSED_PATTERNS
    )


def test_a_missing_set_is_unavailable_with_wafs_reason(dynamodb_tables: dict[str, str]) -> None:
    arn = (
        "arn:aws:wafv2:us-east-1:123456789012:regional/regexpatternset/gone/"
        "8a3e7c52-1b3c-4b6e-9d07-3c1c2b1a0f00"
    )

    with pytest.raises(KeyPrefixSetUnavailableError, match="WAFNonexistentItemException"):
        WafRegexPatternSet(aws.wafv2_client(), arn).read()


@pytest.mark.parametrize(
    ("arn", "address"),
    [
        (
            "arn:aws:wafv2:eu-west-1:123456789012:regional/regexpatternset/"
            "snsflow-KeyPrefixes-AbC/8a3e7c52-1b3c-4b6e-9d07-3c1c2b1a0f00",
            PatternSetAddress(
                "snsflow-KeyPrefixes-AbC", "8a3e7c52-1b3c-4b6e-9d07-3c1c2b1a0f00", "REGIONAL"
            ),
        ),
        (
            "arn:aws:wafv2:us-east-1:123456789012:global/regexpatternset/x/abc",
            PatternSetAddress("x", "abc", "CLOUDFRONT"),
        ),
    ],
)
def test_a_pattern_sets_arn_names_it(arn: str, address: PatternSetAddress) -> None:
    assert PatternSetAddress.from_arn(arn) == address


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/x/abc",
        "arn:aws:sns:us-east-1:123456789012:topic",
        "regional/regexpatternset/x/abc",
    ],
)
def test_other_arns_are_refused(arn: str) -> None:
    with pytest.raises(ValueError, match="regex pattern set"):
        PatternSetAddress.from_arn(arn)
