"""The firewall's key-prefix set follows the keys table: a WAF regex pattern set (moto) kept by
:class:`KeyPrefixSync`, and :class:`GatedKeyStore`, which admits a value before storing it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    plan_key_prefix_set,
)
from snsflow.keys import (
    ApiKey,
    IssuedKey,
    KeyScope,
    create_key,
    issue_key,
    revoke_keys,
    rotate_key,
)
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


# -- what the set holds (pure) --------------------------------------------------------------------


def _value(scope: KeyScope = KeyScope.WEBHOOK, **times: datetime | None) -> ApiKey:
    return issue_key("k", scope, NOW - timedelta(days=30)).key.model_copy(update=times)


def _pattern(key: ApiKey) -> str:
    return key_prefix_pattern(key.display_prefix)


def test_every_valid_value_comes_first_then_the_most_recently_retired() -> None:
    active = _value()
    expiring = _value(expires_at=NOW + timedelta(hours=1))
    revoked_last_week = _value(revoked_at=NOW - timedelta(days=7))
    expired_an_hour_ago = _value(expires_at=NOW - timedelta(hours=1))
    revoked_just_now = _value(revoked_at=NOW)
    reader = _value(KeyScope.READ)

    plan = plan_key_prefix_set(
        [revoked_last_week, active, reader, expired_an_hour_ago, revoked_just_now, expiring], NOW
    )

    assert plan.valid == tuple(sorted(_pattern(key) for key in (active, expiring)))
    assert plan.retired == tuple(
        _pattern(key) for key in (revoked_just_now, expired_an_hour_ago, revoked_last_week)
    )
    assert plan.patterns == (*plan.valid, *plan.retired)
    assert plan.left_out == ()


def test_retired_values_fill_only_the_room_the_valid_ones_leave() -> None:
    valid = [_value(), _value()]
    newer = _value(revoked_at=NOW - timedelta(minutes=1))
    older = _value(expires_at=NOW - timedelta(minutes=2))
    oldest = _value(revoked_at=NOW - timedelta(minutes=3))

    plan = plan_key_prefix_set([oldest, *valid, older, newer], NOW, capacity=4)

    assert plan.retired == (_pattern(newer), _pattern(older))
    assert plan.left_out == (oldest,)


def test_valid_values_are_never_dropped_for_retired_ones() -> None:
    valid = [_value() for _ in range(3)]
    just_revoked = _value(revoked_at=NOW)

    plan = plan_key_prefix_set([just_revoked, *valid], NOW, capacity=3)

    assert set(plan.patterns) == {_pattern(key) for key in valid}
    assert plan.left_out == (just_revoked,)


def test_more_valid_values_than_room_is_refused() -> None:
    with pytest.raises(KeyPrefixSetFullError, match="at most 2 webhook key values and 3"):
        plan_key_prefix_set([_value(), _value(), _value()], NOW, capacity=2)


def test_a_value_revoked_during_its_grace_period_retired_when_revoked() -> None:
    revoked_in_grace = _value(
        revoked_at=NOW - timedelta(hours=2), expires_at=NOW - timedelta(minutes=1)
    )
    expired_since = _value(expires_at=NOW - timedelta(hours=1))

    plan = plan_key_prefix_set([revoked_in_grace, expired_since], NOW)

    assert revoked_in_grace.retired_at(NOW) == NOW - timedelta(hours=2)
    assert plan.retired == (_pattern(expired_since), _pattern(revoked_in_grace))


def test_a_value_marked_leaked_leaves_as_soon_as_it_is_no_longer_valid() -> None:
    leaked_still_valid = _value(expires_at=NOW + timedelta(hours=1), leaked_at=NOW)
    leaked_revoked = _value(revoked_at=NOW, leaked_at=NOW)
    revoked_earlier = _value(revoked_at=NOW - timedelta(days=1))

    plan = plan_key_prefix_set([leaked_still_valid, leaked_revoked, revoked_earlier], NOW)

    assert plan.valid == (_pattern(leaked_still_valid),)  # a valid value is always admitted
    assert plan.retired == (_pattern(revoked_earlier),)
    assert plan.left_out == (leaked_revoked,)


def test_read_and_operate_values_never_enter_the_set() -> None:
    # The firewall admits a value on the webhook route only from the set: a key that may read
    # or act never gets that far, whether valid or retired.
    others = [
        _value(scope, revoked_at=revoked)
        for scope in (KeyScope.READ, KeyScope.OPERATE)
        for revoked in (None, NOW - timedelta(minutes=1))
    ]

    plan = plan_key_prefix_set(others, NOW)

    assert plan.patterns == CLOSED_PATTERNS
    assert plan.left_out == ()


def test_the_set_is_closed_only_without_any_webhook_value() -> None:
    revoked = _value(revoked_at=NOW)

    assert plan_key_prefix_set([_value(KeyScope.READ)], NOW).patterns == CLOSED_PATTERNS
    assert plan_key_prefix_set([revoked], NOW).patterns == (_pattern(revoked),)


_MOMENTS = st.integers(-10_000, 10_000).map(lambda minutes: NOW + timedelta(minutes=minutes))


@st.composite
def _stored_values(draw: st.DrawFn) -> ApiKey:
    return _value(
        draw(st.sampled_from(KeyScope)),
        revoked_at=draw(st.none() | _MOMENTS),
        expires_at=draw(st.none() | _MOMENTS),
        leaked_at=draw(st.none() | _MOMENTS),
    )


@given(keys=st.lists(_stored_values(), max_size=25), capacity=st.integers(1, 12))
def test_any_keys_table_gets_its_valid_values_and_the_newest_retired_that_fit(
    keys: list[ApiKey], capacity: int
) -> None:
    webhook = [key for key in keys if key.scope is KeyScope.WEBHOOK]
    valid = {_pattern(key) for key in webhook if key.is_valid_at(NOW)}
    if len(valid) > capacity:
        with pytest.raises(KeyPrefixSetFullError):
            plan_key_prefix_set(keys, NOW, capacity)
        return

    plan = plan_key_prefix_set(keys, NOW, capacity)

    assert set(plan.valid) == valid
    assert len(plan.patterns) <= capacity
    kept = [
        retired
        for key in webhook
        if _pattern(key) in plan.retired and (retired := key.retired_at(NOW)) is not None
    ]
    for left_out in plan.left_out:
        retired_at = left_out.retired_at(NOW)
        assert retired_at is not None
        if left_out.leaked_at is None:
            assert len(plan.patterns) == capacity  # left out only for want of room
            assert all(moment >= retired_at for moment in kept)  # the newest were kept
    assert not any(
        key.leaked_at is not None and not key.is_valid_at(NOW) and _pattern(key) in plan.retired
        for key in webhook
    )
    every_retired = {_pattern(key) for key in webhook if not key.is_valid_at(NOW)} - valid
    assert set(plan.retired) | {_pattern(key) for key in plan.left_out} == every_retired


# -- the set in WAF (moto) -----------------------------------------------------------------------


def _patterns(*issued: IssuedKey) -> tuple[str, ...]:
    return tuple(key_prefix_pattern(one.key.display_prefix) for one in issued)


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


def test_revoked_and_expired_values_stay_after_the_valid_ones(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, sync: KeyPrefixSync
) -> None:
    old = create_key(key_store, "old-sns", KeyScope.WEBHOOK, NOW - timedelta(days=2))
    first = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW - timedelta(days=1))
    revoke_keys(key_store, "old-sns", NOW - timedelta(hours=1))
    second = rotate_key(key_store, "prod-sns", timedelta(0), NOW)

    result = sync.sync()

    assert prefix_set.read().patterns == _patterns(second, first, old)  # newest retired first
    assert (result.admitted, result.retired_admitted) == (1, 2)


def test_with_no_webhook_key_at_all_the_set_is_closed(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, sync: KeyPrefixSync
) -> None:
    create_key(key_store, "reader", KeyScope.READ, NOW)

    result = sync.sync()

    assert result.admitted == 0
    assert prefix_set.read().patterns == CLOSED_PATTERNS


def test_a_revoked_key_stays_admitted_when_no_key_is_valid(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet, sync: KeyPrefixSync
) -> None:
    prod = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    sync.sync()
    revoke_keys(key_store, "prod-sns", NOW)

    result = sync.sync()

    assert not result.changed
    assert (result.admitted, result.retired_admitted) == (0, 1)
    assert prefix_set.read().patterns == _patterns(prod)


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


def test_a_new_key_pushes_out_the_oldest_retired_value(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet
) -> None:
    small = KeyPrefixSync(key_store, prefix_set, clock=lambda: NOW, capacity=3)
    gated = GatedKeyStore(key_store, small)
    hour_ago = NOW - timedelta(hours=1)
    a, b, c = (create_key(gated, name, KeyScope.WEBHOOK, hour_ago) for name in "abc")
    revoke_keys(gated, "a", NOW - timedelta(minutes=2))
    revoke_keys(gated, "b", NOW - timedelta(minutes=1))
    assert set(small.sync().after) == set(_patterns(a, b, c))

    d = create_key(gated, "d", KeyScope.WEBHOOK, NOW)
    after_d = small.sync()  # as the command does after storing
    e = create_key(gated, "e", KeyScope.WEBHOOK, NOW)

    assert [key.name for key in gated.pushed_out] == ["a", "b"]
    assert [key.name for key in after_d.plan.left_out] == ["a"]
    assert set(prefix_set.read().patterns) == set(_patterns(c, d, e))
    assert key_store.get(e.key.key_hash) == e.key
    with pytest.raises(KeyPrefixSetFullError):  # three valid values: no room for a fourth
        create_key(gated, "f", KeyScope.WEBHOOK, NOW)


def test_a_sync_that_pushes_a_value_out_names_it(
    key_store: DynamoKeyStore, prefix_set: WafRegexPatternSet
) -> None:
    small = KeyPrefixSync(key_store, prefix_set, clock=lambda: NOW, capacity=2)
    create_key(key_store, "old-sns", KeyScope.WEBHOOK, NOW - timedelta(hours=1))
    revoke_keys(key_store, "old-sns", NOW - timedelta(minutes=1))
    create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    small.sync()
    create_key(key_store, "audit-sns", KeyScope.WEBHOOK, NOW)

    pushing = small.sync()
    again = small.sync()

    assert [key.name for key in pushing.pushed_out] == ["old-sns"]
    assert again.pushed_out == ()  # already out: nothing more to say
    assert [key.name for key in again.plan.left_out] == ["old-sns"]


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


def test_a_retry_after_a_lost_race_reads_the_keys_again(key_store: DynamoKeyStore) -> None:
    prod = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    audit = create_key(key_store, "audit-sns", KeyScope.WEBHOOK, NOW)

    class RevokingRacer(_MemorySet):
        """Another command revokes a key and writes the set between our read and our write."""

        def write(self, patterns: Sequence[str], lock_token: str) -> None:
            if self.conflicts:
                revoke_keys(key_store, "audit-sns", NOW - timedelta(seconds=1))
            super().write(patterns, lock_token)

    racing = RevokingRacer(OPEN_PATTERNS, conflicts=1)
    sync = KeyPrefixSync(key_store, racing, clock=lambda: NOW, sleep=lambda _: None)

    result = sync.sync()

    assert racing.patterns == _patterns(prod, audit)
    assert (result.admitted, result.retired_admitted) == (1, 1)


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
