"""The delivery log's part of the stack: its table, the settings the functions share, and the
alarm each workflow gets when its notifications are refused (aws_cdk.assertions)."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from infra.config import PROJECT_ROOT
from snsflow.delivery_log import REFUSED_NOTIFICATIONS_METRIC
from snsflow.store.tables import DELIVERIES
from snsflow.workflows import Workflow, load_workflows
from tests.infra.conftest import Synthesized, synthesize

WORKFLOWS = load_workflows(PROJECT_ROOT / "workflows")


@pytest.fixture(scope="module")
def tuned_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's app with the log's settings and the alarm's threshold given as ``-c`` would."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-log"),
        refusedNotificationsAlarmThreshold="7",
        deliveryLogShards="8",
        deliveryLogRetentionDays="14",
    )


def _template(app: Synthesized) -> Template:
    return Template.from_json(app.template)


def test_the_log_table_is_keyed_as_the_schema_says_expires_and_has_no_index(
    default_app: Synthesized,
) -> None:
    _template(default_app).has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "partition", "KeyType": "HASH"},
                {"AttributeName": "entry", "KeyType": "RANGE"},
            ],
            "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": Match.absent(),
        },
    )
    assert DELIVERIES.indexes == ()


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.id)
def test_each_workflow_has_an_alarm_on_its_refused_notifications(
    default_app: Synthesized, workflow: Workflow
) -> None:
    workflow_id = workflow.id
    _template(default_app).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"snsflow-NotificationsRefused-{workflow_id}",
            "Namespace": "snsflow",
            "MetricName": REFUSED_NOTIFICATIONS_METRIC,
            "Dimensions": Match.array_equals(
                [
                    {"Name": "service", "Value": "snsflow"},
                    {"Name": "workflowId", "Value": workflow_id},
                ]
            ),
            "Statistic": "Sum",
            "Period": 300,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        },
    )


def test_the_alarm_threshold_and_the_log_settings_come_from_the_stack_config(
    tuned_app: Synthesized,
) -> None:
    template = _template(tuned_app)
    alarms = template.find_resources(
        "AWS::CloudWatch::Alarm",
        {"Properties": {"MetricName": REFUSED_NOTIFICATIONS_METRIC}},
    )
    assert len(alarms) == len(WORKFLOWS)
    assert {a["Properties"]["Threshold"] for a in alarms.values()} == {7}
    environments = [
        f["Properties"].get("Environment", {}).get("Variables", {})
        for f in tuned_app.resources("AWS::Lambda::Function").values()
    ]
    logging = [e for e in environments if "SNSFLOW_DELIVERIES_TABLE_NAME" in e]
    # The webhook, the authorizer and the query function: the same shards, or reads miss.
    assert len(logging) == 3
    assert {e.get("SNSFLOW_DELIVERY_LOG_SHARDS") for e in logging} == {"8"}
    assert {e.get("SNSFLOW_DELIVERY_LOG_RETENTION_DAYS") for e in logging} == {"14"}
