"""Key values: random, recognisable, stored only as a hash and a display prefix."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from snsflow.keys import (
    ApiKey,
    InvalidKeyNameError,
    KeyScope,
    KeyStatus,
    hash_key_value,
    is_well_formed,
    issue_key,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_issued_value_is_prefixed_and_carries_256_random_bits() -> None:
    value = issue_key("prod-sns", KeyScope.WEBHOOK, NOW).value.get_secret_value()

    assert value.startswith("snsf_")
    random_part = value.removeprefix("snsf_")
    assert len(base64.urlsafe_b64decode(random_part + "=")) == 32
    assert is_well_formed(value)


def test_every_issued_value_is_different() -> None:
    values = {issue_key("k", KeyScope.READ, NOW).value.get_secret_value() for _ in range(200)}

    assert len(values) == 200


def test_only_the_hash_and_a_short_prefix_of_the_value_are_kept() -> None:
    issued = issue_key("prod-sns", KeyScope.WEBHOOK, NOW)
    value = issued.value.get_secret_value()

    assert issued.key.key_hash == hashlib.sha256(value.encode()).hexdigest()
    assert issued.key.display_prefix == value[:13]
    assert value not in issued.key.model_dump_json()
    assert value not in repr(issued)
    assert value not in str(issued)


def test_key_names_follow_the_workflow_file_rule() -> None:
    with pytest.raises(InvalidKeyNameError, match="not valid"):
        issue_key("has space", KeyScope.WEBHOOK, NOW)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "snsf_",
        "snsf_" + "A" * 42,
        "snsf_" + "A" * 44,
        "sk_live_" + "A" * 40,
        "SNSF_" + "A" * 43,
        "snsf_" + "A" * 42 + "=",
        "snsf_" + "é" * 43,
        "snsf_" + "\udc80" * 43,
        " snsf_" + "A" * 42,
        "snsf_" + "A" * 100_000,
    ],
    ids=[
        "empty",
        "prefix-only",
        "too-short",
        "too-long",
        "other-prefix",
        "upper-prefix",
        "padding",
        "non-ascii",
        "lone-surrogate",
        "leading-space",
        "very-long",
    ],
)
def test_values_snsflow_never_issues_are_not_well_formed(value: str) -> None:
    assert not is_well_formed(value)


def test_hash_is_hex_sha256() -> None:
    assert hash_key_value("snsf_x") == hashlib.sha256(b"snsf_x").hexdigest()


def _key(**changes: object) -> ApiKey:
    base = issue_key("prod-sns", KeyScope.WEBHOOK, NOW).key
    return base.model_copy(update=changes)


def test_a_key_without_revocation_or_expiry_is_active() -> None:
    assert _key().status_at(NOW + timedelta(days=999)) is KeyStatus.ACTIVE


def test_a_rotated_out_key_is_expiring_until_its_expiry_then_expired() -> None:
    key = _key(expires_at=NOW + timedelta(hours=1))

    assert key.status_at(NOW) is KeyStatus.EXPIRING
    assert key.is_valid_at(NOW + timedelta(minutes=59))
    assert key.status_at(NOW + timedelta(hours=1)) is KeyStatus.EXPIRED
    assert not key.is_valid_at(NOW + timedelta(hours=1))


def test_revocation_wins_over_expiry() -> None:
    key = _key(expires_at=NOW + timedelta(hours=1), revoked_at=NOW)

    assert key.status_at(NOW) is KeyStatus.REVOKED
    assert not key.is_valid_at(NOW)


def test_use_is_recorded_at_most_once_a_minute() -> None:
    never_used = _key()
    used = _key(last_used_at=NOW)

    assert never_used.use_is_unrecorded_at(NOW)
    assert not used.use_is_unrecorded_at(NOW + timedelta(seconds=59))
    assert used.use_is_unrecorded_at(NOW + timedelta(seconds=60))
