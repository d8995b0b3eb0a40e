"""``snsflow deliveries --follow``: each new row once, oldest first, and a refusal counter again
when its count grows; a misbehaving API's endless pages end a poll."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from snsflow.cli.deliveries import Follower, follow
from snsflow.deliveries import DeliveryOutcome
from snsflow.delivery_reads import Delivery, DeliveryPage

START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _accepted(seconds: int) -> Delivery:
    return Delivery(
        at=START + timedelta(seconds=seconds),
        outcome=DeliveryOutcome.ACCEPTED,
        message_id=f"m-{seconds}",
        request_id=f"r-{seconds}",
    )


def _counter(count: int) -> Delivery:
    return Delivery(at=START, outcome=DeliveryOutcome.REFUSED, code="revoked_api_key", count=count)


@dataclass
class PagedApi:
    """Answers each poll with the next page list (newest first), the last one forever."""

    polls: list[list[Delivery]]
    endless: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)

    def deliveries(self, workflow_id: str, **params: Any) -> DeliveryPage:
        self.calls.append(params)
        rows = self.polls[min(len(self.calls) - 1, len(self.polls) - 1)]
        return DeliveryPage(items=rows, next_token="again" if self.endless else None)


def _follow(api: PagedApi, polls: int) -> list[str]:
    out = io.StringIO()
    follower = Follower(api, "order-events", None, out)  # type: ignore[arg-type]
    follow(follower, since=None, limit=25, interval=0, max_polls=polls, sleep=lambda _s: None)
    return out.getvalue().splitlines()


def test_new_rows_are_printed_once_oldest_first_and_a_growing_counter_again() -> None:
    api = PagedApi(
        [
            [_accepted(2), _accepted(1)],
            [_counter(1), _accepted(2), _accepted(1)],
            [_accepted(3), _counter(4), _accepted(2), _accepted(1)],
        ]
    )

    lines = _follow(api, 3)

    # "<date> <time>Z  <outcome>  <code>  <count>  ..."
    assert [line.split()[2] for line in lines] == [
        "accepted",
        "accepted",
        "refused",
        "refused",
        "accepted",
    ]
    assert "m-1" in lines[0]
    assert "m-2" in lines[1]
    assert lines[2].split()[4] == "1"  # the count: 1, then printed again at 4
    assert lines[3].split()[4] == "4"


def test_a_poll_ends_on_a_repeated_token() -> None:
    api = PagedApi([[_accepted(1)]], endless=True)

    _follow(api, 2)

    # The first poll takes one page; the second follows "again" once, then stops.
    assert len(api.calls) == 3
