"""The five Lambda functions: one role, one log group and one settings model each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.config import PROJECT_ROOT, StackConfig
from infra.environment import FUNCTION_SETTINGS, settings_environment
from infra.layer_build import PYTHON_VERSION
from infra.log_groups import log_group
from infra.nag import acknowledge
from infra.observability import METRICS_NAMESPACE
from infra.permissions import ACCESS, FunctionAccess, FunctionName

#: Pinned to the version whose byte code the layers ship (infra/layer_build.py), not the newest.
RUNTIME = lambda_.Runtime.PYTHON_3_13
if RUNTIME.name != f"python{PYTHON_VERSION}":  # the layer is built for PYTHON_VERSION
    raise RuntimeError(f"runtime {RUNTIME.name} does not match layer Python {PYTHON_VERSION}")

ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
#: Powertools and Lambda's own JSON logging name levels differently.
_LAMBDA_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}


@dataclass(frozen=True)
class FunctionSpec:
    name: FunctionName
    description: str
    timeout_seconds: int
    memory_mb: int
    #: Reserved concurrency (context ``reservedConcurrency`` may turn reservations off).
    reserved_concurrency: int | None = None


FUNCTION_SPECS: tuple[FunctionSpec, ...] = (
    # The authorizer and the webhook answer one SNS delivery between them; SNS gives up after
    # 15 s, so their timeouts add up to less than that.
    FunctionSpec("authorizer", "Checks the API key of every request", 3, 512),
    FunctionSpec("webhook", "Verifies SNS deliveries and starts one execution each", 10, 1024),
    FunctionSpec("status", "Records Step Functions status changes", 30, 256),
    # One run at a time, whatever the interval: a tick that fires during a run is throttled and
    # kept in Lambda's asynchronous queue until the run ends (docs/deploy.md).
    FunctionSpec(
        "reconciler",
        "Starts claims whose start failed; settles stale runs",
        120,
        256,
        reserved_concurrency=1,
    ),
    FunctionSpec("query", "Serves the read-only API and the executions page", 10, 512),
)


@dataclass(frozen=True)
class StateMachineRef:
    arn: str
    #: The state machine's name (a plain string: execution ARNs are built from it).
    name: str


@dataclass(frozen=True)
class GrantTargets:
    """The resources the permission table of infra/permissions.py refers to."""

    #: Table ARN by the table's logical name.
    table_arns: Mapping[str, str]
    state_machines: tuple[StateMachineRef, ...]


class LambdaFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        layers: list[lambda_.ILayerVersion],
        settings_values: Mapping[str, str],
        targets: GrantTargets,
    ) -> None:
        super().__init__(scope, id)
        self.functions: dict[FunctionName, lambda_.Function] = {}
        for spec in FUNCTION_SPECS:
            function, role = self._function(spec, config, layers, settings_values)
            _grant(role, ACCESS[spec.name], targets)
            self.functions[spec.name] = function

    def _function(
        self,
        spec: FunctionSpec,
        config: StackConfig,
        layers: list[lambda_.ILayerVersion],
        settings_values: Mapping[str, str],
    ) -> tuple[lambda_.Function, iam.Role]:
        scope = Construct(self, spec.name)
        logs = log_group(scope, "Logs", config)
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"snsflow {spec.name} function",
        )
        logs.grant_write(role)
        function = lambda_.Function(
            scope,
            "Function",
            description=f"snsflow: {spec.description}",
            runtime=RUNTIME,
            architecture=ARCHITECTURES[config.architecture],
            code=lambda_.Code.from_asset(
                str(PROJECT_ROOT / "functions" / spec.name), exclude=["__pycache__", "*.pyc"]
            ),
            handler="handler.lambda_handler",
            layers=layers,
            role=role,
            timeout=Duration.seconds(spec.timeout_seconds),
            memory_size=spec.memory_mb,
            reserved_concurrent_executions=(
                spec.reserved_concurrency if config.reserved_concurrency else None
            ),
            log_group=logs,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=_LAMBDA_LOG_LEVELS[config.log_level],
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                # The service dimension of every custom metric: one stack, one service.
                "POWERTOOLS_SERVICE_NAME": config.stack_name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": config.log_level,
                # Responses can carry execution data and key metadata: keep them out of traces.
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                **settings_environment(FUNCTION_SETTINGS[spec.name], settings_values),
            },
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"Pinned to {RUNTIME.name}, the version whose byte code the layers ship (compiled at "
            "build time: a read-only file system would otherwise recompile at every cold start).",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; "
            "every other statement of this role names its resources.",
        )
        return function, role


def _grant(role: iam.Role, access: FunctionAccess, targets: GrantTargets) -> None:
    for grant in access.tables:
        table_arn = targets.table_arns[grant.table.logical_name]
        known = {index.name for index in grant.table.indexes}
        unknown = set(grant.indexes) - known
        if unknown:
            raise ValueError(f"{grant.table.logical_name} has no index {sorted(unknown)}")
        resources = [f"{table_arn}/index/{name}" for name in grant.indexes] or [table_arn]
        role.add_to_policy(iam.PolicyStatement(actions=list(grant.actions), resources=resources))
    machines = targets.state_machines
    if access.state_machine_actions and machines:
        role.add_to_policy(
            iam.PolicyStatement(
                actions=list(access.state_machine_actions),
                resources=[machine.arn for machine in machines],
            )
        )
    if access.account_topic_actions:
        topics = Stack.of(role).format_arn(
            service="sns", region="*", resource="*", arn_format=ArnFormat.NO_RESOURCE_NAME
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=list(access.account_topic_actions), resources=[topics])
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sns:*:<AWS::AccountId>:*]",
            "Reads subscription attributes only (GetSubscriptionAttributes), of topics in this "
            "stack's account: the topics are subscribed outside the stack, in any region, so "
            "their names and regions are not known at deploy time.",
        )
    if access.execution_actions and machines:
        executions = [executions_arn(role, machine.name) for machine in machines]
        role.add_to_policy(
            iam.PolicyStatement(actions=list(access.execution_actions), resources=executions)
        )
        for machine in machines:
            acknowledge(
                role,
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
                f"<AWS::AccountId>:execution:{machine.name}:*]",
                "Execution ARNs are only known at run time; this names the executions of one of "
                "this stack's state machines and nothing else.",
            )


def executions_arn(scope: Construct, state_machine_name: str) -> str:
    """The ARN of every execution of one state machine."""
    return Stack.of(scope).format_arn(
        service="states",
        resource="execution",
        resource_name=f"{state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
