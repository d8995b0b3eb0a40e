"""create, revoke, rotate and list against the keys table (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

import pytest

from snsflow.keys import (
    InvalidKeyNameError,
    KeyNameInUseError,
    KeyNotFoundError,
    KeyScope,
    KeyStatus,
    create_key,
    list_keys,
    revoke_keys,
    rotate_key,
)
from snsflow.store.keys import DynamoKeyStore

if TYPE_CHECKING:
    from snsflow.keys import KeyStore

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_created_key_is_stored_by_hash_and_found_by_name(key_store: DynamoKeyStore) -> None:
    issued = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)

    assert key_store.get(issued.key.key_hash) == issued.key
    assert key_store.named("prod-sns") == [issued.key]


def test_a_name_in_use_cannot_be_created_again(key_store: DynamoKeyStore) -> None:
    create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)

    with pytest.raises(KeyNameInUseError, match="already exists"):
        create_key(key_store, "prod-sns", KeyScope.READ, NOW)


def test_a_revoked_name_can_be_created_again(key_store: DynamoKeyStore) -> None:
    first = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    revoke_keys(key_store, "prod-sns", NOW)

    second = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW + timedelta(seconds=1))

    assert second.key.key_hash != first.key.key_hash
    assert len(key_store.named("prod-sns")) == 2


def test_revoke_revokes_every_accepted_value_of_the_name(key_store: DynamoKeyStore) -> None:
    create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    rotate_key(key_store, "prod-sns", timedelta(hours=24), NOW + timedelta(minutes=1))
    other = create_key(key_store, "audit-sns", KeyScope.WEBHOOK, NOW)

    revoked = revoke_keys(key_store, "prod-sns", NOW + timedelta(minutes=2))

    assert len(revoked) == 2
    later = NOW + timedelta(minutes=3)
    assert {k.status_at(later) for k in key_store.named("prod-sns")} == {KeyStatus.REVOKED}
    assert key_store.get(other.key.key_hash).status_at(later) is KeyStatus.ACTIVE  # type: ignore[union-attr]


def test_revoking_an_unknown_or_already_revoked_name_is_not_found(
    key_store: DynamoKeyStore,
) -> None:
    with pytest.raises(KeyNotFoundError):
        revoke_keys(key_store, "nobody", NOW)
    create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    revoke_keys(key_store, "prod-sns", NOW)
    with pytest.raises(KeyNotFoundError):
        revoke_keys(key_store, "prod-sns", NOW + timedelta(seconds=1))


def test_revoking_a_leaked_key_marks_every_value_of_the_name(key_store: DynamoKeyStore) -> None:
    first = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    second = rotate_key(key_store, "prod-sns", timedelta(0), NOW + timedelta(minutes=1))
    other = create_key(key_store, "audit-sns", KeyScope.WEBHOOK, NOW)
    at = NOW + timedelta(minutes=2)

    revoked = revoke_keys(key_store, "prod-sns", at, leaked=True)

    assert [key.key_hash for key in revoked] == [second.key.key_hash]  # the first had expired
    for value in (first, second):
        stored = key_store.get(value.key.key_hash)
        assert stored is not None
        assert stored.leaked_at == at
    assert key_store.get(other.key.key_hash) == other.key


def test_a_leaked_revocation_can_follow_a_plain_one_and_be_retried(
    key_store: DynamoKeyStore,
) -> None:
    issued = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    revoke_keys(key_store, "prod-sns", NOW)

    first = revoke_keys(key_store, "prod-sns", NOW + timedelta(minutes=1), leaked=True)
    again = revoke_keys(key_store, "prod-sns", NOW + timedelta(minutes=2), leaked=True)

    assert (first, again) == ([], [])
    stored = key_store.get(issued.key.key_hash)
    assert stored is not None
    assert (stored.revoked_at, stored.leaked_at) == (NOW, NOW + timedelta(minutes=1))
    with pytest.raises(KeyNotFoundError, match="no key named 'nobody'"):
        revoke_keys(key_store, "nobody", NOW, leaked=True)


def test_a_leaked_rotation_marks_the_older_values_only(key_store: DynamoKeyStore) -> None:
    old = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    later = NOW + timedelta(minutes=1)

    new = rotate_key(key_store, "prod-sns", timedelta(hours=1), later, leaked=True)

    stored_old, stored_new = (key_store.get(v.key.key_hash) for v in (old, new))
    assert stored_old is not None
    assert stored_new is not None
    assert (stored_old.leaked_at, stored_old.expires_at) == (later, later + timedelta(hours=1))
    assert stored_new.leaked_at is None


def test_rotation_overlaps_old_and_new_values_for_the_grace_period(
    key_store: DynamoKeyStore,
) -> None:
    old = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    rotated_at = NOW + timedelta(days=3)

    new = rotate_key(key_store, "prod-sns", timedelta(hours=24), rotated_at)

    old_record = key_store.get(old.key.key_hash)
    new_record = key_store.get(new.key.key_hash)
    assert old_record is not None
    assert new_record is not None
    assert new_record.scope is KeyScope.WEBHOOK
    assert new_record.name == "prod-sns"
    assert old_record.expires_at == rotated_at + timedelta(hours=24)
    during = rotated_at + timedelta(hours=23, minutes=59)
    assert old_record.is_valid_at(during)
    assert new_record.is_valid_at(during)
    after = rotated_at + timedelta(hours=24)
    assert not old_record.is_valid_at(after)
    assert new_record.status_at(after) is KeyStatus.ACTIVE


def test_rotation_keeps_the_scope_of_the_key(key_store: DynamoKeyStore) -> None:
    create_key(key_store, "dashboards", KeyScope.READ, NOW)

    new = rotate_key(key_store, "dashboards", timedelta(0), NOW + timedelta(seconds=1))

    assert new.key.scope is KeyScope.READ


def test_rotating_again_never_extends_an_earlier_expiry(key_store: DynamoKeyStore) -> None:
    first = create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    rotate_key(key_store, "prod-sns", timedelta(hours=1), NOW)

    rotate_key(key_store, "prod-sns", timedelta(hours=24), NOW + timedelta(minutes=10))

    first_record = key_store.get(first.key.key_hash)
    assert first_record is not None
    assert first_record.expires_at == NOW + timedelta(hours=1)
    assert len([k for k in key_store.named("prod-sns") if k.expires_at is None]) == 1


def test_rotating_a_name_without_accepted_values_is_not_found(
    key_store: DynamoKeyStore,
) -> None:
    create_key(key_store, "prod-sns", KeyScope.WEBHOOK, NOW)
    rotate_key(key_store, "prod-sns", timedelta(0), NOW)
    revoke_keys(key_store, "prod-sns", NOW)

    with pytest.raises(KeyNotFoundError):
        rotate_key(key_store, "prod-sns", timedelta(hours=1), NOW + timedelta(seconds=1))


def test_list_orders_by_name_then_newest_first(key_store: DynamoKeyStore) -> None:
    create_key(key_store, "zeta", KeyScope.READ, NOW)
    create_key(key_store, "alpha", KeyScope.WEBHOOK, NOW)
    newer = rotate_key(key_store, "alpha", timedelta(hours=1), NOW + timedelta(minutes=5))

    listed = list_keys(key_store)

    assert [k.name for k in listed] == ["alpha", "alpha", "zeta"]
    assert listed[0].key_hash == newer.key.key_hash


class _UntouchableStore:
    """A key store that fails the test if it is asked anything."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the store was asked {name}() for an invalid name")


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "caf\u00e9", "prod-sns\n"])
def test_an_invalid_name_is_refused_before_the_store_is_asked(name: str) -> None:
    store = cast("KeyStore", _UntouchableStore())

    for action in (
        lambda: create_key(store, name, KeyScope.READ, NOW),
        lambda: revoke_keys(store, name, NOW),
        lambda: rotate_key(store, name, timedelta(0), NOW),
    ):
        with pytest.raises(InvalidKeyNameError, match="is not valid"):
            action()
