"""The workflows registry: one item per workflow, written at deploy (or local start) time."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from snsflow.store.dynamodb import dynamodb_errors
from snsflow.workflows import Workflow


class WorkflowRecord(BaseModel):
    """What the Lambdas need to know about a workflow at run time."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    name: str
    api_key_name: str
    #: None: any topic; otherwise ARNs, ``*`` wildcards allowed.
    allowed_topic_arns: tuple[str, ...] | None = None
    state_machine_arn: str
    state_machine_type: Literal["STANDARD", "EXPRESS"] = "STANDARD"
    #: Changes whenever the workflow file or its definition changes.
    version: str = Field(default="")

    @classmethod
    def from_workflow(cls, workflow: Workflow, state_machine_arn: str) -> WorkflowRecord:
        return cls(
            workflow_id=workflow.id,
            name=workflow.name,
            api_key_name=workflow.trigger.api_key_name,
            allowed_topic_arns=workflow.trigger.allowed_topic_arns,
            state_machine_arn=state_machine_arn,
            state_machine_type=workflow.state_machine.type,
            version=workflow.version,
        )

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "workflowId": self.workflow_id,
            "name": self.name,
            "apiKeyName": self.api_key_name,
            "stateMachineArn": self.state_machine_arn,
            "stateMachineType": self.state_machine_type,
            "version": self.version,
        }
        if self.allowed_topic_arns is not None:
            item["allowedTopicArns"] = list(self.allowed_topic_arns)
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> WorkflowRecord:
        allowed = item.get("allowedTopicArns")
        return cls(
            workflow_id=item["workflowId"],
            name=item["name"],
            api_key_name=item["apiKeyName"],
            allowed_topic_arns=tuple(allowed) if allowed is not None else None,
            state_machine_arn=item["stateMachineArn"],
            state_machine_type=item.get("stateMachineType", "STANDARD"),
            version=item.get("version", ""),
        )


class WorkflowRegistry:
    """Reads and writes the registry table (a boto3 DynamoDB ``Table`` is passed in)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        with dynamodb_errors("read the workflow"):
            response = self._table.get_item(Key={"workflowId": workflow_id})
        item = response.get("Item")
        return WorkflowRecord.from_item(item) if item else None

    def put(self, record: WorkflowRecord) -> None:
        with dynamodb_errors("register the workflow"):
            self._table.put_item(Item=record.to_item())

    def list(self) -> list[WorkflowRecord]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            with dynamodb_errors("list the workflows"):
                page = self._table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted((WorkflowRecord.from_item(i) for i in items), key=lambda r: r.workflow_id)
