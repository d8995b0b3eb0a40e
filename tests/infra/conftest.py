"""Synthesized snsflow apps, shared per session: synthesis is the slow part (jsii), so each
configuration is synthesized once and every test reads the same template.

Bundling is skipped (``aws:cdk:bundling-stacks = []``): no pip, no network, no Docker.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii prints a banner about the machine's Node version on every start; it changes nothing.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, CfnElement  # after the environment above: jsii starts on import

from app import build_app
from infra.config import PROJECT_ROOT
from infra.stack import SnsflowStack

FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synthesized:
    app: App
    stack: SnsflowStack
    template: dict[str, Any]
    #: CDK's policy validation report: cdk-nag's findings that were not acknowledged.
    violations: list[dict[str, Any]]
    synth_error: str | None

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == type_
        }

    def logical_id(self, construct: Any) -> str:
        """The logical id of an L2 construct's main resource."""
        return str(self.stack.get_logical_id(construct.node.default_child))

    def firewall_resource(self, child: str) -> tuple[str, dict[str, Any]]:
        """Logical id and resource of one of the firewall construct's L1 children."""
        assert self.stack.firewall is not None, "this app has no firewall"
        element = self.stack.firewall.node.find_child(child)
        assert isinstance(element, CfnElement)
        logical_id = str(self.stack.get_logical_id(element))
        return logical_id, self.template["Resources"][logical_id]


def synthesize(outdir: Path, **context: Any) -> Synthesized:
    """Synthesize the app as ``cdk synth`` would (cdk.json context, cdk-nag on, each resource's
    construct path in its metadata), offline."""
    app = App(
        context={
            **CDK_JSON_CONTEXT,
            "aws:cdk:bundling-stacks": [],
            "aws:cdk:enable-path-metadata": True,
            **context,
        },
        outdir=str(outdir),
    )
    _, stack = build_app(app)
    synth_error = None
    try:
        app.synth()
    except RuntimeError as error:  # policy validation failed; the template is still written
        if "ValidationFailed" not in str(error):
            raise
        synth_error = str(error)
    template = json.loads((outdir / stack.template_file).read_text())
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    violations = [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    return Synthesized(app, stack, template, violations, synth_error)


@pytest.fixture(scope="session")
def default_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app exactly as cdk.json configures it, with the repository's workflows."""
    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def variant_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Every non-default setting at once: another workflow folder (three workflows, one of them
    EXPRESS), x86_64, no deletion protection, no WAF, no reserved concurrency, alarm e-mails,
    shorter retention, provisioned capacity for the busy tables."""
    return synthesize(
        tmp_path_factory.mktemp("cdk-variant"),
        stackName="snsflow-variant",
        workflowsDir=str(FIXTURES / "workflows-three"),
        architecture="x86_64",
        deletionProtection="false",  # as `cdk deploy -c deletionProtection=false` passes it
        wafEnabled=False,
        reservedConcurrency="false",  # as `cdk deploy -c reservedConcurrency=false` passes it
        alarmEmail="ops@example.com",
        retentionDays=7,
        logRetentionDays=14,
        logLevel="DEBUG",
        reconcileEveryMinutes=10,
        tableCapacity="provisioned",
        provisionedMinWriteCapacity="10",  # strings, as `cdk deploy -c key=value` passes them
        provisionedMaxWriteCapacity="6000",
        provisionedMinReadCapacity="2",
        provisionedMaxReadCapacity="300",
        provisionedTargetUtilization="60",
    )
