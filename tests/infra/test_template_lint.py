"""cfn-lint finds nothing in the templates of either configuration (`make lint-template` lints
the one `make synth` writes). The rules it skips, and why, are in .cfnlintrc.yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import PROJECT_ROOT
from tests.infra.conftest import Synthesized

#: The console script of the pinned cfn-lint, installed beside this interpreter.
CFN_LINT = Path(sys.executable).with_name("cfn-lint")


def _cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    # Run from the repository root, where cfn-lint reads .cfnlintrc.yaml.
    return subprocess.run(
        [str(CFN_LINT), str(template)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("app_fixture", ["default_app", "variant_app"])
def test_cfn_lint_reports_nothing(
    app_fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    synthesized: Synthesized = request.getfixturevalue(app_fixture)
    template = tmp_path / "template.json"
    template.write_text(json.dumps(synthesized.template, indent=1))
    done = _cfn_lint(template)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_cfn_lint_fails_on_a_warning(tmp_path: Path) -> None:
    """The configuration does not silence everything: an unused parameter is a warning."""
    template = tmp_path / "template.json"
    template.write_text(
        '{"Parameters": {"Unused": {"Type": "String"}},'
        ' "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}'
    )
    done = _cfn_lint(template)
    assert done.returncode != 0
    assert "W2001" in done.stdout
