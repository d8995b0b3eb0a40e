"""Page tokens: opaque, signed, bound to their query."""

from __future__ import annotations

import base64
import json

import pytest

from snsflow.pagination import MAX_TOKEN_LENGTH, PageTokenError, PageTokens

SECRET = b"s" * 32
QUERY = {"workflowId": "orders", "statuses": ["FAILED"], "since": None, "until": None}
POSITION = {"FAILED": ["2026-03-01T09:00:00.000Z", "m-1"], "SUCCEEDED": "end"}


def test_a_token_gives_back_its_position_for_its_query() -> None:
    tokens = PageTokens(SECRET)

    token = tokens.issue(QUERY, POSITION)

    assert tokens.open(token, dict(QUERY)) == POSITION
    assert set(token) <= set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.")


def test_a_token_for_another_query_is_refused() -> None:
    tokens = PageTokens(SECRET)
    token = tokens.issue(QUERY, POSITION)

    for other in (
        QUERY | {"statuses": ["SUCCEEDED"]},
        QUERY | {"workflowId": "audit"},
        QUERY | {"since": "2026-03-01T09:00:00.000Z"},
        {k: v for k, v in QUERY.items() if k != "until"},
    ):
        with pytest.raises(PageTokenError, match="different query"):
            tokens.open(token, other)


def test_an_edited_token_is_refused_even_with_a_valid_looking_body() -> None:
    tokens = PageTokens(SECRET)
    version, _body, mac = tokens.issue(QUERY, POSITION).split(".")
    forged = {"q": QUERY, "p": {"FAILED": ["2099-01-01T00:00:00.000Z", "m-9"]}}
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()

    with pytest.raises(PageTokenError, match="not a token this API issued"):
        tokens.open(f"{version}.{body}.{mac}", QUERY)


def test_a_token_of_another_secret_is_refused() -> None:
    token = PageTokens(b"t" * 32).issue(QUERY, POSITION)

    with pytest.raises(PageTokenError, match="not a token this API issued"):
        PageTokens(SECRET).open(token, QUERY)


@pytest.mark.parametrize(
    "garbage", ["", ".", "1", "1.", "1..", "x.y.z", "1.!!!.???", "1.\udcff.x", "1." + "A" * 5000]
)
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(PageTokenError, match="not a token this API issued"):
        PageTokens(SECRET).open(garbage, QUERY)


def test_an_overlong_token_is_refused_before_any_decoding() -> None:
    tokens = PageTokens(SECRET)
    token = tokens.issue(QUERY, {"FAILED": ["x" * MAX_TOKEN_LENGTH, "m"]})

    with pytest.raises(PageTokenError):
        tokens.open(token, QUERY)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        PageTokens(b"short")
