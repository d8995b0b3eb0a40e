"""``GET /workflows/{workflowId}/executions``: filters, order, and pages that lose nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from functions.query import handler
from snsflow.store.executions import ExecutionStatus, format_time
from tests.integration.query.conftest import ORDERS_TOPIC, QueryStack, Reply, Seeded

SEEDED_COUNT = 57


@pytest.fixture
def seeded(query_stack: QueryStack, recent: datetime) -> dict[str, Seeded]:
    records = query_stack.seed_many("order-events", SEEDED_COUNT, recent)
    # Another workflow's records never show up in order-events' listings.
    query_stack.seed("audit-log", 9000, ExecutionStatus.FAILED, recent + timedelta(seconds=5))
    return records


def assert_walk_covers(
    pages: list[list[str]], expected: dict[str, Seeded], limit: int
) -> list[str]:
    """Every expected record exactly once, newest first, in full pages but the last."""
    walked = [identifier for page in pages for identifier in page]
    assert len(walked) == len(set(walked)), "a record was repeated"
    assert set(walked) == set(expected), "a record was lost (or one that should not be there)"
    times = [expected[identifier].received_at for identifier in walked]
    assert times == sorted(times, reverse=True), "not newest first"
    assert all(len(page) == limit for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit
    return walked


def test_a_page_is_newest_first_in_the_contract_shape(
    query_stack: QueryStack, recent: datetime
) -> None:
    older = query_stack.seed("order-events", 1, ExecutionStatus.SUCCEEDED, recent)
    newer = query_stack.seed(
        "order-events",
        2,
        ExecutionStatus.RECEIVED,
        recent + timedelta(minutes=1),
        subject="order paid",
    )

    reply = query_stack.executions("order-events")

    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "no-store"
    body = reply.body
    assert body["nextToken"] is None
    assert [item["executionId"] for item in body["items"]] == [newer, older]
    first, second = body["items"]
    assert set(first) >= {
        "executionId",
        "workflowId",
        "messageId",
        "status",
        "topicArn",
        "subject",
        "receivedAt",
        "startedAt",
        "stoppedAt",
        "deliveries",
    }
    assert first["workflowId"] == "order-events"
    assert first["messageId"] == "00000002-5b1e-4d1c-9f2a-0c6e3b8d4a7f"
    assert first["status"] == "RECEIVED"
    assert first["topicArn"] == ORDERS_TOPIC
    assert first["subject"] == "order paid"
    assert first["receivedAt"] == format_time(recent + timedelta(minutes=1))
    assert first["startedAt"] is None
    assert first["stoppedAt"] is None
    assert first["deliveries"] == 1
    assert second["status"] == "SUCCEEDED"
    assert second["startedAt"] == format_time(recent + timedelta(milliseconds=40))
    assert second["stoppedAt"] == format_time(recent + timedelta(seconds=2, milliseconds=540))
    assert second["receivedAt"].endswith("Z")


@pytest.mark.parametrize("limit", [1, 7, 57, 100])
def test_walking_every_page_returns_each_record_once_in_order(
    query_stack: QueryStack, seeded: dict[str, Seeded], limit: int
) -> None:
    pages = query_stack.walk("order-events", limit=str(limit))

    assert_walk_covers(pages, seeded, limit)
    assert len(pages) == -(-SEEDED_COUNT // limit)


@pytest.mark.parametrize(
    ("statuses", "limit"),
    [
        (["FAILED"], 4),
        (["RECEIVED"], 10),
        (["FAILED", "SUCCEEDED"], 1),
        (["FAILED", "SUCCEEDED"], 10),
        (["TIMED_OUT", "ABORTED", "RECEIVED"], 1),
        (["RECEIVED", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"], 7),
    ],
)
def test_walking_a_status_filter_across_pages_loses_and_repeats_nothing(
    query_stack: QueryStack, seeded: dict[str, Seeded], statuses: list[str], limit: int
) -> None:
    expected = {k: v for k, v in seeded.items() if v.status.value in statuses}

    pages = query_stack.walk("order-events", status=",".join(statuses), limit=str(limit))

    assert_walk_covers(pages, expected, limit)


def test_status_may_repeat_or_be_comma_separated_in_any_case(
    query_stack: QueryStack, seeded: dict[str, Seeded]
) -> None:
    repeated = query_stack.executions("order-events", status=["FAILED", "aborted"], limit="100")
    joined = query_stack.executions("order-events", status="aborted, FAILED", limit="100")

    assert repeated.status == joined.status == 200
    assert repeated.body["items"] == joined.body["items"]
    assert {item["status"] for item in joined.body["items"]} == {"FAILED", "ABORTED"}
    assert len(joined.body["items"]) == sum(
        1 for s in seeded.values() if s.status in (ExecutionStatus.FAILED, ExecutionStatus.ABORTED)
    )


def test_since_and_until_bound_the_received_time_inclusively(
    query_stack: QueryStack, seeded: dict[str, Seeded], recent: datetime
) -> None:
    since, until = recent + timedelta(seconds=10), recent + timedelta(seconds=20)
    expected = {k for k, v in seeded.items() if since <= v.received_at <= until}

    reply = query_stack.executions(
        "order-events", since=since.isoformat(), until=format_time(until), limit="100"
    )
    only_since = query_stack.executions("order-events", since=format_time(since), limit="100")
    failed_until = query_stack.executions(
        "order-events", until=format_time(until), status="FAILED", limit="100"
    )

    assert {item["executionId"] for item in reply.body["items"]} == expected
    assert len(expected) == 11  # indexes 10 to 20 (11 and 12 share second 10 with 10)
    assert {item["executionId"] for item in only_since.body["items"]} == {
        k for k, v in seeded.items() if v.received_at >= since
    }
    assert {item["executionId"] for item in failed_until.body["items"]} == {
        k
        for k, v in seeded.items()
        if v.received_at <= until and v.status is ExecutionStatus.FAILED
    }


def test_a_time_window_with_a_status_filter_walks_its_pages(
    query_stack: QueryStack, seeded: dict[str, Seeded], recent: datetime
) -> None:
    since = recent + timedelta(seconds=5)
    until = recent + timedelta(seconds=44, milliseconds=999)
    statuses = {ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED, ExecutionStatus.RECEIVED}
    expected = {
        k: v for k, v in seeded.items() if since <= v.received_at <= until and v.status in statuses
    }

    pages = query_stack.walk(
        "order-events",
        status=[s.value for s in statuses],
        since=format_time(since),
        until=format_time(until),
        limit="3",
    )

    assert_walk_covers(pages, expected, 3)


def test_the_default_page_holds_25(query_stack: QueryStack, seeded: dict[str, Seeded]) -> None:
    reply = query_stack.executions("order-events")

    assert len(reply.body["items"]) == 25
    assert reply.body["nextToken"]


def test_a_workflow_without_records_lists_nothing(query_stack: QueryStack) -> None:
    reply = query_stack.executions("audit-log", status="FAILED")

    assert reply.status == 200
    assert reply.body == {"items": [], "nextToken": None}


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"status": "DONE"}, "status"),
        ({"status": "FAILED,nope"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-28T12:00:00"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "2026-11-28T12:00:00Z", "until": "2026-11-28T11:00:00Z"}, "until"),
        ({"nextToken": "x" * 5000}, "nextToken"),
        # UTC cannot hold these (year 0 or 10000 once the offset is taken off).
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-14:00"}, "until"),
        # A number would be read as seconds (or milliseconds) since 1970: ambiguous.
        ({"since": "1700000000"}, "since"),
        ({"until": "-1.5"}, "until"),
        ({"limit": ["5", "6"]}, "limit"),
        ({"since": ["2026-11-28T12:00:00Z", "2026-11-29T12:00:00Z"]}, "since"),
    ],
)
def test_an_invalid_parameter_is_a_400_naming_it(
    query_stack: QueryStack, query: dict[str, str | list[str]], parameter: str
) -> None:
    reply = query_stack.executions("order-events", **query)

    assert reply.status == 400
    error = reply.body["error"]
    assert error["code"] == "invalid_parameter"
    assert error["parameter"] == parameter
    assert f"'{parameter}'" in error["message"]


def test_an_unknown_workflow_is_a_404(query_stack: QueryStack) -> None:
    reply = query_stack.executions("no-such-workflow")

    assert reply.status == 404
    assert reply.body["error"]["code"] == "workflow_not_found"
    assert "no-such-workflow" in reply.body["error"]["message"]


def test_a_malformed_workflow_id_is_a_404(query_stack: QueryStack) -> None:
    reply = query_stack.executions("Not_A_Workflow")

    assert reply.status == 404
    assert reply.error_code == "workflow_not_found"


# -- page tokens ----------------------------------------------------------------------------------


@pytest.fixture
def failed_token(query_stack: QueryStack, seeded: dict[str, Seeded]) -> str:
    reply = query_stack.executions("order-events", status="FAILED", limit="2")
    token = reply.body["nextToken"]
    assert token
    return str(token)


def _assert_token_refused(reply: Reply, reason: str) -> None:
    assert reply.status == 400
    error = reply.body["error"]
    assert error["code"] == "invalid_parameter"
    assert error["parameter"] == "nextToken"
    assert reason in error["message"]


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "1..", "1.e30=.AAAA", "2.eyJxIjp7fX0.AAAA", "1.%%%.%%%", "1.\u00e9t\u00e9.x"],
)
def test_a_garbage_token_is_a_400(query_stack: QueryStack, garbage: str) -> None:
    reply = query_stack.executions("order-events", nextToken=garbage)

    _assert_token_refused(reply, "not a token this API issued")


def test_a_tampered_token_is_a_400(query_stack: QueryStack, failed_token: str) -> None:
    version, body, mac = failed_token.split(".")
    flipped = body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:]

    for tampered in (f"{version}.{flipped}.{mac}", f"{version}.{body}.{mac[::-1]}"):
        reply = query_stack.executions("order-events", status="FAILED", nextToken=tampered)
        _assert_token_refused(reply, "not a token this API issued")


def test_a_token_used_with_other_filters_is_a_400(
    query_stack: QueryStack, failed_token: str
) -> None:
    for query in (
        {"status": "SUCCEEDED"},
        {"status": "FAILED,ABORTED"},
        {},
        {"status": "FAILED", "since": "2020-01-01T00:00:00Z"},
        {"status": "FAILED", "until": "2099-01-01T00:00:00Z"},
    ):
        reply = query_stack.executions("order-events", **query, nextToken=failed_token)
        _assert_token_refused(reply, "different query")


def test_a_token_of_another_workflow_is_a_400(query_stack: QueryStack, failed_token: str) -> None:
    reply = query_stack.executions("audit-log", status="FAILED", nextToken=failed_token)

    _assert_token_refused(reply, "different query")


def test_a_token_signed_with_another_secret_is_a_400(
    query_stack: QueryStack, failed_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNSFLOW_PAGINATION_SECRET", "another-secret-of-at-least-32-bytes!")
    handler._service.cache_clear()

    reply = query_stack.executions("order-events", status="FAILED", nextToken=failed_token)

    _assert_token_refused(reply, "not a token this API issued")


def test_the_same_filters_in_another_spelling_accept_the_token(
    query_stack: QueryStack, seeded: dict[str, Seeded], recent: datetime
) -> None:
    since = recent + timedelta(seconds=3)
    first = query_stack.executions(
        "order-events", status="failed,SUCCEEDED", since=format_time(since), limit="2"
    )

    second = query_stack.executions(
        "order-events",
        status=["SUCCEEDED", "FAILED"],
        since=since.astimezone().isoformat(),  # the same instant, another offset
        limit="5",
        nextToken=first.body["nextToken"],
    )

    assert second.status == 200
    assert not {i["executionId"] for i in first.body["items"]} & {
        i["executionId"] for i in second.body["items"]
    }
