"""cdk-nag's AwsSolutions pack finds nothing unacknowledged, whatever the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sns as sns

from infra.nag import check_app
from tests.infra.conftest import Synthesized


def _findings(app: Synthesized) -> list[str]:
    return [
        f"{violation['ruleName']} at {construct['constructPath']}: {violation['description']}"
        for violation in app.violations
        for construct in violation["violatingConstructs"]
    ]


@pytest.mark.parametrize("app_fixture", ["default_app", "variant_app"])
def test_aws_solutions_checks_report_no_unacknowledged_finding(
    app_fixture: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(app_fixture)
    plugins = [plugin.name for plugin in synthesized.app.policy_validation_beta1]
    assert plugins == ["AwsSolutions"]
    assert _findings(synthesized) == []
    assert synthesized.synth_error is None


def test_the_checks_fail_synthesis_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    sns.Topic(Stack(app, "Probe"), "UnencryptedTopic")
    check_app(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    assert "AwsSolutions-SNS3" in (tmp_path / "validation-report.json").read_text()
