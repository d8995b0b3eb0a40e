"""A workflow's webhook key revoked while its topic still delivers (issue 14), over real HTTP on
the local stack: the revoked value stays in the firewall's key-prefix set while it has room, so
every delivery reaches the authorizer and is refused with 403 ``revoked_api_key`` (where it can
be logged and alarmed on); once newer valid keys need the room, the firewall refuses the
deliveries itself with 403 ``invalid_api_key``. What SNS got is read from the local SNS's
delivery log, as SNS's delivery status logs would show it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from snsflow.cli.main import main
from snsflow.keys import KeyScope
from snsflow.local.sns import DeliveryAttempt, Outcome
from snsflow.local.stack import wait_until
from tests.e2e.conftest import DEADLINE_SECONDS, Driver

pytestmark = pytest.mark.e2e

WORKFLOW = "order-events"
#: What the firewall's key-prefix set holds at most (WAF's quota of patterns per set).
ROOM = 10


def _code(attempt: DeliveryAttempt) -> str | None:
    """The error code of the answer the delivery log recorded."""
    try:
        return str(json.loads(attempt.response or "")["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _deliver_one(driver: Driver, topic: str, subscription: str) -> DeliveryAttempt:
    """Publish a message and return the delivery log's line for its (only) attempt."""
    message_id = driver.sns.publish(
        TopicArn=topic, Message=json.dumps({"orderId": uuid.uuid4().hex, "status": "accepted"})
    )["MessageId"]
    (attempt,) = wait_until(
        lambda: driver.attempts(message_id=message_id, subscription_arn=subscription),
        timeout=DEADLINE_SECONDS,
        what=f"the delivery of {message_id}",
    )
    return attempt


def _deliver_until_refused_with(
    driver: Driver, topic: str, subscription: str, code: str
) -> DeliveryAttempt:
    """Deliver messages until one is answered with ``code``: a change of the keys reaches the
    authorizer within its cache time, and the firewall within its copy of the set's refresh."""

    def refused() -> DeliveryAttempt | None:
        attempt = _deliver_one(driver, topic, subscription)
        return attempt if _code(attempt) == code else None

    return wait_until(
        refused, timeout=DEADLINE_SECONDS, interval=0.1, what=f"a delivery refused with {code}"
    )


def _keys(args: list[str], info: Path) -> int:
    return main(["keys", *args, "--info-file", str(info)])


def test_a_revoked_keys_deliveries_reach_the_authorizer_until_newer_keys_push_it_out(
    driver: Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = driver.stack
    info = tmp_path / "local.json"
    stack.write_info_file(info)
    topic = driver.new_topic()
    subscription = driver.subscribe_confirmed(WORKFLOW, topic)
    accepted = _deliver_one(driver, topic, subscription)

    assert _keys(["revoke", "prod-sns"], info) == 0  # the key the subscription's URL carries
    by_authorizer = _deliver_until_refused_with(driver, topic, subscription, "revoked_api_key")

    # Newer valid keys take the room while there is some left beside the revoked value...
    now = datetime.now(UTC)
    valid = [
        k for k in stack.key_store().all() if k.scope is KeyScope.WEBHOOK and k.is_valid_at(now)
    ]
    for n in range(ROOM - len(valid) - 1):
        assert _keys(["create", f"newer-{n}"], info) == 0
    still_by_authorizer = _deliver_one(driver, topic, subscription)
    capsys.readouterr()
    # ... and the next one pushes it out.
    assert _keys(["create", "one-too-many"], info) == 0
    pushed_out_note = capsys.readouterr().err
    by_firewall = _deliver_until_refused_with(driver, topic, subscription, "invalid_api_key")

    assert (accepted.status_code, accepted.outcome) == (200, Outcome.DELIVERED)
    for refused in (by_authorizer, still_by_authorizer, by_firewall):
        assert (refused.status_code, refused.outcome) == (403, Outcome.REJECTED)  # not retried
    assert _code(still_by_authorizer) == "revoked_api_key"
    assert "no room is left" in pushed_out_note
    assert "values of 'prod-sns'" in pushed_out_note


def test_a_key_revoked_as_leaked_is_refused_by_the_firewall_at_once(
    driver: Driver, tmp_path: Path
) -> None:
    info = tmp_path / "local.json"
    driver.stack.write_info_file(info)
    topic = driver.new_topic("audit")  # the workflow allows audit-* topics only
    subscription = driver.subscribe_confirmed("audit-log", topic)
    accepted = _deliver_one(driver, topic, subscription)

    assert _keys(["revoke", "audit-sns", "--leaked"], info) == 0
    by_firewall = _deliver_until_refused_with(driver, topic, subscription, "invalid_api_key")

    assert accepted.status_code == 200
    assert (by_firewall.status_code, by_firewall.outcome) == (403, Outcome.REJECTED)
