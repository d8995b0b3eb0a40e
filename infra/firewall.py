"""AWS WAF in front of the API: refuses oversized request bodies and webhook floods before
anything runs.

**Body size.** WAF can inspect at most the first 64 KB of a body, less than an SNS delivery may
carry, so the rule reads the declared size instead: a POST is let through only with a
``Content-Length`` of at most ``maxRequestBytes``, matched as a decimal number by a set of
anchored patterns. The webhook enforces the same limit on the body it actually receives.

**Floods.** The rules of :func:`snsflow.firewall.firewall_rules` — the same the local gateway
applies — rendered into WAF statements: a webhook request without a key, with no well-formed
key, or with no key the key-prefix set admits is refused with the authorizer's own answer, and
a source sending more webhook requests than the stage serves in a minute gets a 503. The
key-prefix set is created open (:data:`snsflow.firewall.OPEN_PATTERNS`); ``snsflow keys`` keeps
its content from then on, so the template's list must never change, or CloudFormation would
put it back to open on the next deploy (``snsflow keys sync-firewall`` closes it again).
"""

from __future__ import annotations

import json
import re

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StackConfig
from snsflow.authorization import API_KEY_PARAMETER
from snsflow.errors import SnsflowError
from snsflow.firewall import (
    KEY_PREFIX_SET_DESCRIPTION,
    MAX_PATTERNS_PER_SET,
    OPEN_PATTERNS,
    AllOf,
    AnyOf,
    ApiKeyInPrefixSet,
    ApiKeyMatches,
    Block,
    MatchRule,
    MethodIs,
    Not,
    PathMatches,
    Rule,
    Statement,
    firewall_rules,
)
from snsflow.sns.errors import MessageTooLargeError

#: Quota on regular expressions per WAF regex pattern set.
MAX_PATTERNS = MAX_PATTERNS_PER_SET
_TOO_LARGE_BODY = "PayloadTooLarge"
BODY_SIZE_RULE = "RequestBodyTooLarge"

_Statement = wafv2.CfnWebACL.StatementProperty
_NO_TRANSFORMATION = [wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")]
#: Query arguments reach the authorizer URL-decoded (API Gateway decodes them); WAF sees them raw.
_URL_DECODE = [wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="URL_DECODE")]
#: Header names and query argument names are matched in any case by WAF.
_KEY_FIELDS = (
    (
        wafv2.CfnWebACL.FieldToMatchProperty(single_header={"Name": API_KEY_PARAMETER}),
        _NO_TRANSFORMATION,
    ),
    (
        wafv2.CfnWebACL.FieldToMatchProperty(single_query_argument={"Name": API_KEY_PARAMETER}),
        _URL_DECODE,
    ),
)


def decimal_at_most_patterns(limit: int) -> list[str]:
    """Anchored regular expressions that, between them, match the decimals from 0 to ``limit``.

    Without alternation groups (WAF's regex dialect is limited): one pattern for every
    shorter number, one per digit of ``limit`` that can be lowered, and ``limit`` itself.
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
    digits = str(limit)
    width = len(digits)
    patterns = [f"^[0-9]{{1,{width - 1}}}$"] if width > 1 else []
    for position, digit in enumerate(map(int, digits)):
        lowest = 1 if position == 0 and width > 1 else 0  # no leading zero at full width
        if digit <= lowest:
            continue
        choice = str(lowest) if digit - 1 == lowest else f"[{lowest}-{digit - 1}]"
        rest = width - position - 1
        tail = f"[0-9]{{{rest}}}" if rest else ""
        patterns.append(f"^{digits[:position]}{choice}{tail}$")
    patterns.append(f"^{digits}$")
    return patterns


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _either(statements: list[_Statement]) -> _Statement:
    return _Statement(or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=statements))


def render_statement(statement: Statement, key_prefix_set_arn: str | None) -> _Statement:
    """One statement of the rule model as WAF's (nested AllOf are flattened)."""
    match statement:
        case MethodIs(method):
            return _Statement(
                byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(method={}),
                    positional_constraint="EXACTLY",
                    search_string=method,
                    text_transformations=_NO_TRANSFORMATION,
                )
            )
        case PathMatches(pattern):
            return _Statement(
                regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                    field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                    regex_string=pattern,
                    text_transformations=_NO_TRANSFORMATION,
                )
            )
        case ApiKeyMatches(pattern):
            return _either(
                [
                    _Statement(
                        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                            field_to_match=field,
                            regex_string=pattern,
                            text_transformations=transformations,
                        )
                    )
                    for field, transformations in _KEY_FIELDS
                ]
            )
        case ApiKeyInPrefixSet():
            if key_prefix_set_arn is None:
                raise ValueError("a rule reads the key-prefix set, but there is none")
            return _either(
                [
                    _Statement(
                        regex_pattern_set_reference_statement=wafv2.CfnWebACL.RegexPatternSetReferenceStatementProperty(
                            arn=key_prefix_set_arn,
                            field_to_match=field,
                            text_transformations=transformations,
                        )
                    )
                    for field, transformations in _KEY_FIELDS
                ]
            )
        case AllOf(statements):
            flat: list[Statement] = []
            for inner in statements:
                flat.extend(inner.statements if isinstance(inner, AllOf) else [inner])
            return _Statement(
                and_statement=wafv2.CfnWebACL.AndStatementProperty(
                    statements=[render_statement(s, key_prefix_set_arn) for s in flat]
                )
            )
        case AnyOf(statements):
            return _either([render_statement(s, key_prefix_set_arn) for s in statements])
        case Not(inner):
            return _Statement(
                not_statement=wafv2.CfnWebACL.NotStatementProperty(
                    statement=render_statement(inner, key_prefix_set_arn)
                )
            )


def body_key(error: SnsflowError) -> str:
    """The name of an error's custom response body: its code in CamelCase."""
    return "".join(part.capitalize() for part in error.code.split("_"))


def _block(block: Block) -> wafv2.CfnWebACL.RuleActionProperty:
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=block.status, custom_response_body_key=body_key(block.error)
            )
        )
    )


def _metric_name(stack_name: str, rule_name: str) -> str:
    return f"{stack_name}-" + re.sub(r"(?<!^)(?=[A-Z])", "-", rule_name).lower()


def render_rule(
    rule: Rule, priority: int, stack_name: str, key_prefix_set_arn: str | None
) -> wafv2.CfnWebACL.RuleProperty:
    if isinstance(rule, MatchRule):
        statement = render_statement(rule.statement, key_prefix_set_arn)
    else:
        statement = _Statement(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP",
                limit=rule.limit,
                evaluation_window_sec=rule.window_seconds,
                scope_down_statement=render_statement(rule.scope, key_prefix_set_arn),
            )
        )
    return wafv2.CfnWebACL.RuleProperty(
        name=rule.name,
        priority=priority,
        action=_block(rule.block),
        statement=statement,
        visibility_config=_visibility(_metric_name(stack_name, rule.name)),
    )


class Firewall(Construct):
    """A regional web ACL, associated with one API stage: the body-size rule first, then the
    webhook's flood rules; and the key-prefix set those read (``key_prefix_set``, when the
    gate is on)."""

    def __init__(
        self, scope: Construct, id: str, *, stage_arn: str, config: StackConfig, name: str
    ) -> None:
        super().__init__(scope, id)
        max_request_bytes = config.max_request_bytes
        patterns = decimal_at_most_patterns(max_request_bytes)
        if len(patterns) > MAX_PATTERNS:
            raise ValueError(f"{max_request_bytes} needs more than {MAX_PATTERNS} patterns")
        allowed_lengths = wafv2.CfnRegexPatternSet(
            self,
            "AllowedContentLengths",
            scope="REGIONAL",
            description=f"Content-Length values from 0 to {max_request_bytes}",
            regular_expression_list=patterns,
        )
        self.key_prefix_set: wafv2.CfnRegexPatternSet | None = None
        if config.key_prefix_gate:
            self.key_prefix_set = wafv2.CfnRegexPatternSet(
                self,
                "WebhookKeyPrefixes",
                scope="REGIONAL",
                description=KEY_PREFIX_SET_DESCRIPTION,
                # Never change this list: see the module's docstring.
                regular_expression_list=list(OPEN_PATTERNS),
            )
        key_prefix_set_arn = self.key_prefix_set.attr_arn if self.key_prefix_set else None
        is_post = MethodIs("POST")
        # A missing Content-Length matches no pattern either, so it is refused too.
        declared_size_allowed = _Statement(
            regex_pattern_set_reference_statement=wafv2.CfnWebACL.RegexPatternSetReferenceStatementProperty(
                arn=allowed_lengths.attr_arn,
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    single_header={"Name": "content-length"}
                ),
                text_transformations=_NO_TRANSFORMATION,
            )
        )
        # The same error as the webhook's for a body over the same limit.
        too_large = MessageTooLargeError(
            f"The request body must be at most {max_request_bytes} bytes, with a Content-Length."
        )
        flood_rules = firewall_rules(config.firewall_settings)
        #: Rule name -> the name of its CloudWatch metric, in evaluation order.
        self.rule_metric_names = {
            BODY_SIZE_RULE: _metric_name(name, "BodyTooLarge"),
            **{rule.name: _metric_name(name, rule.name) for rule in flood_rules},
        }
        bodies = {_TOO_LARGE_BODY: json.dumps(too_large.to_body())}
        for rule in flood_rules:
            body = json.dumps(rule.block.error.to_body())
            if bodies.setdefault(body_key(rule.block.error), body) != body:
                raise ValueError(f"two rules answer {rule.block.error.code} differently")
        self.web_acl = web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            description="snsflow: refuses oversized request bodies and webhook floods",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"{name}-waf"),
            custom_response_bodies={
                key: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=content
                )
                for key, content in bodies.items()
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=BODY_SIZE_RULE,
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=too_large.http_status,
                                custom_response_body_key=_TOO_LARGE_BODY,
                            )
                        )
                    ),
                    statement=_Statement(
                        and_statement=wafv2.CfnWebACL.AndStatementProperty(
                            statements=[
                                render_statement(is_post, None),
                                _Statement(
                                    not_statement=wafv2.CfnWebACL.NotStatementProperty(
                                        statement=declared_size_allowed
                                    )
                                ),
                            ]
                        )
                    ),
                    visibility_config=_visibility(self.rule_metric_names[BODY_SIZE_RULE]),
                ),
                *(
                    render_rule(rule, priority, name, key_prefix_set_arn)
                    for priority, rule in enumerate(flood_rules, start=1)
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=web_acl.attr_arn
        )

    def blocked_requests(self, rule_name: str, period: Duration) -> cloudwatch.Metric:
        """WAF's count of the requests ``rule_name`` blocked: ``BlockedRequests`` in
        ``AWS/WAFV2``, whose dimensions for a regional web ACL's rule are the web ACL's name,
        the rule's metric name and the Region."""
        return cloudwatch.Metric(
            namespace="AWS/WAFV2",
            metric_name="BlockedRequests",
            dimensions_map={
                "WebACL": self.web_acl.web_acl_ref.web_acl_name,
                "Rule": self.rule_metric_names[rule_name],
                "Region": Stack.of(self).region,
            },
            statistic="Sum",
            period=period,
        )
