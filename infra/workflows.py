"""One Step Functions state machine per workflow file, and the registry written at deploy time."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from boto3.dynamodb.types import TypeSerializer
from constructs import Construct

from infra.config import StackConfig
from infra.functions import StateMachineRef
from infra.log_groups import log_group
from infra.nag import acknowledge
from snsflow.definitions import deployed_definition
from snsflow.store.workflows import WorkflowRecord
from snsflow.workflows import Workflow

#: Step Functions limits state machine names to 80 characters.
_MAX_STATE_MACHINE_NAME = 80
_serializer = TypeSerializer()


def state_machine_name(stack_name: str, workflow_id: str) -> str:
    """``<stack>-<workflow id>``: readable in the console, unique per stack and region."""
    name = f"{stack_name}-{workflow_id}"
    if len(name) > _MAX_STATE_MACHINE_NAME:
        raise ValueError(
            f"state machine name '{name}' is longer than {_MAX_STATE_MACHINE_NAME} characters: "
            "shorten the stack name or the workflow id"
        )
    return name


def registry_item(record: WorkflowRecord) -> dict[str, Any]:
    """The registry item in DynamoDB's attribute-value form (what PutItem takes)."""
    return {key: _serializer.serialize(value) for key, value in record.to_item().items()}


class Workflows(Construct):
    """The workflows' state machines, each registered in the workflows table."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        workflows: list[Workflow],
        registry: dynamodb.Table,
        executions: dynamodb.Table,
    ) -> None:
        super().__init__(scope, id)
        self._executions = executions
        self.state_machines: dict[str, sfn.StateMachine] = {}
        self.refs: list[StateMachineRef] = []
        registration = Construct(self, "Registration")
        registration_logs = log_group(registration, "Logs", config)
        registration_role = self._registration_role(registration, registry, registration_logs)
        for workflow in workflows:
            name = state_machine_name(config.stack_name, workflow.id)
            machine = self._state_machine(config, workflow, name)
            self.state_machines[workflow.id] = machine
            self.refs.append(StateMachineRef(arn=machine.state_machine_arn, name=name))
            self._register(workflow, machine, registry, registration_role, registration_logs)

    def _state_machine(
        self, config: StackConfig, workflow: Workflow, name: str
    ) -> sfn.StateMachine:
        scope = Construct(self, workflow.id)
        machine = sfn.StateMachine(
            scope,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType[workflow.state_machine.type],
            # EXPRESS definitions are wrapped so that each run records its own outcome.
            definition_body=sfn.DefinitionBody.from_string(
                json.dumps(
                    deployed_definition(workflow, executions_table_name=self._executions.table_name)
                )
            ),
            comment=f"snsflow workflow {workflow.id}: {workflow.name}",
            tracing_enabled=True,
            logs=sfn.LogOptions(
                # The vendedlogs prefix keeps CloudWatch Logs resource policies small.
                destination=log_group(scope, "Logs", config, name=f"/aws/vendedlogs/states/{name}"),
                level=sfn.LogLevel.ALL,
                # Inputs and outputs live in the execution history and the executions table;
                # logs keep the events without copying message contents a third time.
                include_execution_data=False,
            ),
        )
        if workflow.state_machine.type == "EXPRESS":
            # The run claims its record and writes its outcome; status events never come.
            machine.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:UpdateItem"],
                    resources=[self._executions.table_arn],
                    # Its own records only: their keys are "<workflowId>#<MessageId>".
                    conditions={
                        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{workflow.id}#*"]}
                    },
                )
            )
        acknowledge(
            machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs vended-log delivery (logs:*LogDelivery*, DescribeResourcePolicies, "
            "...) and X-Ray writes support no resource-level permissions.",
        )
        return machine

    @staticmethod
    def _registration_role(
        scope: Construct, registry: dynamodb.Table, logs: logs_.LogGroup
    ) -> iam.Role:
        """The role of the one function that writes registry items (shared by all workflows)."""
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="snsflow: writes the workflows registry at deploy time",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:PutItem", "dynamodb:DeleteItem"],
                resources=[registry.table_arn],
            )
        )
        logs.grant_write(role)
        return role

    def _register(
        self,
        workflow: Workflow,
        machine: sfn.StateMachine,
        registry: dynamodb.Table,
        role: iam.Role,
        logs: logs_.LogGroup,
    ) -> None:
        record = WorkflowRecord.from_workflow(workflow, machine.state_machine_arn)
        put_item = cr.AwsSdkCall(
            service="DynamoDB",
            action="putItem",
            parameters={"TableName": registry.table_name, "Item": registry_item(record)},
            physical_resource_id=cr.PhysicalResourceId.of(workflow.id),
        )
        cr.AwsCustomResource(
            self,
            f"{workflow.id}-Registration",
            resource_type="Custom::SnsflowWorkflowRegistration",
            on_create=put_item,
            # Any change of the file, its definition or the ARN changes the item: rewrite it.
            on_update=put_item,
            # A workflow file removed from the folder leaves the registry with it.
            on_delete=cr.AwsSdkCall(
                service="DynamoDB",
                action="deleteItem",
                parameters={
                    "TableName": registry.table_name,
                    "Key": {"workflowId": {"S": workflow.id}},
                },
            ),
            role=role,
            log_group=logs,
            install_latest_aws_sdk=False,
            timeout=Duration.minutes(1),
        )
