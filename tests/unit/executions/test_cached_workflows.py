"""Registry reads are reused for a while: the registry changes only at deploy time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from snsflow.executions import CachedWorkflows
from snsflow.store.workflows import WorkflowRecord
from tests.unit.executions.fakes import Clock, workflow


@dataclass
class CountingRegistry:
    workflows: dict[str, WorkflowRecord] = field(default_factory=dict)
    reads: int = 0

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        self.reads += 1
        return self.workflows.get(workflow_id)

    def list(self) -> list[WorkflowRecord]:
        self.reads += 1
        return list(self.workflows.values())


def test_a_workflow_is_read_once_per_ttl() -> None:
    registry = CountingRegistry({"a": workflow("a")})
    clock = Clock()
    cached = CachedWorkflows(registry, ttl=timedelta(seconds=30), clock=clock)

    first = cached.get("a")
    clock.advance(seconds=29)
    second = cached.get("a")
    clock.advance(seconds=2)
    third = cached.get("a")

    assert first == second == third == workflow("a")
    assert registry.reads == 2


def test_a_missing_workflow_is_not_remembered() -> None:
    registry = CountingRegistry()
    cached = CachedWorkflows(registry, ttl=timedelta(seconds=30), clock=Clock())

    assert cached.get("new") is None
    registry.workflows["new"] = workflow("new")
    assert cached.get("new") == workflow("new")
    assert registry.reads == 2


def test_a_state_machine_maps_to_its_workflow() -> None:
    registry = CountingRegistry({"a": workflow("a"), "b": workflow("b")})
    cached = CachedWorkflows(registry, ttl=timedelta(seconds=30), clock=Clock())

    found = cached.by_state_machine(workflow("b").state_machine_arn)
    unknown = cached.by_state_machine("arn:aws:states:us-east-1:123456789012:stateMachine:x")

    assert found == workflow("b")
    assert unknown is None
    assert registry.reads == 1
