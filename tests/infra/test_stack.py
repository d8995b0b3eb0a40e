"""The synthesized stack, as cdk.json configures it, with the repository's workflows."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra.config import PROJECT_ROOT
from infra.firewall import decimal_at_most_patterns
from infra.stack import table_name_output, webhook_url_output
from infra.workflows import registry_item
from snsflow.authorization import ROUTES, MissingApiKeyError
from snsflow.cli.keys import KEY_PREFIX_SET_OUTPUT
from snsflow.errors import (
    DependencyUnavailableError,
    NotFoundError,
    PayloadTooLargeError,
)
from snsflow.gateway_responses import GATEWAY_ERRORS
from snsflow.local.gateway import GatewayRefusalError, ResponseType, refusal_response
from snsflow.settings import (
    AuthorizerSettings,
    QuerySettings,
    ReconcilerSettings,
    StatusSettings,
    WebhookSettings,
)
from snsflow.sns.errors import MessageTooLargeError
from snsflow.store.tables import (
    ALL_TABLES,
    DELIVERIES,
    EXECUTIONS,
    KEYS,
    LEGACY_EXECUTIONS,
    RETIRED_TABLES,
    SUBSCRIPTIONS,
    WORKFLOWS,
)
from snsflow.store.workflows import WorkflowRecord
from snsflow.workflows import load_workflows
from tests.infra.conftest import Synthesized
from tests.infra.templates import api_methods, render, role_of_function, role_statements

REPOSITORY_WORKFLOWS = load_workflows(PROJECT_ROOT / "workflows")
SNSFLOW_FUNCTIONS = ("authorizer", "webhook", "status", "reconciler", "query")


def _function_id(app: Synthesized, name: str) -> str:
    return app.logical_id(app.stack.functions.functions[name])  # type: ignore[index]


def _arn(app: Synthesized, construct: Any) -> str:
    return f"<{app.logical_id(construct)}.Arn>"


def _canonical(statements: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(statement, sort_keys=True) for statement in statements)


# --- workflows -------------------------------------------------------------------------------


def test_one_state_machine_per_workflow_file(default_app: Synthesized) -> None:
    machines = default_app.resources("AWS::StepFunctions::StateMachine")
    assert len(machines) == len(REPOSITORY_WORKFLOWS) >= 2
    by_name = {m["Properties"]["StateMachineName"]: m["Properties"] for m in machines.values()}
    for workflow in REPOSITORY_WORKFLOWS:
        properties = by_name[f"snsflow-{workflow.id}"]
        assert properties["StateMachineType"] == workflow.state_machine.type
        assert json.loads(properties["DefinitionString"]) == workflow.definition
        assert properties["LoggingConfiguration"]["Level"] == "ALL"
        assert properties["TracingConfiguration"] == {"Enabled": True}


def test_each_workflow_is_registered_at_deploy_time(default_app: Synthesized) -> None:
    registrations = default_app.resources("Custom::SnsflowWorkflowRegistration")
    assert len(registrations) == len(REPOSITORY_WORKFLOWS)
    registry_table = f"<{default_app.logical_id(default_app.stack.data.table(WORKFLOWS))}>"
    calls = {}
    for resource in registrations.values():
        create = json.loads(render(resource["Properties"]["Create"]))
        calls[create["parameters"]["Item"]["workflowId"]["S"]] = (resource["Properties"], create)
    for workflow in REPOSITORY_WORKFLOWS:
        properties, create = calls[workflow.id]
        machine = default_app.stack.workflows.state_machines[workflow.id]
        expected_item = registry_item(
            WorkflowRecord.from_workflow(workflow, f"<{default_app.logical_id(machine)}>")
        )
        assert create["action"] == "putItem"
        assert create["parameters"] == {"TableName": registry_table, "Item": expected_item}
        assert json.loads(render(properties["Update"])) == create
        delete = json.loads(render(properties["Delete"]))
        assert delete["action"] == "deleteItem"
        assert delete["parameters"]["Key"] == {"workflowId": {"S": workflow.id}}


def test_example_workflows_allow_topics_of_one_account_only() -> None:
    """A wildcard account would let any AWS account's topic start runs (with the key)."""
    limited = [w for w in REPOSITORY_WORKFLOWS if w.trigger.allowed_topic_arns is not None]
    assert limited
    for workflow in limited:
        for arn in workflow.trigger.allowed_topic_arns or ():
            assert re.fullmatch(r"arn:aws:sns:[^:]+:\d{12}:[^:]+", arn), (workflow.id, arn)


# --- data ------------------------------------------------------------------------------------


def test_tables_follow_their_schemas_on_demand_with_pitr(default_app: Synthesized) -> None:
    tables = default_app.resources("AWS::DynamoDB::Table")
    assert len(tables) == len(ALL_TABLES + RETIRED_TABLES)
    for schema in ALL_TABLES + RETIRED_TABLES:
        resource = tables[default_app.logical_id(default_app.stack.data.table(schema))]
        properties = resource["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["DeletionProtectionEnabled"] is True
        assert resource["DeletionPolicy"] == "Retain"
        assert properties["KeySchema"][0] == {
            "AttributeName": schema.partition_key.name,
            "KeyType": "HASH",
        }
        assert {index["IndexName"] for index in properties.get("GlobalSecondaryIndexes", [])} == {
            index.name for index in schema.indexes
        }


def _executions_indexes(app: Synthesized, schema: Any) -> dict[str, Any]:
    table = app.resources("AWS::DynamoDB::Table")[app.logical_id(app.stack.data.table(schema))]
    return {index["IndexName"]: index for index in table["Properties"]["GlobalSecondaryIndexes"]}


def test_executions_indexes_keep_keys_only_on_sharded_keys(default_app: Synthesized) -> None:
    table = default_app.resources("AWS::DynamoDB::Table")[
        default_app.logical_id(default_app.stack.data.table(EXECUTIONS))
    ]
    assert table["Properties"]["KeySchema"] == [
        {"AttributeName": "recordKey", "KeyType": "HASH"},
        {"AttributeName": "workflowId", "KeyType": "RANGE"},
    ]
    indexes = _executions_indexes(default_app, EXECUTIONS)
    assert {name: index["Projection"] for name, index in indexes.items()} == {
        "byWorkflowShard": {"ProjectionType": "KEYS_ONLY"},
        "byStatusShard": {"ProjectionType": "KEYS_ONLY"},
        "byExecutionId": {"ProjectionType": "KEYS_ONLY"},
    }
    assert {name: index["KeySchema"] for name, index in indexes.items()} == {
        "byWorkflowShard": [
            {"AttributeName": "workflowShard", "KeyType": "HASH"},
            {"AttributeName": "receivedAt", "KeyType": "RANGE"},
        ],
        "byStatusShard": [
            {"AttributeName": "statusShard", "KeyType": "HASH"},
            {"AttributeName": "receivedAt", "KeyType": "RANGE"},
        ],
        "byExecutionId": [{"AttributeName": "aliasExecutionId", "KeyType": "HASH"}],
    }


def test_the_executions_table_deployed_before_stays_as_it_was(default_app: Synthesized) -> None:
    # Same construct id, so the same logical id: an update leaves that table (and its records)
    # alone, while the new layout is a new table beside it.
    legacy = default_app.stack.data.table(LEGACY_EXECUTIONS)
    assert legacy.node.id == "Executions"
    assert default_app.stack.data.table(EXECUTIONS).node.id == "ExecutionRecords"
    indexes = _executions_indexes(default_app, LEGACY_EXECUTIONS)
    assert {name: index["Projection"] for name, index in indexes.items()} == {
        name: {"ProjectionType": "ALL"} for name in ("byReceivedAt", "byStatus", "byExecutionId")
    }
    resource = default_app.resources("AWS::DynamoDB::Table")[default_app.logical_id(legacy)]
    assert resource["Properties"]["KeySchema"][0] == {
        "AttributeName": "workflowId",
        "KeyType": "HASH",
    }


@pytest.mark.parametrize(
    ("function", "actions"),
    [
        # Moves every record, a bounded number per run.
        ("reconciler", ["dynamodb:DeleteItem", "dynamodb:Scan"]),
        # Moves a delivered message's record before recording the delivery.
        ("webhook", ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Scan"]),
    ],
)
def test_the_reconciler_and_the_webhook_move_the_old_executions_tables_records(
    default_app: Synthesized, function: str, actions: list[str]
) -> None:
    app = default_app
    legacy = app.stack.data.table(LEGACY_EXECUTIONS)
    properties = app.resources("AWS::Lambda::Function")[_function_id(app, function)]
    variables = render(properties["Properties"]["Environment"]["Variables"])
    assert variables["SNSFLOW_LEGACYEXECUTIONS_TABLE_NAME"] == f"<{app.logical_id(legacy)}>"
    statements = role_statements(
        app.template, role_of_function(app.template, _function_id(app, function))
    )
    on_legacy = [s for s in statements if _arn(app, legacy) in render(s["Resource"])]
    assert [sorted(s["Action"]) for s in on_legacy] == [actions]


def test_no_other_function_knows_the_old_executions_table(default_app: Synthesized) -> None:
    app = default_app
    for function in ("status", "query"):
        properties = app.resources("AWS::Lambda::Function")[_function_id(app, function)]
        assert (
            "SNSFLOW_LEGACYEXECUTIONS_TABLE_NAME"
            not in properties["Properties"]["Environment"]["Variables"]
        )


def test_executions_and_the_delivery_log_expire_by_ttl_and_only_they_do(
    default_app: Synthesized,
) -> None:
    for schema in ALL_TABLES + RETIRED_TABLES:
        table = default_app.resources("AWS::DynamoDB::Table")[
            default_app.logical_id(default_app.stack.data.table(schema))
        ]
        ttl = table["Properties"].get("TimeToLiveSpecification")
        if schema in (EXECUTIONS, LEGACY_EXECUTIONS, DELIVERIES):
            assert ttl == {"AttributeName": "expiresAt", "Enabled": True}
        else:
            assert ttl is None


# --- functions -------------------------------------------------------------------------------


def test_functions_run_python_with_json_logs_tracing_and_their_own_log_group(
    default_app: Synthesized,
) -> None:
    functions = default_app.resources("AWS::Lambda::Function")
    log_groups = default_app.resources("AWS::Logs::LogGroup")
    roles = set()
    for name in SNSFLOW_FUNCTIONS:
        properties = functions[_function_id(default_app, name)]["Properties"]
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Handler"] == "handler.lambda_handler"
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        log_group = log_groups[properties["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] == 30
        assert len(properties["Layers"]) == 2
        roles.add(role_of_function(default_app.template, _function_id(default_app, name)))
    assert len(roles) == len(SNSFLOW_FUNCTIONS), "every function has a role of its own"


def test_an_sns_delivery_is_answered_within_snss_15_second_timeout(
    default_app: Synthesized,
) -> None:
    functions = default_app.resources("AWS::Lambda::Function")
    timeout = {
        name: functions[_function_id(default_app, name)]["Properties"]["Timeout"]
        for name in ("authorizer", "webhook")
    }
    assert timeout["webhook"] <= 10
    assert timeout["authorizer"] + timeout["webhook"] < 15


def test_the_reconciler_runs_one_at_a_time_and_nothing_else_reserves_concurrency(
    default_app: Synthesized,
) -> None:
    functions = default_app.resources("AWS::Lambda::Function")
    reserved = {
        name: functions[_function_id(default_app, name)]["Properties"].get(
            "ReservedConcurrentExecutions"
        )
        for name in SNSFLOW_FUNCTIONS
    }
    assert reserved == {name: 1 if name == "reconciler" else None for name in SNSFLOW_FUNCTIONS}


@pytest.mark.parametrize(
    ("function", "settings"),
    [
        ("authorizer", AuthorizerSettings),
        ("webhook", WebhookSettings),
        ("status", StatusSettings),
        ("reconciler", ReconcilerSettings),
        ("query", QuerySettings),
    ],
)
def test_each_function_gets_every_setting_its_model_requires(
    default_app: Synthesized, function: str, settings: type[Any]
) -> None:
    properties = default_app.resources("AWS::Lambda::Function")[
        _function_id(default_app, function)
    ]["Properties"]
    variables = render(properties["Environment"]["Variables"])
    snsflow_variables = {name for name in variables if name.startswith("SNSFLOW_")}
    declared = {f"SNSFLOW_{field.upper()}" for field in settings.model_fields}
    required = {
        f"SNSFLOW_{name.upper()}" for name, f in settings.model_fields.items() if f.is_required()
    }
    assert required <= snsflow_variables <= declared
    for schema in ALL_TABLES:
        variable = f"SNSFLOW_{schema.logical_name.upper()}_TABLE_NAME"
        if variable in variables:
            table = default_app.stack.data.table(schema)
            assert variables[variable] == f"<{default_app.logical_id(table)}>"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "snsflow"
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_webhook_and_firewall_refuse_the_same_body_size(default_app: Synthesized) -> None:
    webhook = default_app.resources("AWS::Lambda::Function")[_function_id(default_app, "webhook")][
        "Properties"
    ]
    limit = int(webhook["Environment"]["Variables"]["SNSFLOW_MAX_BODY_BYTES"])
    _, pattern_set = default_app.firewall_resource("AllowedContentLengths")
    patterns = pattern_set["Properties"]["RegularExpressionList"]
    assert patterns == decimal_at_most_patterns(limit)

    def allowed(length: int) -> bool:
        return any(re.fullmatch(pattern, str(length)) for pattern in patterns)

    assert allowed(0)
    assert allowed(256 * 1024)
    assert allowed(limit)
    assert not allowed(limit + 1)
    assert not allowed(10 * limit)


# --- IAM -------------------------------------------------------------------------------------


def test_webhook_role_holds_exactly_its_statements(default_app: Synthesized) -> None:
    app = default_app
    role = role_of_function(app.template, _function_id(app, "webhook"))
    logs = app.stack.functions.functions["webhook"].log_group
    machines = sorted(f"<{app.logical_id(m)}>" for m in app.stack.workflows.state_machines.values())
    expected = [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [_arn(app, logs)],
        },
        {
            "Effect": "Allow",
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            "Resource": ["*"],
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": [_arn(app, app.stack.data.table(WORKFLOWS))],
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": [_arn(app, app.stack.data.table(EXECUTIONS))],
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Scan"],
            "Resource": [_arn(app, app.stack.data.table(LEGACY_EXECUTIONS))],
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            "Resource": [_arn(app, app.stack.data.table(SUBSCRIPTIONS))],
        },
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": [_arn(app, app.stack.data.table(DELIVERIES))],
        },
        {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": machines},
        {
            "Effect": "Allow",
            "Action": ["states:DescribeExecution"],
            "Resource": sorted(_executions_of(w.id) for w in REPOSITORY_WORKFLOWS),
        },
    ]
    assert _canonical(role_statements(app.template, role)) == _canonical(expected)


def test_authorizer_role_reads_keys_and_workflows_and_records_key_use(
    default_app: Synthesized,
) -> None:
    app = default_app
    statements = role_statements(
        app.template, role_of_function(app.template, _function_id(app, "authorizer"))
    )
    data = [s for s in statements if s["Action"][0].startswith("dynamodb:")]
    assert _canonical(data) == _canonical(
        [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
                "Resource": [_arn(app, app.stack.data.table(KEYS))],
            },
            {
                "Effect": "Allow",
                "Action": ["dynamodb:BatchGetItem"],
                "Resource": [_arn(app, app.stack.data.table(WORKFLOWS))],
            },
            {
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem"],
                "Resource": [_arn(app, app.stack.data.table(DELIVERIES))],
            },
        ]
    )


def _executions_of(workflow_id: str) -> str:
    return (
        "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
        f"execution:snsflow-{workflow_id}:*"
    )


def test_only_webhook_reconciler_and_query_may_describe_executions_and_only_this_stacks(
    default_app: Synthesized,
) -> None:
    app = default_app
    for name in SNSFLOW_FUNCTIONS:
        statements = role_statements(
            app.template, role_of_function(app.template, _function_id(app, name))
        )
        describe = [s for s in statements if "states:DescribeExecution" in s["Action"]]
        if name not in ("webhook", "reconciler", "query"):
            assert describe == []
            continue
        (statement,) = describe
        assert statement["Action"][0] == "states:DescribeExecution"
        assert statement["Resource"] == sorted(_executions_of(w.id) for w in REPOSITORY_WORKFLOWS)


def test_only_the_query_function_acts_on_executions_and_only_on_this_stacks(
    default_app: Synthesized,
) -> None:
    app = default_app
    machines = sorted(f"<{app.logical_id(m)}>" for m in app.stack.workflows.state_machines.values())
    acting = ("states:GetExecutionHistory", "states:RedriveExecution")
    for name in SNSFLOW_FUNCTIONS:
        statements = role_statements(
            app.template, role_of_function(app.template, _function_id(app, name))
        )
        granted = [s for s in statements if set(acting) & set(s["Action"])]
        if name != "query":
            assert granted == []
            continue
        assert _canonical(granted) == _canonical(
            [
                {
                    "Effect": "Allow",
                    "Action": ["states:DescribeExecution", *acting],
                    "Resource": sorted(_executions_of(w.id) for w in REPOSITORY_WORKFLOWS),
                }
            ]
        )
        starts = [s for s in statements if "states:StartExecution" in s["Action"]]
        assert starts == [
            {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": machines}
        ]
        writes = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
        assert writes == [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Resource": [_arn(app, app.stack.data.table(EXECUTIONS))],
            }
        ]


def test_no_function_role_grants_anything_on_every_resource_but_xray(
    default_app: Synthesized,
) -> None:
    app = default_app
    for name in SNSFLOW_FUNCTIONS:
        role = role_of_function(app.template, _function_id(app, name))
        for statement in role_statements(app.template, role):
            if "*" in statement["Resource"]:
                assert all(action.startswith("xray:") for action in statement["Action"]), name
            assert not any(action.endswith(":*") for action in statement["Action"]), name


# --- API -------------------------------------------------------------------------------------


def test_every_route_but_the_page_goes_through_the_authorizer(default_app: Synthesized) -> None:
    methods = api_methods(default_app.template)
    (authorizer_id,) = default_app.resources("AWS::ApiGateway::Authorizer")
    expected_routes = {(route.http_method, route.resource) for route in ROUTES} | {("GET", "/")}
    assert set(methods) == expected_routes
    for (http_method, path), properties in methods.items():
        if (http_method, path) == ("GET", "/"):
            assert properties["AuthorizationType"] == "NONE"
            assert "AuthorizerId" not in properties
        else:
            assert properties["AuthorizationType"] == "CUSTOM", path
            assert properties["AuthorizerId"] == {"Ref": authorizer_id}, path


def test_routes_reach_the_webhook_or_the_query_function(default_app: Synthesized) -> None:
    app = default_app
    for (http_method, path), properties in api_methods(app.template).items():
        target = "webhook" if path.startswith("/webhooks/") else "query"
        uri = render(properties["Integration"]["Uri"])
        assert f"<{_function_id(app, target)}.Arn>" in uri, (http_method, path)
        assert properties["Integration"]["Type"] == "AWS_PROXY"


def test_authorizer_has_no_identity_sources_and_no_cache(default_app: Synthesized) -> None:
    (authorizer,) = default_app.resources("AWS::ApiGateway::Authorizer").values()
    properties = authorizer["Properties"]
    assert properties["Type"] == "REQUEST"
    assert not properties.get("IdentitySource")
    assert properties["AuthorizerResultTtlInSeconds"] == 0
    assert f"<{_function_id(default_app, 'authorizer')}.Arn>" in render(properties["AuthorizerUri"])


def test_stage_is_throttled_and_logs_no_query_string(default_app: Synthesized) -> None:
    (stage,) = default_app.resources("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    (method_settings,) = properties["MethodSettings"]
    assert method_settings["ThrottlingRateLimit"] == 100
    assert method_settings["ThrottlingBurstLimit"] == 200
    # INFO execution logs and data tracing would write the query string (the API key).
    assert method_settings["LoggingLevel"] == "ERROR"
    assert method_settings["DataTraceEnabled"] is False
    access_format = json.loads(properties["AccessLogSetting"]["Format"])
    assert access_format["status"] == "$context.status"
    assert access_format["path"] == "$context.path"  # the path alone, no query string
    for variable in access_format.values():
        assert not re.search(r"querystring|requestOverride|\$input|\$method|apiKey", variable)


def _gateway_responses(app: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in app.resources("AWS::ApiGateway::GatewayResponse").values()
    }


_DENIAL = {"errorCode": "revoked_api_key", "errorMessage": "This key is revoked."}


def _filled(template: str) -> Any:
    """A gateway response body as API Gateway would send it."""
    filled = template.replace("$context.error.messageString", '"Some message"')
    filled = filled.replace("$context.authorizer.errorCode", _DENIAL["errorCode"])
    filled = filled.replace("$context.authorizer.errorMessage", _DENIAL["errorMessage"])
    return json.loads(filled)


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [
        ("UNAUTHORIZED", "401", MissingApiKeyError.code),
        ("ACCESS_DENIED", "403", "revoked_api_key"),
        ("MISSING_AUTHENTICATION_TOKEN", "404", NotFoundError.code),
        ("REQUEST_TOO_LARGE", "413", PayloadTooLargeError.code),
        # SNS retries 5xx only: a throttled or unauthorizable delivery must not be dropped.
        ("THROTTLED", "503", DependencyUnavailableError.code),
        ("AUTHORIZER_FAILURE", "503", DependencyUnavailableError.code),
        ("AUTHORIZER_CONFIGURATION_ERROR", "503", DependencyUnavailableError.code),
        ("DEFAULT_4XX", None, "bad_request"),
        ("DEFAULT_5XX", None, "internal_error"),
    ],
)
def test_gateway_errors_have_the_contracts_shape(
    default_app: Synthesized, response_type: str, status: str | None, code: str
) -> None:
    response = _gateway_responses(default_app)[response_type]
    assert response.get("StatusCode") == status
    assert response["ResponseParameters"] == {
        "gatewayresponse.header.Content-Type": "'application/json'"
    }
    body = _filled(response["ResponseTemplates"]["application/json"])
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


def test_firewall_blocks_oversized_posts_with_the_contracts_413(default_app: Synthesized) -> None:
    ((acl_id, acl),) = default_app.resources("AWS::WAFv2::WebACL").items()
    (association,) = default_app.resources("AWS::WAFv2::WebACLAssociation").values()
    (stage_id,) = default_app.resources("AWS::ApiGateway::Stage")
    assert render(association["Properties"]["WebACLArn"]) == f"<{acl_id}.Arn>"
    assert stage_id in render(association["Properties"]["ResourceArn"])
    rule = acl["Properties"]["Rules"][0]
    assert (rule["Name"], rule["Priority"]) == ("RequestBodyTooLarge", 0)
    block = rule["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 413
    body = acl["Properties"]["CustomResponseBodies"][block["CustomResponseBodyKey"]]
    assert json.loads(body["Content"])["error"]["code"] == MessageTooLargeError.code
    post, refused_size = rule["Statement"]["AndStatement"]["Statements"]
    assert post["ByteMatchStatement"]["SearchString"] == "POST"
    reference = refused_size["NotStatement"]["Statement"]["RegexPatternSetReferenceStatement"]
    assert reference["FieldToMatch"] == {"SingleHeader": {"Name": "content-length"}}


# --- events ----------------------------------------------------------------------------------


def _rules(app: Synthesized) -> list[dict[str, Any]]:
    return [r["Properties"] for r in app.resources("AWS::Events::Rule").values()]


def test_status_changes_of_exactly_these_workflows_reach_the_status_function(
    default_app: Synthesized,
) -> None:
    app = default_app
    (rule,) = [r for r in _rules(app) if "EventPattern" in r]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    machines = sorted(f"<{app.logical_id(m)}>" for m in app.stack.workflows.state_machines.values())
    assert sorted(render(pattern["detail"]["stateMachineArn"])) == machines
    # Ends only: the start of a run is written by whoever starts it (no RUNNING event).
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "SUCCEEDED", "TIMED_OUT"]
    (target,) = rule["Targets"]
    assert render(target["Arn"]) == f"<{_function_id(app, 'status')}.Arn>"


def test_reconciler_runs_on_a_schedule(default_app: Synthesized) -> None:
    (rule,) = [r for r in _rules(default_app) if "ScheduleExpression" in r]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = rule["Targets"]
    assert render(target["Arn"]) == f"<{_function_id(default_app, 'reconciler')}.Arn>"


def _rule_id(app: Synthesized, kind: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, rule in app.resources("AWS::Events::Rule").items()
        if kind in rule["Properties"]
    ]
    return logical_id


#: The asynchronously invoked functions: the key of their rule, Lambda's maximum event age.
ASYNC_FUNCTIONS = {"status": ("EventPattern", 6 * 3600), "reconciler": ("ScheduleExpression", 3600)}


@pytest.mark.parametrize("name", sorted(ASYNC_FUNCTIONS))
def test_events_a_function_never_processes_land_in_its_failed_events_queue(
    default_app: Synthesized, name: str
) -> None:
    app = default_app
    rule_key, max_event_age = ASYNC_FUNCTIONS[name]
    queue = _arn(app, app.stack.events.failed_events[name])  # type: ignore[index]
    rule = app.template["Resources"][_rule_id(app, rule_key)]["Properties"]
    (target,) = rule["Targets"]
    assert render(target["DeadLetterConfig"]) == {"Arn": queue}  # EventBridge could not deliver
    (config,) = [
        c["Properties"]
        for c in app.resources("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": _function_id(app, name)}
    ]
    assert render(config["DestinationConfig"]) == {"OnFailure": {"Destination": queue}}
    assert config["Qualifier"] == "$LATEST"  # what EventBridge invokes (the unqualified ARN)
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == max_event_age
    assert len(app.resources("AWS::Lambda::EventInvokeConfig")) == len(ASYNC_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(ASYNC_FUNCTIONS))
def test_a_failed_events_queue_is_encrypted_kept_14_days_and_written_only_by_its_senders(
    default_app: Synthesized, name: str
) -> None:
    app = default_app
    queue = app.stack.events.failed_events[name]  # type: ignore[index]
    properties = app.template["Resources"][app.logical_id(queue)]["Properties"]
    assert properties["SqsManagedSseEnabled"] is True
    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = [
        p["Properties"]
        for p in app.resources("AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": app.logical_id(queue)}]
    ]
    deny, allow = render(policy["PolicyDocument"]["Statement"])
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    rule = _rule_id(app, ASYNC_FUNCTIONS[name][0])
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": f"<{rule}.Arn>"}}
    # Lambda sends the on-failure record with the function's own role: only that role may.
    for function in SNSFLOW_FUNCTIONS:
        role = role_of_function(app.template, _function_id(app, function))
        on_queue = [
            s for s in role_statements(app.template, role) if _arn(app, queue) in s["Resource"]
        ]
        if function != name:
            assert on_queue == []
            continue
        (statement,) = on_queue
        assert statement["Resource"] == [_arn(app, queue)]
        assert "sqs:SendMessage" in statement["Action"]
        assert all(
            a in ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
            for a in statement["Action"]
        )


# --- observability and outputs ---------------------------------------------------------------


def test_alarms_cover_errors_denials_unknown_keys_reconciler_work_and_failed_executions(
    default_app: Synthesized,
) -> None:
    alarms = default_app.resources("AWS::CloudWatch::Alarm").values()
    names = {alarm["Properties"]["AlarmName"] for alarm in alarms}
    expected = {
        "snsflow-ApiServerErrorRate",
        "snsflow-DeniedRequestsSpike",
        "snsflow-ReconcilerWorkFound",
        "snsflow-WebhookUnknownKey",
        *(f"snsflow-ExecutionsFailed-{w.id}" for w in REPOSITORY_WORKFLOWS),
        *(f"snsflow-NotificationsRefused-{w.id}" for w in REPOSITORY_WORKFLOWS),
        *(f"snsflow-FunctionErrors-{name}" for name in SNSFLOW_FUNCTIONS),
        *(f"snsflow-FailedEvents-{name}" for name in ASYNC_FUNCTIONS),
    }
    assert names == expected
    assert len(default_app.resources("AWS::CloudWatch::Dashboard")) == 1
    # No alarm e-mail configured: alarms have no action and no topic exists.
    assert not default_app.resources("AWS::SNS::Topic")


@pytest.mark.parametrize("name", sorted(ASYNC_FUNCTIONS))
def test_an_event_waiting_in_a_failed_events_queue_raises_an_alarm_and_shows_on_the_dashboard(
    default_app: Synthesized, name: str
) -> None:
    app = default_app
    queue = app.logical_id(app.stack.events.failed_events[name])  # type: ignore[index]
    (alarm,) = [
        a["Properties"]
        for a in app.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == f"snsflow-FailedEvents-{name}"
    ]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert render(alarm["Dimensions"]) == [{"Name": "QueueName", "Value": f"<{queue}.QueueName>"}]
    assert alarm["Statistic"] == "Maximum"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    (dashboard,) = app.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "ApproximateNumberOfMessagesVisible" in body
    assert f'"{queue}", "QueueName"' in body


def test_denied_requests_are_counted_from_the_access_log(default_app: Synthesized) -> None:
    (metric_filter,) = default_app.resources("AWS::Logs::MetricFilter").values()
    properties = metric_filter["Properties"]
    assert "401" in properties["FilterPattern"]
    assert "403" in properties["FilterPattern"]
    (transformation,) = properties["MetricTransformations"]
    assert transformation["MetricName"] == "DeniedRequests"
    assert transformation["Dimensions"] == [{"Key": "service", "Value": "$.service"}]


def test_outputs_give_the_api_url_each_webhook_url_the_table_names_and_the_key_prefix_set(
    default_app: Synthesized,
) -> None:
    app = default_app
    outputs = {name: render(output["Value"]) for name, output in app.template["Outputs"].items()}
    (api_id,) = app.resources("AWS::ApiGateway::RestApi")
    (stage_id,) = app.resources("AWS::ApiGateway::Stage")
    base = f"https://<{api_id}>.execute-api.<AWS::Region>.<AWS::URLSuffix>/<{stage_id}>/"
    expected = {"ApiUrl": base}
    for workflow in REPOSITORY_WORKFLOWS:
        expected[webhook_url_output(workflow.id)] = f"{base}webhooks/{workflow.id}"
    for schema in ALL_TABLES + RETIRED_TABLES:
        expected[table_name_output(schema)] = f"<{app.logical_id(app.stack.data.table(schema))}>"
    prefix_set_id, _ = app.firewall_resource("WebhookKeyPrefixes")
    expected[KEY_PREFIX_SET_OUTPUT] = f"<{prefix_set_id}.Arn>"
    assert outputs == expected
    assert set(expected) >= {"WebhookUrlOrderEvents", "KeysTableName", "ExecutionsTableName"}


def test_only_the_query_function_gets_the_page_token_secret(default_app: Synthesized) -> None:
    ((secret_id, secret),) = default_app.resources("AWS::SecretsManager::Secret").items()
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    functions = default_app.resources("AWS::Lambda::Function")
    for name in SNSFLOW_FUNCTIONS:
        variables = functions[_function_id(default_app, name)]["Properties"]["Environment"]
        value = variables["Variables"].get("SNSFLOW_PAGINATION_SECRET")
        if name == "query":
            # A dynamic reference: CloudFormation resolves it at deploy time.
            assert render(value) == f"{{{{resolve:secretsmanager:<{secret_id}>:SecretString:::}}}}"
        else:
            assert value is None


@pytest.mark.parametrize("response_type", sorted(ResponseType))
def test_the_local_gateway_answers_as_the_deployed_one(
    default_app: Synthesized, response_type: ResponseType
) -> None:
    deployed = _gateway_responses(default_app)[response_type.value]
    refusal = GatewayRefusalError(response_type, 400, "Some message", _DENIAL)
    local = refusal_response(refusal, GATEWAY_ERRORS, "request-1")
    assert json.loads(local.body) == _filled(deployed["ResponseTemplates"]["application/json"])
    if "StatusCode" in deployed:
        assert str(local.status) == deployed["StatusCode"]
