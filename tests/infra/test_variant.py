"""The same app with every setting changed: each one reaches the template."""

from __future__ import annotations

import json
from typing import Any

from infra.stack import webhook_url_output
from snsflow.workflows import load_workflows
from tests.infra.conftest import FIXTURES, Synthesized
from tests.infra.templates import as_list, render, role_statements

THREE_WORKFLOWS = load_workflows(FIXTURES / "workflows-three")


def test_state_machine_count_follows_the_workflow_folder(variant_app: Synthesized) -> None:
    machines = variant_app.resources("AWS::StepFunctions::StateMachine")
    assert len(THREE_WORKFLOWS) == 3
    assert len(machines) == 3
    assert {
        m["Properties"]["StateMachineName"]: m["Properties"]["StateMachineType"]
        for m in machines.values()
    } == {
        "snsflow-variant-invoices": "STANDARD",
        "snsflow-variant-metrics-fast": "EXPRESS",
        "snsflow-variant-shipments": "STANDARD",
    }
    assert len(variant_app.resources("Custom::SnsflowWorkflowRegistration")) == 3
    outputs = variant_app.template["Outputs"]
    assert {webhook_url_output(w.id) for w in THREE_WORKFLOWS} <= set(outputs)
    assert "WebhookUrlOrderEvents" not in outputs


def test_status_rule_and_permissions_follow_the_workflow_folder(variant_app: Synthesized) -> None:
    (rule,) = [
        r["Properties"]
        for r in variant_app.resources("AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"]
    ]
    assert len(rule["EventPattern"]["detail"]["stateMachineArn"]) == 3
    assert rule_schedule(variant_app) == "rate(10 minutes)"


def rule_schedule(app: Synthesized) -> str:
    (rule,) = [
        r["Properties"]
        for r in app.resources("AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    return str(rule["ScheduleExpression"])


def test_unprotected_tables_are_deleted_with_the_stack(variant_app: Synthesized) -> None:
    for table in variant_app.resources("AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is False
        assert table["DeletionPolicy"] == "Delete"


def test_architecture_log_level_and_retention_reach_the_functions(
    variant_app: Synthesized,
) -> None:
    functions = [
        f["Properties"]
        for f in variant_app.resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "handler.lambda_handler"
    ]
    assert len(functions) == 5
    for properties in functions:
        assert properties["Architectures"] == ["x86_64"]
        assert properties["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
        variables = properties["Environment"]["Variables"]
        assert variables["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
        assert variables["POWERTOOLS_SERVICE_NAME"] == "snsflow-variant"
        if "SNSFLOW_EXECUTION_RETENTION_DAYS" in variables:
            assert variables["SNSFLOW_EXECUTION_RETENTION_DAYS"] == "7"
        assert "ReservedConcurrentExecutions" not in properties  # reservedConcurrency=false
    for layer in variant_app.resources("AWS::Lambda::LayerVersion").values():
        assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    retentions = {
        group["Properties"]["RetentionInDays"]
        for group in variant_app.resources("AWS::Logs::LogGroup").values()
    }
    assert retentions == {14}


def test_without_waf_no_web_acl_is_created(variant_app: Synthesized) -> None:
    assert not variant_app.resources("AWS::WAFv2::WebACL")
    assert not variant_app.resources("AWS::WAFv2::WebACLAssociation")


def test_alarm_email_gets_a_topic_and_every_alarm_notifies_it(variant_app: Synthesized) -> None:
    (topic_id,) = variant_app.resources("AWS::SNS::Topic")
    (subscription,) = variant_app.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"
    alarms = variant_app.resources("AWS::CloudWatch::Alarm").values()
    # Stack-wide, per workflow (failed executions, refused notifications), per function, and
    # the failed-events queues.
    assert len(alarms) == 3 + 2 * len(THREE_WORKFLOWS) + 5 + 2
    for alarm in alarms:
        assert render(alarm["Properties"]["AlarmActions"]) == [f"<{topic_id}>"]


def test_express_workflow_is_logged_like_the_others(variant_app: Synthesized) -> None:
    for machine in variant_app.resources("AWS::StepFunctions::StateMachine").values():
        logging = machine["Properties"]["LoggingConfiguration"]
        assert logging["Level"] == "ALL"
        destination = json.dumps(logging["Destinations"])
        assert "CloudWatchLogsLogGroup" in destination


def _machine(app: Synthesized, name: str) -> dict[str, Any]:
    (machine,) = [
        m
        for m in app.resources("AWS::StepFunctions::StateMachine").values()
        if m["Properties"]["StateMachineName"] == name
    ]
    return machine


def test_express_runs_record_their_own_outcome_and_standard_definitions_are_unchanged(
    variant_app: Synthesized,
) -> None:
    by_id = {w.id: w for w in THREE_WORKFLOWS}
    standard = _machine(variant_app, "snsflow-variant-invoices")
    assert json.loads(render(standard["Properties"]["DefinitionString"])) == (
        by_id["invoices"].definition
    )
    express = _machine(variant_app, "snsflow-variant-metrics-fast")
    definition = render(express["Properties"]["DefinitionString"])
    assert "arn:aws:states:::dynamodb:updateItem" in definition
    role_id = express["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    (statement,) = [
        s
        for s in role_statements(variant_app.template, role_id)
        if any(str(a).startswith("dynamodb:") for a in as_list(s["Action"]))
    ]
    assert as_list(statement["Action"]) == ["dynamodb:UpdateItem"]
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["metrics-fast#*"]}
    }
    assert "ExecutionRecords" in str(statement["Resource"])
