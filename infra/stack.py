"""The snsflow stack: wires the constructs together and publishes what operators need."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.api import RestApi
from infra.config import StackConfig
from infra.data import DataTables
from infra.environment import settings_values
from infra.events import ExecutionEvents
from infra.firewall import Firewall
from infra.functions import ARCHITECTURES, RUNTIME, GrantTargets, LambdaFunctions
from infra.layers import FunctionLayers
from infra.nag import acknowledge
from infra.observability import Observability
from infra.workflows import Workflows
from snsflow.cli.keys import KEY_PREFIX_SET_OUTPUT
from snsflow.cli.stack import table_name_output as table_name_output  # re-exported (tests)
from snsflow.cli.stack import webhook_url_output as webhook_url_output  # re-exported (tests)
from snsflow.store.tables import ALL_TABLES, EXECUTIONS, RETIRED_TABLES, WORKFLOWS
from snsflow.workflows import Workflow, load_workflows

API_URL_OUTPUT = "ApiUrl"


class SnsflowStack(Stack):
    def __init__(self, scope: Construct, config: StackConfig) -> None:
        super().__init__(
            scope,
            config.stack_name,
            description="snsflow: Amazon SNS HTTPS deliveries to AWS Step Functions workflows",
        )
        workflows = load_workflows(config.workflows_path)
        _check_output_names(workflows)

        self.data = DataTables(
            self,
            "Data",
            deletion_protection=config.deletion_protection,
            capacity=config.provisioned_capacity,
        )
        self.workflows = Workflows(
            self,
            "Workflows",
            config=config,
            workflows=workflows,
            registry=self.data.table(WORKFLOWS),
            executions=self.data.table(EXECUTIONS),
        )
        layers = FunctionLayers(
            self,
            "Layers",
            runtime=RUNTIME,
            architecture=ARCHITECTURES[config.architecture],
            architecture_name=config.architecture,
        )
        self.functions = LambdaFunctions(
            self,
            "Functions",
            config=config,
            layers=layers.all,
            settings_values=settings_values(
                config,
                {schema.logical_name: table.table_name for schema, table in self.data.all},
                pagination_secret=self._pagination_secret(),
            ),
            targets=GrantTargets(
                table_arns={
                    schema.logical_name: table.table_arn for schema, table in self.data.all
                },
                state_machines=tuple(self.workflows.refs),
            ),
        )
        functions = self.functions.functions
        self.api = RestApi(
            self,
            "Api",
            config=config,
            authorizer_function=functions["authorizer"],
            webhook_function=functions["webhook"],
            query_function=functions["query"],
        )
        stage = self.api.api.deployment_stage
        self.firewall: Firewall | None = None
        if config.waf_enabled:
            self.firewall = Firewall(
                self, "Firewall", stage_arn=stage.stage_arn, config=config, name=config.stack_name
            )
        else:
            acknowledge(
                stage,
                "AwsSolutions-APIG3",
                "WAF turned off by the operator (context wafEnabled=false); the webhook still "
                "refuses oversized bodies and every route but the static page needs a key.",
            )
        self.events = ExecutionEvents(
            self,
            "Events",
            state_machine_arns=[ref.arn for ref in self.workflows.refs],
            status_function=functions["status"],
            reconciler_function=functions["reconciler"],
            reconcile_every_minutes=config.reconcile_every_minutes,
        )
        Observability(
            self,
            "Observability",
            config=config,
            api=self.api.api,
            access_logs=self.api.access_logs,
            functions=functions,
            state_machines=self.workflows.state_machines,
            failed_events=self.events.failed_events,
            firewall=self.firewall,
        )
        self._outputs(workflows)

    def _pagination_secret(self) -> str:
        """The query function's key for signing page tokens, generated once at deploy time.

        It reaches the function as an environment variable (resolved by CloudFormation): it
        only guards page tokens of data their holder may read anyway, and an environment
        variable keeps the query function free of a Secrets Manager call per cold start.
        """
        secret = secretsmanager.Secret(
            self,
            "PaginationSecret",
            description="snsflow: signs the nextToken of execution listings",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Rotating it would only invalidate outstanding page tokens; nothing to protect by "
            "rotation.",
        )
        return secret.secret_value.unsafe_unwrap()

    def _outputs(self, workflows: list[Workflow]) -> None:
        CfnOutput(
            self,
            API_URL_OUTPUT,
            value=self.api.api.url,
            description="Base URL of the API; GET it in a browser for the executions page",
        )
        for workflow in workflows:
            CfnOutput(
                self,
                webhook_url_output(workflow.id),
                value=self.api.url_for(f"/webhooks/{workflow.id}"),
                description=f"Webhook URL of workflow {workflow.id} (add ?x-api-key=<key>)",
            )
        # The retired tables too: snsflow recover looks for a record not yet moved.
        for schema in ALL_TABLES + RETIRED_TABLES:
            CfnOutput(
                self,
                table_name_output(schema),
                value=self.data.table(schema).table_name,
                description=f"DynamoDB table: {schema.logical_name.lower()}",
            )
        if self.firewall is not None and self.firewall.key_prefix_set is not None:
            CfnOutput(
                self,
                KEY_PREFIX_SET_OUTPUT,
                value=self.firewall.key_prefix_set.attr_arn,
                description="The firewall's set of admitted webhook key prefixes "
                "(snsflow keys keeps it)",
            )


def _check_output_names(workflows: list[Workflow]) -> None:
    seen: dict[str, str] = {}
    for workflow in workflows:
        name = webhook_url_output(workflow.id)
        if name in seen:
            raise ValueError(
                f"workflows '{seen[name]}' and '{workflow.id}' would share the stack output "
                f"{name}: rename one of them"
            )
        seen[name] = workflow.id
