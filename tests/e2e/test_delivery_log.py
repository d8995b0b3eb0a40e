"""The delivery log on the local stack (issue 14), over real HTTP: what every request for a
workflow came to, refused ones included, as the API, ``snsflow deliveries`` and ``snsflow
workflows show`` report it; and a subscription whose key was revoked shows ``failing``."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from pathlib import Path

import pytest

from snsflow.cli.main import main
from snsflow.delivery_reads import Delivery
from snsflow.local.stack import LocalStack, wait_until
from tests.e2e.conftest import DEADLINE_SECONDS, Driver, HttpAnswer, http_request
from tests.support.sns import SnsTestSigner, TestCertificate

pytestmark = pytest.mark.e2e

ORDERS = "order-events"
AUDIT = "audit-log"


def _signer(stack: LocalStack, topic: str) -> SnsTestSigner:
    identity = stack.sns.signing_identity
    return SnsTestSigner(
        topic_arn=topic,
        certificate=TestCertificate(identity.certificate_pem, identity.private_key),
        cert_url=stack.sns.certificate_url,
    )


def _post(stack: LocalStack, workflow: str, body: str, message_type: str) -> HttpAnswer:
    """A delivery as SNS sends it: the workflow's own key, and SNS's headers."""
    document = json.loads(body)
    key = stack.keys[stack.workflow(workflow).api_key_name]
    return http_request(
        stack.api_url,
        "POST",
        f"/webhooks/{workflow}?x-api-key={urllib.parse.quote(key)}",
        body.encode("utf-8"),
        {
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": message_type,
            "x-amz-sns-message-id": document["MessageId"],
            "x-amz-sns-topic-arn": document["TopicArn"],
        },
    )


def _refusals(driver: Driver, workflow: str, code: str) -> list[Delivery]:
    page = driver.api.deliveries(workflow, outcome="refused", limit=100)
    return [row for row in page.items if row.code == code]


def _cli(args: list[str], info: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main([*args, "--info-file", str(info)]) == 0
    return capsys.readouterr().out


def test_accepted_deliveries_are_logged_with_their_execution(driver: Driver) -> None:
    topic = driver.new_topic()
    driver.subscribe_confirmed(ORDERS, topic)
    message_id = driver.sns.publish(TopicArn=topic, Message=json.dumps({"orderId": "D-1"}))[
        "MessageId"
    ]

    def logged() -> Delivery | None:
        items = driver.api.deliveries(ORDERS, outcome="accepted", limit=100).items
        return next((row for row in items if row.message_id == message_id), None)

    row = wait_until(logged, timeout=DEADLINE_SECONDS, what="the accepted delivery's log entry")
    assert row.topic_arn == topic
    assert row.execution_id is not None
    assert row.execution_id.startswith(f"{ORDERS}.")
    assert row.request_id
    confirmed = driver.api.deliveries(ORDERS, outcome="confirmed", limit=100).items
    assert topic in {row.topic_arn for row in confirmed}
    [subscription] = [s for s in driver.api.workflow(ORDERS).subscriptions if s.topic_arn == topic]
    assert subscription.health == "confirmed"
    assert subscription.last_accepted_at is not None


def test_executions_show_finds_a_message_by_its_bare_message_id(
    driver: Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = driver.new_topic()
    driver.subscribe_confirmed(ORDERS, topic)
    message_id = driver.sns.publish(TopicArn=topic, Message=json.dumps({"orderId": "D-2"}))[
        "MessageId"
    ]
    info = tmp_path / "local.json"
    driver.stack.write_info_file(info)

    def shown() -> str | None:
        capsys.readouterr()
        found = main(["executions", "show", message_id, "--json", "--info-file", str(info)]) == 0
        return capsys.readouterr().out if found else None

    detail = json.loads(wait_until(shown, timeout=DEADLINE_SECONDS, what="the message's run"))
    assert detail["messageId"] == message_id
    assert detail["workflowId"] == ORDERS


def test_a_bad_signature_and_a_disallowed_topic_are_logged_with_their_codes(
    driver: Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = driver.stack
    allowed = f"arn:aws:sns:{stack.config.region}:{stack.config.account_id}:audit-e2e"
    tampered = json.loads(_signer(stack, allowed).notification("genuine"))
    tampered["Message"] = "forged"
    disallowed = f"arn:aws:sns:{stack.config.region}:{stack.config.account_id}:orders-e2e"
    confirmation = _signer(stack, disallowed).subscription_confirmation()

    forged = _post(stack, AUDIT, json.dumps(tampered), "Notification")
    not_allowed = _post(stack, AUDIT, confirmation, "SubscriptionConfirmation")

    assert (forged.status, forged.code) == (403, "signature_mismatch")
    assert (not_allowed.status, not_allowed.code) == (403, "topic_not_allowed")
    [bad_signature] = wait_until(
        lambda: _refusals(driver, AUDIT, "signature_mismatch"),
        timeout=DEADLINE_SECONDS,
        what="the signature_mismatch refusal in the log",
    )
    assert bad_signature.message_id == tampered["MessageId"]
    assert bad_signature.key_name is None  # the webhook knows no key: it was let through
    [topic_refusal] = _refusals(driver, AUDIT, "topic_not_allowed")
    assert topic_refusal.topic_arn == disallowed
    # The refused confirmation of a topic the workflow does not allow shows on the workflow.
    shown = {s.topic_arn: s for s in driver.api.workflow(AUDIT).subscriptions}
    assert shown[disallowed].health == "refused"
    assert shown[disallowed].last_refusal_code == "topic_not_allowed"

    info = tmp_path / "local.json"
    stack.write_info_file(info)
    listed = _cli(["deliveries", AUDIT, "--refused"], info, capsys)
    assert "signature_mismatch" in listed
    assert "topic_not_allowed" in listed


def test_a_revoked_keys_deliveries_are_refused_in_the_log_and_the_subscription_is_failing(
    driver: Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Last in the module: the workflow's key stays revoked.
    stack = driver.stack
    info = tmp_path / "local.json"
    stack.write_info_file(info)
    topic = driver.new_topic()
    driver.subscribe_confirmed(ORDERS, topic)

    assert main(["keys", "revoke", "prod-sns", "--info-file", str(info)]) == 0

    def refused_revoked() -> list[Delivery]:
        driver.sns.publish(TopicArn=topic, Message=json.dumps({"orderId": uuid.uuid4().hex}))
        return [r for r in _refusals(driver, ORDERS, "revoked_api_key") if r.topic_arn == topic]

    [row] = wait_until(
        refused_revoked,
        timeout=DEADLINE_SECONDS,
        interval=0.2,
        what="a delivery refused with revoked_api_key in the log",
    )
    assert row.key_name == "prod-sns"  # the key's name, never its value
    assert stack.keys["prod-sns"] not in json.dumps(row.to_json())
    [subscription] = [s for s in driver.api.workflow(ORDERS).subscriptions if s.topic_arn == topic]
    assert subscription.status.value == "confirmed"  # what SNS said ...
    assert subscription.health == "failing"  # ... and what really happens
    assert subscription.last_refusal_code == "revoked_api_key"
    assert subscription.refusals_last_hour >= 1

    listed = _cli(["deliveries", ORDERS, "--refused"], info, capsys)
    assert "revoked_api_key" in listed
    assert "prod-sns" in listed
    shown = _cli(["workflows", "show", ORDERS], info, capsys)
    assert "failing" in shown
    assert f"snsflow deliveries {ORDERS} --refused" in shown
