"""Alarms and a dashboard. Alarm notifications go to an SNS topic when one is configured.

Custom metrics come from the functions (Powertools Metrics, namespace ``snsflow``, dimension
``service`` = the stack name) and from a metric filter on the API's access log; the firewall's
come from WAF (``AWS/WAFV2``, per rule: WAF's metrics know no workflow).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StackConfig
from infra.firewall import Firewall
from infra.nag import acknowledge
from infra.permissions import FunctionName
from snsflow.delivery_log import LOG_FAILURE_METRIC, REFUSED_NOTIFICATIONS_METRIC
from snsflow.firewall import UNKNOWN_KEY_RULE

METRICS_NAMESPACE = "snsflow"
#: Metrics the webhook and the reconciler emit (see functions/*/handler.py).
WEBHOOK_METRICS = (
    "NotificationsAccepted",
    "NotificationsDuplicate",
    "SubscriptionsConfirmed",
    "SubscriptionsUnsubscribed",
    "DeliveriesRefused",
    "DeliveriesFailed",
    LOG_FAILURE_METRIC,
)
RECONCILER_METRICS = (
    "ReconcilerStarted",
    "ReconcilerFinished",
    "ReconcilerStartFailures",
    "ReconcilerCheckFailures",
    "ReconcilerRunsFailed",
    # Subscription records whose check against SNS changed, and checks that could not be made.
    "ReconcilerSnsCheckChanges",
    "ReconcilerSnsCheckFailures",
)
#: Counted from the access log: requests answered 401 or 403 (refused key, bad signature, topic
#: not allowed).
DENIED_REQUESTS_METRIC = "DeniedRequests"
_PERIOD = Duration.minutes(5)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StackConfig,
        api: apigw.RestApi,
        access_logs: logs.ILogGroup,
        functions: Mapping[FunctionName, lambda_.Function],
        state_machines: Mapping[str, sfn.StateMachine],
        failed_events: Mapping[FunctionName, sqs.IQueue],
        firewall: Firewall | None,
    ) -> None:
        super().__init__(scope, id)
        self._config = config
        self._actions = self._alarm_actions(config)
        self.alarms: list[cloudwatch.Alarm] = []

        logs.MetricFilter(
            self,
            "DeniedRequestsFilter",
            log_group=access_logs,
            filter_pattern=logs.FilterPattern.any(
                logs.FilterPattern.string_value("$.status", "=", "401"),
                logs.FilterPattern.string_value("$.status", "=", "403"),
            ),
            metric_namespace=METRICS_NAMESPACE,
            metric_name=DENIED_REQUESTS_METRIC,
            metric_value="1",
            dimensions={"service": "$.service"},
        )
        denied = self.custom_metric(DENIED_REQUESTS_METRIC)
        server_error_rate = api.metric_server_error(statistic="Average", period=_PERIOD)
        reconciler_work = cloudwatch.MathExpression(
            expression="FILL(started, 0) + FILL(finished, 0)",
            using_metrics={
                "started": self.custom_metric("ReconcilerStarted"),
                "finished": self.custom_metric("ReconcilerFinished"),
            },
            label="Claims started and runs settled by the reconciler",
            period=Duration.minutes(max(5, config.reconcile_every_minutes)),
        )

        self._alarm(
            "ApiServerErrorRate",
            server_error_rate,
            threshold=0.05,
            description="More than 5% of API requests (SNS deliveries) answered with a 5xx: "
            "SNS is retrying them. Check the webhook's logs.",
        )
        self._alarm(
            "DeniedRequestsSpike",
            denied,
            threshold=config.denied_requests_alarm_threshold,
            description="Many requests refused with 401/403 (unknown or revoked keys, bad "
            "signatures, topics not allowed): a misconfigured subscription or a probe.",
        )
        if firewall is not None and UNKNOWN_KEY_RULE in firewall.rule_metric_names:
            self._alarm(
                UNKNOWN_KEY_RULE,
                firewall.blocked_requests(UNKNOWN_KEY_RULE, _PERIOD),
                threshold=config.firewall_unknown_key_alarm_threshold,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description="The firewall refused webhook requests whose key is no value its "
                "key-prefix set admits: an SNS subscription still using a webhook key that "
                "left the set (revoked or expired and pushed out by newer keys, or marked "
                "leaked) - SNS drops those messages - or someone sending made-up keys. The "
                "authorizer never sees these, so no workflow's log shows them "
                "(docs/deploy.md, The key-prefix set).",
            )
        self._alarm(
            "ReconcilerWorkFound",
            reconciler_work,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            description="The reconciler had to start claims or settle runs: executions failed "
            "to start on delivery, or status events went missing.",
        )
        for workflow_id, machine in state_machines.items():
            failed = cloudwatch.MathExpression(
                expression="FILL(failed, 0) + FILL(timedOut, 0)",
                using_metrics={
                    "failed": machine.metric_failed(period=_PERIOD),
                    "timedOut": machine.metric_timed_out(period=_PERIOD),
                },
                label=f"{workflow_id}: failed or timed-out executions",
                period=_PERIOD,
            )
            self._alarm(
                f"ExecutionsFailed-{workflow_id}",
                failed,
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description=f"Executions of workflow {workflow_id} failed or timed out.",
            )
            self._alarm(
                f"NotificationsRefused-{workflow_id}",
                self.workflow_metric(REFUSED_NOTIFICATIONS_METRIC, workflow_id),
                threshold=config.refused_notifications_alarm_threshold,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description=f"Notifications for workflow {workflow_id} were refused (SNS sends "
                "notifications only on a confirmed subscription): a revoked or rotated key, a "
                "topic no longer allowed, a signature that does not verify. SNS drops a "
                "refused message for good. See: snsflow deliveries "
                f"{workflow_id} --refused.",
            )
        for name, function in functions.items():
            self._alarm(
                f"FunctionErrors-{name}",
                function.metric_errors(period=_PERIOD, statistic="Sum"),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                description=f"The {name} function failed (unhandled errors or timeouts).",
            )
        failed_event_counts = {
            name: queue.metric_approximate_number_of_messages_visible(
                period=_PERIOD, statistic="Maximum"
            )
            for name, queue in failed_events.items()
        }
        for name, count in failed_event_counts.items():
            self._alarm(
                f"FailedEvents-{name}",
                count,
                threshold=0,
                description=f"Events for the {name} function were given up on (EventBridge could "
                "not deliver them, or Lambda's retries failed or they grew too old) and wait in "
                "its failed-events queue: read them there, then delete them (docs/deploy.md).",
            )
        firewall_blocked = (
            [
                firewall.blocked_requests(rule, _PERIOD).with_(label=rule)
                for rule in firewall.rule_metric_names
            ]
            if firewall is not None
            else []
        )
        self._dashboard(
            api,
            denied,
            server_error_rate,
            functions,
            state_machines,
            failed_event_counts,
            firewall_blocked,
        )

    def custom_metric(self, name: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": self._config.stack_name},
            statistic="Sum",
            period=_PERIOD,
        )

    def workflow_metric(self, name: str, workflow_id: str) -> cloudwatch.Metric:
        """A custom metric of one workflow (dimension ``workflowId``, besides ``service``)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": self._config.stack_name, "workflowId": workflow_id},
            statistic="Sum",
            period=_PERIOD,
        )

    def _alarm(
        self,
        id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        ),
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            id,
            alarm_name=f"{self._config.stack_name}-{id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for action in self._actions:
            alarm.add_alarm_action(action)
        self.alarms.append(alarm)

    def _alarm_actions(self, config: StackConfig) -> list[cloudwatch.IAlarmAction]:
        topics: list[sns.ITopic] = []
        if config.alarm_email:
            topic = sns.Topic(
                self,
                "AlarmTopic",
                display_name=f"{config.stack_name} alarms",
                enforce_ssl=True,
            )
            topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
            acknowledge(
                topic,
                "AwsSolutions-SNS2",
                "Alarm notifications carry alarm names and states only; CloudWatch cannot "
                "publish to a topic encrypted with the AWS managed SNS key.",
            )
            topics.append(topic)
        if config.alarm_topic_arn:
            topics.append(
                sns.Topic.from_topic_arn(self, "ExistingAlarmTopic", config.alarm_topic_arn)
            )
        return [cw_actions.SnsAction(topic) for topic in topics]

    def _dashboard(
        self,
        api: apigw.RestApi,
        denied: cloudwatch.IMetric,
        server_error_rate: cloudwatch.IMetric,
        functions: Mapping[FunctionName, lambda_.Function],
        state_machines: Mapping[str, sfn.StateMachine],
        failed_event_counts: Mapping[FunctionName, cloudwatch.Metric],
        firewall_blocked: Sequence[cloudwatch.IMetric],
    ) -> None:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self._config.stack_name)
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24)
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests",
                left=[api.metric_count(period=_PERIOD), denied],
                right=[server_error_rate],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API latency (p99)",
                left=[api.metric_latency(statistic="p99", period=_PERIOD)],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="SNS deliveries",
                left=[self.custom_metric(name) for name in WEBHOOK_METRICS],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function errors",
                left=[f.metric_errors(period=_PERIOD, label=n) for n, f in functions.items()],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Function duration (p99)",
                left=[
                    f.metric_duration(statistic="p99", period=_PERIOD, label=n)
                    for n, f in functions.items()
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Reconciler",
                left=[self.custom_metric(name) for name in RECONCILER_METRICS],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Executions started",
                left=[m.metric_started(period=_PERIOD, label=w) for w, m in state_machines.items()],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Executions succeeded",
                left=[
                    m.metric_succeeded(period=_PERIOD, label=w) for w, m in state_machines.items()
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Executions failed",
                left=[m.metric_failed(period=_PERIOD, label=w) for w, m in state_machines.items()],
                width=8,
            ),
        )
        firewall_widgets = (
            [
                cloudwatch.GraphWidget(
                    title="Requests the firewall blocked, by rule",
                    left=list(firewall_blocked),
                    width=8,
                )
            ]
            if firewall_blocked
            else []
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Failed events waiting (status, reconciler)",
                left=[count.with_(label=n) for n, count in failed_event_counts.items()],
                width=8,
            ),
            *firewall_widgets,
        )
