"""Requests served at once are each answered for their own path, and a listing's shard
queries, run at once on threads, each keep their own key condition.

Two bugs this found: the local gateway ran one function's invocations at once on its threads,
where Lambda gives an instance one at a time (Powertools' resolver keeps the request it resolves
on the app: one workflow's listing was answered with another's); and boto3 builds ``Key(...)``
conditions with one placeholder counter per client, so the scatter-gather's shard queries built
at once swapped names and values (a 500, or one shard read twice: rows listed twice) — in
Lambda too. The stack runs in this process, so a short switch interval makes its threads
interleave as a loaded machine would.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from snsflow.cli.stack import ReadApi
from tests.e2e.conftest import Driver

pytestmark = pytest.mark.e2e


def test_concurrent_reads_are_each_answered_for_their_own_workflow(driver: Driver) -> None:
    workflow_ids = [workflow.id for workflow in driver.stack.workflows]
    assert len(workflow_ids) >= 2

    def ask(i: int) -> tuple[str, str, set[str]]:
        api = ReadApi(driver.stack.api_url, driver.stack.read_key)
        wanted = workflow_ids[i % len(workflow_ids)]
        shown = api.workflow(wanted).id
        listed = {x.workflow_id for x in api.executions(wanted, limit=5).items}
        return wanted, shown, listed

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the stack runs in this process: its threads switch often too
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(ask, range(40)))
    finally:
        sys.setswitchinterval(interval)

    wrong = [
        (wanted, shown, listed)
        for wanted, shown, listed in answers
        if shown != wanted or not listed <= {wanted}
    ]
    assert wrong == []
