"""AWS WAF in front of the API: refuses oversized request bodies before anything runs.

WAF can inspect at most the first 64 KB of a body, less than an SNS delivery may carry, so the
rule reads the declared size instead: a POST is let through only with a ``Content-Length`` of
at most ``maxRequestBytes``, matched as a decimal number by a set of anchored patterns. The
webhook enforces the same limit on the body it actually receives.
"""

from __future__ import annotations

import json

from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from snsflow.sns.errors import MessageTooLargeError

#: Quota on regular expressions per WAF regex pattern set.
MAX_PATTERNS = 10
_TOO_LARGE_BODY = "PayloadTooLarge"


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


class RequestSizeFirewall(Construct):
    """A regional web ACL, associated with one API stage, blocking oversized POSTs with 413."""

    def __init__(
        self, scope: Construct, id: str, *, stage_arn: str, max_request_bytes: int, name: str
    ) -> None:
        super().__init__(scope, id)
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
        no_transformation = [wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")]
        is_post = wafv2.CfnWebACL.StatementProperty(
            byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(method={}),
                positional_constraint="EXACTLY",
                search_string="POST",
                text_transformations=no_transformation,
            )
        )
        # A missing Content-Length matches no pattern either, so it is refused too.
        declared_size_allowed = wafv2.CfnWebACL.StatementProperty(
            regex_pattern_set_reference_statement=wafv2.CfnWebACL.RegexPatternSetReferenceStatementProperty(
                arn=allowed_lengths.attr_arn,
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    single_header={"Name": "content-length"}
                ),
                text_transformations=no_transformation,
            )
        )
        # The same error as the webhook's for a body over the same limit.
        too_large = MessageTooLargeError(
            f"The request body must be at most {max_request_bytes} bytes, with a Content-Length."
        )
        web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            description="snsflow: refuses oversized request bodies",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"{name}-waf"),
            custom_response_bodies={
                _TOO_LARGE_BODY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON", content=json.dumps(too_large.to_body())
                )
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="RequestBodyTooLarge",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=too_large.http_status,
                                custom_response_body_key=_TOO_LARGE_BODY,
                            )
                        )
                    ),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        and_statement=wafv2.CfnWebACL.AndStatementProperty(
                            statements=[
                                is_post,
                                wafv2.CfnWebACL.StatementProperty(
                                    not_statement=wafv2.CfnWebACL.NotStatementProperty(
                                        statement=declared_size_allowed
                                    )
                                ),
                            ]
                        )
                    ),
                    visibility_config=_visibility(f"{name}-body-too-large"),
                )
            ],
        )
        wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=web_acl.attr_arn
        )
