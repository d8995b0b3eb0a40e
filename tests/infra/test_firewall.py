"""The web ACL's flood rules as synthesized: each rule's statements, fields, transformations,
scope-down, aggregation and limits, its custom response, the key-prefix set and its output —
and, read back by a small interpreter of WAF statements, that they decide every request as the
local gateway's firewall does (one definition, ``snsflow.firewall``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snsflow.cli.keys import KEY_PREFIX_SET_OUTPUT
from snsflow.firewall import (
    ANY_VALUE,
    KEY_PREFIX_SET_DESCRIPTION,
    OPEN_PATTERNS,
    WEBHOOK_PATH,
    WELL_FORMED_KEY,
    Firewall,
    FirewallSettings,
    InspectedRequest,
    firewall_rules,
    key_prefix_pattern,
)
from snsflow.keys import KeyScope, issue_key
from snsflow.local.gateway import _query_pairs
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.templates import render

FLOOD_RULES = [
    "WebhookWithoutKey",
    "WebhookMalformedKey",
    "WebhookUnknownKey",
    "WebhookSourceFlood",
]


@pytest.fixture(scope="module")
def gateless_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's app without the key-prefix gate and with its own per-source limit."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-gateless"), keyPrefixGate="false", sourceIpLimit=500
    )


@pytest.fixture(scope="module")
def watchful_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's app with its own threshold for the unknown-key alarm, as ``-c`` passes it."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-watchful"), firewallUnknownKeyAlarmThreshold="25"
    )


def _acl(app: Synthesized) -> dict[str, Any]:
    (acl,) = app.resources("AWS::WAFv2::WebACL").values()
    return dict(acl["Properties"])


def _rules(app: Synthesized) -> dict[str, dict[str, Any]]:
    return {rule["Name"]: rule for rule in _acl(app)["Rules"]}


def _regex(field: str, pattern: str) -> dict[str, Any]:
    if field == "header":
        return {
            "RegexMatchStatement": {
                "FieldToMatch": {"SingleHeader": {"Name": "x-api-key"}},
                "RegexString": pattern,
                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            }
        }
    return {
        "RegexMatchStatement": {
            "FieldToMatch": {"SingleQueryArgument": {"Name": "x-api-key"}},
            "RegexString": pattern,
            "TextTransformations": [{"Priority": 0, "Type": "URL_DECODE"}],
        }
    }


WEBHOOK_REQUEST = [
    {
        "ByteMatchStatement": {
            "FieldToMatch": {"Method": {}},
            "PositionalConstraint": "EXACTLY",
            "SearchString": "POST",
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
        }
    },
    {
        "RegexMatchStatement": {
            "FieldToMatch": {"UriPath": {}},
            "RegexString": WEBHOOK_PATH,
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
        }
    },
]


def _body(app: Synthesized, rule: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = rule["Action"]["Block"]["CustomResponse"]
    body = _acl(app)["CustomResponseBodies"][response["CustomResponseBodyKey"]]
    assert body["ContentType"] == "APPLICATION_JSON"
    return response["ResponseCode"], json.loads(body["Content"])


def test_the_flood_rules_follow_the_body_size_rule_in_the_models_order(
    default_app: Synthesized,
) -> None:
    rules = sorted(_acl(default_app)["Rules"], key=lambda rule: rule["Priority"])

    assert [rule["Name"] for rule in rules] == ["RequestBodyTooLarge", *FLOOD_RULES]
    assert [rule["Priority"] for rule in rules] == [0, 1, 2, 3, 4]
    assert {rule["VisibilityConfig"]["MetricName"] for rule in rules[1:]} == {
        "snsflow-webhook-without-key",
        "snsflow-webhook-malformed-key",
        "snsflow-webhook-unknown-key",
        "snsflow-webhook-source-flood",
    }
    assert all(rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] for rule in rules)


def test_a_webhook_request_without_a_key_gets_the_authorizers_401(
    default_app: Synthesized,
) -> None:
    rule = _rules(default_app)["WebhookWithoutKey"]

    assert rule["Statement"] == {
        "AndStatement": {
            "Statements": [
                *WEBHOOK_REQUEST,
                {
                    "NotStatement": {
                        "Statement": {
                            "OrStatement": {
                                "Statements": [
                                    _regex("header", ANY_VALUE),
                                    _regex("query", ANY_VALUE),
                                ]
                            }
                        }
                    }
                },
            ]
        }
    }
    assert _body(default_app, rule) == (
        401,
        {
            "error": {
                "code": "missing_api_key",
                "message": "an API key is required: pass it in the x-api-key query parameter "
                "or header",
            }
        },
    )


def test_a_webhook_request_with_no_well_formed_key_gets_a_403(default_app: Synthesized) -> None:
    rule = _rules(default_app)["WebhookMalformedKey"]

    (method, path, refused) = rule["Statement"]["AndStatement"]["Statements"]
    assert [method, path] == WEBHOOK_REQUEST
    assert refused["NotStatement"]["Statement"]["OrStatement"]["Statements"] == [
        _regex("header", WELL_FORMED_KEY),
        _regex("query", WELL_FORMED_KEY),
    ]
    assert _body(default_app, rule) == (
        403,
        {"error": {"code": "invalid_api_key", "message": "the API key is not valid"}},
    )


def test_a_key_the_prefix_set_does_not_admit_gets_a_403(default_app: Synthesized) -> None:
    rule = _rules(default_app)["WebhookUnknownKey"]
    set_id, _ = default_app.firewall_resource("WebhookKeyPrefixes")

    (method, path, refused) = rule["Statement"]["AndStatement"]["Statements"]
    assert [method, path] == WEBHOOK_REQUEST
    references = refused["NotStatement"]["Statement"]["OrStatement"]["Statements"]
    assert render(references) == [
        {
            "RegexPatternSetReferenceStatement": {
                "Arn": f"<{set_id}.Arn>",
                "FieldToMatch": {"SingleHeader": {"Name": "x-api-key"}},
                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            }
        },
        {
            "RegexPatternSetReferenceStatement": {
                "Arn": f"<{set_id}.Arn>",
                "FieldToMatch": {"SingleQueryArgument": {"Name": "x-api-key"}},
                "TextTransformations": [{"Priority": 0, "Type": "URL_DECODE"}],
            }
        },
    ]
    assert _body(default_app, rule)[0] == 403
    assert _body(default_app, rule) == _body(
        default_app, _rules(default_app)["WebhookMalformedKey"]
    )


def test_a_source_flooding_the_webhook_is_answered_503_so_sns_retries(
    default_app: Synthesized,
) -> None:
    rule = _rules(default_app)["WebhookSourceFlood"]

    assert rule["Statement"] == {
        "RateBasedStatement": {
            "AggregateKeyType": "IP",
            "EvaluationWindowSec": 60,
            # What the stage serves in a minute: throttleRateLimit (100) x 60 s.
            "Limit": 6000,
            "ScopeDownStatement": {"AndStatement": {"Statements": WEBHOOK_REQUEST}},
        }
    }
    status, body = _body(default_app, rule)
    assert (status, body["error"]["code"]) == (503, "dependency_unavailable")


def test_the_key_prefix_set_is_created_open_and_named_by_an_output(
    default_app: Synthesized,
) -> None:
    set_id, prefix_set = default_app.firewall_resource("WebhookKeyPrefixes")

    assert prefix_set["Properties"] == {
        "Scope": "REGIONAL",
        "Description": KEY_PREFIX_SET_DESCRIPTION,
        "RegularExpressionList": list(OPEN_PATTERNS),
    }
    output = default_app.template["Outputs"][KEY_PREFIX_SET_OUTPUT]
    assert render(output["Value"]) == f"<{set_id}.Arn>"


def test_without_the_gate_there_is_no_set_no_unknown_key_rule_and_no_output(
    gateless_app: Synthesized,
) -> None:
    rules = _rules(gateless_app)

    assert sorted(rules) == sorted(["RequestBodyTooLarge", *FLOOD_RULES[:2], FLOOD_RULES[3]])
    assert len(gateless_app.resources("AWS::WAFv2::RegexPatternSet")) == 1  # content lengths
    assert KEY_PREFIX_SET_OUTPUT not in gateless_app.template["Outputs"]
    assert rules["WebhookSourceFlood"]["Statement"]["RateBasedStatement"]["Limit"] == 500
    assert gateless_app.violations == []


def test_without_waf_there_is_no_firewall_and_no_set(variant_app: Synthesized) -> None:
    assert variant_app.resources("AWS::WAFv2::WebACL") == {}
    assert variant_app.resources("AWS::WAFv2::RegexPatternSet") == {}
    assert KEY_PREFIX_SET_OUTPUT not in variant_app.template["Outputs"]
    assert _firewall_alarms(variant_app) == []
    assert "AWS/WAFV2" not in _dashboard(variant_app)


# -- what the firewall refuses is heard of ------------------------------------------------------


def _firewall_alarms(app: Synthesized) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in app.resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Namespace") == "AWS/WAFV2"
    ]


def _dashboard(app: Synthesized) -> str:
    (dashboard,) = app.resources("AWS::CloudWatch::Dashboard").values()
    return json.dumps(render(dashboard["Properties"]["DashboardBody"]))


def _web_acl_name(app: Synthesized) -> dict[str, Any]:
    """The web ACL's name, as CloudFormation gives it: the first part of its ``Ref``."""
    (acl_id,) = app.resources("AWS::WAFv2::WebACL")
    return {"Fn::Select": [0, {"Fn::Split": ["|", {"Ref": acl_id}]}]}


@pytest.mark.parametrize(("app_name", "threshold"), [("default_app", 1), ("watchful_app", 25)])
def test_keys_refused_by_the_prefix_set_raise_one_alarm_per_stack(
    request: pytest.FixtureRequest, app_name: str, threshold: int
) -> None:
    app: Synthesized = request.getfixturevalue(app_name)
    metric_name = _rules(app)["WebhookUnknownKey"]["VisibilityConfig"]["MetricName"]

    (alarm,) = _firewall_alarms(app)

    assert alarm["AlarmName"] == "snsflow-WebhookUnknownKey"
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
        "BlockedRequests",
        "Sum",
        300,
    )
    assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": "Region", "Value": {"Ref": "AWS::Region"}},
        {"Name": "Rule", "Value": metric_name},
        {"Name": "WebACL", "Value": _web_acl_name(app)},
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "GreaterThanOrEqualToThreshold",
        threshold,
    )
    assert (alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (1, "notBreaching")
    assert "pushed out" in alarm["AlarmDescription"]
    assert app.violations == []


def test_the_dashboard_shows_what_each_firewall_rule_blocked(default_app: Synthesized) -> None:
    (dashboard,) = default_app.resources("AWS::CloudWatch::Dashboard").values()
    widgets = json.loads(render(dashboard["Properties"]["DashboardBody"]))["widgets"]

    (blocked,) = [
        widget["properties"]["metrics"]
        for widget in widgets
        if widget["properties"].get("title") == "Requests the firewall blocked, by rule"
    ]

    rules = sorted(_acl(default_app)["Rules"], key=lambda rule: rule["Priority"])
    assert [(line[:2], line[5], line[-1]["label"]) for line in blocked] == [
        (["AWS/WAFV2", "BlockedRequests"], rule["VisibilityConfig"]["MetricName"], rule["Name"])
        for rule in rules
    ]


def test_without_the_gate_no_alarm_but_the_other_rules_still_show(
    gateless_app: Synthesized,
) -> None:
    body = _dashboard(gateless_app)

    assert _firewall_alarms(gateless_app) == []
    assert "webhook-without-key" in body
    assert "webhook-unknown-key" not in body


def test_the_stage_throttle_applies_to_every_method(default_app: Synthesized) -> None:
    (stage,) = default_app.resources("AWS::ApiGateway::Stage").values()

    (settings_,) = stage["Properties"]["MethodSettings"]
    assert (settings_["HttpMethod"], settings_["ResourcePath"]) == ("*", "/*")
    assert (settings_["ThrottlingRateLimit"], settings_["ThrottlingBurstLimit"]) == (100, 200)


# -- the synthesized rules decide as the local firewall -----------------------------------------


class WafInterpreter:
    """Reads WAF statements as AWS documents them, for the parts these rules use: byte and
    regex matches on the method, URI path, one header (name in any case) and one query
    argument (name in any case, transformations NONE or URL_DECODE), regex pattern set
    references, and AND/OR/NOT. Rate-based rules are not counted (never over their limit)."""

    def __init__(self, acl: dict[str, Any], pattern_sets: dict[str, Sequence[str]]) -> None:
        self._rules = sorted(render(acl["Rules"]), key=lambda rule: rule["Priority"])
        self._sets = pattern_sets

    def first_block(self, request: dict[str, Any]) -> str | None:
        for rule in self._rules:
            if "RateBasedStatement" not in rule["Statement"] and self._matches(
                rule["Statement"], request
            ):
                return str(rule["Name"])
        return None

    def _values(self, field: dict[str, Any], request: dict[str, Any]) -> Iterator[str]:
        if "Method" in field:
            yield request["method"]
        elif "UriPath" in field:
            yield request["path"]
        elif "SingleHeader" in field:
            name = field["SingleHeader"]["Name"].lower()
            yield from (v for n, v in request["headers"] if n.lower() == name)
        else:
            name = field["SingleQueryArgument"]["Name"].lower()
            yield from (v for n, v in request["raw_query"] if n.lower() == name)

    def _transformed(self, statement: dict[str, Any], request: dict[str, Any]) -> list[str]:
        (transformation,) = statement["TextTransformations"]
        values = list(self._values(statement["FieldToMatch"], request))
        if transformation["Type"] == "URL_DECODE":
            return [unquote(v) for v in values]
        assert transformation["Type"] == "NONE"
        return values

    def _matches(self, statement: dict[str, Any], request: dict[str, Any]) -> bool:
        ((kind, body),) = statement.items()
        if kind == "AndStatement":
            return all(self._matches(s, request) for s in body["Statements"])
        if kind == "OrStatement":
            return any(self._matches(s, request) for s in body["Statements"])
        if kind == "NotStatement":
            return not self._matches(body["Statement"], request)
        values = self._transformed(body, request)
        if kind == "ByteMatchStatement":
            assert body["PositionalConstraint"] == "EXACTLY"
            return body["SearchString"] in values
        if kind == "RegexMatchStatement":
            return any(re.search(body["RegexString"], v) for v in values)
        assert kind == "RegexPatternSetReferenceStatement", kind
        patterns = self._sets[body["Arn"]]
        return any(re.search(p, v) for p in patterns for v in values)


KNOWN = issue_key("prod-sns", KeyScope.WEBHOOK, datetime(2026, 11, 28, tzinfo=UTC))
KNOWN_VALUE = KNOWN.value.get_secret_value()
ADMITTED = (key_prefix_pattern(KNOWN.key.display_prefix),)
KEY_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

key_values = st.one_of(
    st.just(KNOWN_VALUE),
    st.just(quote(KNOWN_VALUE, safe="")),
    st.just(KNOWN_VALUE.replace("s", "%73", 1)),
    st.text(alphabet=KEY_CHARACTERS, min_size=43, max_size=43).map(lambda t: "snsf_" + t),
    st.text(alphabet=KEY_CHARACTERS, min_size=35, max_size=35).map(
        lambda t: KNOWN.key.display_prefix + t
    ),
    st.sampled_from(["", " ", "snsf_", "not-a-key", KNOWN_VALUE + "x", KNOWN_VALUE[:-1]]),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="&=#"), max_size=50),
)
names = st.sampled_from(["x-api-key", "X-Api-Key", "X-API-KEY", "api-key"])


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    headers = [("Content-Length", "2")]
    if draw(st.booleans()):
        headers.append((draw(names), draw(key_values)))
    raw_query = []
    for _ in range(draw(st.integers(0, 2))):
        raw_query.append((draw(names), draw(key_values)))
    return {
        "method": draw(st.sampled_from(["POST", "GET", "PUT"])),
        "path": draw(
            st.sampled_from(
                ["/webhooks/order-events", "/v1/webhooks/x", "/workflows", "/", "/webhooks/a/b"]
            )
        ),
        "headers": headers,
        "raw_query": raw_query,
    }


@pytest.fixture(scope="module")
def waf(default_app: Synthesized) -> WafInterpreter:
    """The synthesized web ACL, its content-length set as synthesized and its key-prefix set
    admitting one key."""
    lengths_id, lengths = default_app.firewall_resource("AllowedContentLengths")
    prefixes_id, _ = default_app.firewall_resource("WebhookKeyPrefixes")
    return WafInterpreter(
        _acl(default_app),
        {
            f"<{lengths_id}.Arn>": lengths["Properties"]["RegularExpressionList"],
            f"<{prefixes_id}.Arn>": ADMITTED,
        },
    )


@settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300, deadline=None
)
@given(request_=requests())
def test_the_synthesized_rules_decide_every_request_as_the_local_firewall(
    waf: WafInterpreter, request_: dict[str, Any]
) -> None:
    local = Firewall(firewall_rules(FirewallSettings()), lambda: ADMITTED)
    raw = "&".join(f"{name}={value}" for name, value in request_["raw_query"])

    verdict = local.inspect(
        InspectedRequest(
            request_["method"],
            request_["path"],
            request_["headers"],
            _query_pairs(raw),
            "192.0.2.1",
        )
    )

    assert waf.first_block(request_) == (verdict[0] if verdict else None)
