"""10,000 refused requests that reach the authorizer and the webhook (no key, a wrong key, a bad
signature with the right key) while a real local SNS topic delivers to the same workflow: the
delivery log stays bounded (one counter per code and minute, the count printed) and counts
every refusal, and every accepted delivery is still logged.

The firewall is off and the stage's throttle raised, so that every request reaches the
functions (behind the deployed firewall, keyless and unknown-key requests never do: they are
refused there and counted by WAF, docs/floods.md). The flood runs in its own process.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import secrets
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from snsflow.cli.stack import ReadApi
from snsflow.local.stack import LocalStack, LocalStackConfig, wait_until
from tests.e2e.conftest import E2E_CONFIG
from tests.support.sns import SnsTestSigner, TestCertificate

pytestmark = pytest.mark.e2e

WORKFLOW = "order-events"
FLOOD_REQUESTS = 10_000
FLOOD_PROCESSES = 2
THREADS_PER_PROCESS = 4
#: How often a function instance writes a refusal counter (snsflow.deliveries.DeliveryLog).
FLUSH_SECONDS = 1.0
KINDS = ("no_key", "wrong_key", "bad_signature")
EXPECTED = {
    "no_key": (401, "missing_api_key"),
    "wrong_key": (403, "invalid_api_key"),
    "bad_signature": (403, "signature_mismatch"),
}
VALID_MESSAGES = 20
UNTHROTTLED = 1_000_000.0


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    key: str
    forged_body: bytes


def _send(target: Target, count: int, offset: int) -> Counter[tuple[str, int, str]]:
    """``count`` requests over one kept-alive connection; the answers by kind."""
    answers: Counter[tuple[str, int, str]] = Counter()
    connection = http.client.HTTPConnection(target.host, target.port, timeout=30)
    for n in range(count):
        kind = KINDS[(offset + n) % len(KINDS)]
        headers = {"x-amz-sns-message-type": "Notification"}
        body = b"{}"
        if kind == "wrong_key":
            headers["x-api-key"] = "snsf_" + secrets.token_urlsafe(32)
        elif kind == "bad_signature":
            headers["x-api-key"] = target.key
            body = target.forged_body
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        code = str(json.loads(answer).get("error", {}).get("code", "")) if answer else ""
        answers[(kind, response.status, code)] += 1
    connection.close()
    return answers


def _flood_process(target: Target, count: int, offset: int) -> Counter[tuple[str, int, str]]:
    shares = [
        count // THREADS_PER_PROCESS + (n < count % THREADS_PER_PROCESS)
        for n in range(THREADS_PER_PROCESS)
    ]
    starts = [offset + sum(shares[:n]) for n in range(THREADS_PER_PROCESS)]
    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        parts = pool.map(lambda n: _send(target, shares[n], starts[n]), range(THREADS_PER_PROCESS))
        return sum(parts, Counter())


@dataclass
class FloodOutcome:
    answers: Counter[tuple[str, int, str]]
    items: list[dict[str, Any]]
    published: list[str]


def _log_items(stack: LocalStack) -> list[dict[str, Any]]:
    table = boto3.resource(
        "dynamodb", endpoint_url=stack.aws_endpoint, region_name=stack.config.region
    ).Table(stack.tables["Deliveries"])
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture(scope="module")
def flooded() -> Iterator[FloodOutcome]:
    config = LocalStackConfig(
        sns_delay_scale=E2E_CONFIG.sns_delay_scale,
        status_poll_seconds=0.5,
        firewall_enabled=False,
        throttle_rate_limit=UNTHROTTLED,
        throttle_burst_limit=int(UNTHROTTLED),
    )
    with LocalStack(config) as stack:
        sns = boto3.client("sns", endpoint_url=stack.sns_endpoint, region_name=config.region)
        topic = sns.create_topic(Name=f"flood-{secrets.token_hex(4)}")["TopicArn"]
        sns.subscribe(
            TopicArn=topic, Protocol="http", Endpoint=stack.workflow(WORKFLOW).sns_endpoint
        )
        api = ReadApi(stack.api_url, stack.read_key)
        wait_until(
            lambda: any(
                s.topic_arn == topic and s.status.value == "confirmed"
                for s in api.workflow(WORKFLOW).subscriptions
            ),
            timeout=30,
            what="the subscription to be confirmed",
        )
        identity = stack.sns.signing_identity
        forged = json.loads(
            SnsTestSigner(
                topic_arn=topic,
                certificate=TestCertificate(identity.certificate_pem, identity.private_key),
                cert_url=stack.sns.certificate_url,
            ).notification("genuine")
        )
        forged["Message"] = "forged"
        parts = urllib.parse.urlsplit(stack.api_url)
        target = Target(
            parts.hostname or "",
            parts.port or 80,
            f"/webhooks/{WORKFLOW}",
            stack.keys[stack.workflow(WORKFLOW).api_key_name],
            json.dumps(forged).encode("utf-8"),
        )
        share = FLOOD_REQUESTS // FLOOD_PROCESSES  # FLOOD_REQUESTS is a multiple
        context = multiprocessing.get_context("spawn")
        with context.Pool(FLOOD_PROCESSES) as pool:
            flood = pool.starmap_async(
                _flood_process, [(target, share, n * share) for n in range(FLOOD_PROCESSES)]
            )
            published = [
                sns.publish(TopicArn=topic, Message=json.dumps({"n": n}))["MessageId"]
                for n in range(VALID_MESSAGES)
            ]
            answers = sum(flood.get(timeout=120), Counter())
        flooded_at = time.monotonic()

        # A function instance writes a counter at most once a second, and what it counted
        # since goes out with its next request: once a second has passed, one more refusal by
        # each function (the authorizer's: no key; the webhook's: a bad signature) makes it
        # write everything it holds. (One for each kind would not do: the first request's
        # writes would leave the next one's counter written just now.)
        wait_until(
            lambda: time.monotonic() >= flooded_at + FLUSH_SECONDS,
            timeout=2 * FLUSH_SECONDS,
            what="a counter's write interval to pass",
        )
        answers.update(_send(target, 1, KINDS.index("no_key")))
        answers.update(_send(target, 1, KINDS.index("bad_signature")))

        def settled() -> list[dict[str, Any]] | None:
            """The log once every accepted delivery is in it and every refusal counted."""
            items = _log_items(stack)
            logged = {i.get("messageId") for i in items if i.get("outcome") == "accepted"}
            counted = _counted(items)
            sent = _refused(answers)
            return items if logged >= set(published) and counted == sent else None

        items = wait_until(
            settled, timeout=30, interval=0.3, what="every delivery and refusal in the log"
        )
        yield FloodOutcome(answers, items, published)


def _refused(answers: Counter[tuple[str, int, str]]) -> Counter[str]:
    """The refusals sent, by code (a 5xx is no refusal: SNS retries it, and it is not logged)."""
    return Counter({code: n for (_, status, code), n in answers.items() if status < 500})


def _counted(items: list[dict[str, Any]]) -> Counter[str]:
    counted = Counter[str]()
    for item in items:
        if item["outcome"] == "refused":
            counted[str(item["code"])] += int(item["count"])
    return counted


def test_the_flood_is_refused_with_the_functions_answers(flooded: FloodOutcome) -> None:
    answers = flooded.answers
    assert sum(answers.values()) >= FLOOD_REQUESTS  # and the polls' few
    refused = {(kind, status, code) for kind, status, code in answers if status < 500}
    assert refused == {(kind, *EXPECTED[kind]) for kind in KINDS}
    # A moto table pushed this hard may answer a read with a throttle now and then: a 503,
    # which SNS retries; never more than a handful.
    failed = {key: n for key, n in answers.items() if key[1] >= 500}
    assert set(failed) <= {(kind, 503, "dependency_unavailable") for kind in KINDS}
    assert sum(failed.values()) <= FLOOD_REQUESTS // 100


def test_the_flood_leaves_a_bounded_number_of_log_items_counting_every_refusal(
    flooded: FloodOutcome,
) -> None:
    counters = [item for item in flooded.items if item["outcome"] == "refused"]
    entries = [item for item in flooded.items if item["outcome"] != "refused"]
    print(
        f"\n{FLOOD_REQUESTS} refused requests and {VALID_MESSAGES} accepted deliveries left "
        f"{len(flooded.items)} log items: {len(counters)} refusal counters, "
        f"{len(entries)} delivery entries"
    )

    # One counter per code and minute: the flood spans at most a few minutes.
    minutes = {str(item["entry"])[:16] for item in counters}
    assert len(counters) <= len(KINDS) * len(minutes)
    assert len(minutes) <= 3
    assert _counted(counters) == _refused(flooded.answers)
    for item in counters:
        samples = [value for name, value in item.items() if name.startswith("sample")]
        assert 1 <= len(samples) <= 3


def test_every_accepted_delivery_is_still_logged(flooded: FloodOutcome) -> None:
    accepted = [item for item in flooded.items if item["outcome"] == "accepted"]
    assert sorted(str(item["messageId"]) for item in accepted) == sorted(flooded.published)
    assert all(str(item.get("executionId", "")).startswith(f"{WORKFLOW}.") for item in accepted)
