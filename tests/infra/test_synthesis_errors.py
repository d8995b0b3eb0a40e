"""A bad workflow file or setting stops synthesis with a message naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from aws_cdk import App

from app import build_app
from infra.config import PROJECT_ROOT, ConfigError
from snsflow.workflows import WorkflowFileError
from tests.infra.conftest import FIXTURES

MALFORMED = FIXTURES / "workflows-malformed"


def test_a_malformed_workflow_file_fails_synthesis_naming_file_and_field() -> None:
    app = App(context={"workflowsDir": str(MALFORMED), "aws:cdk:bundling-stacks": []})
    with pytest.raises(WorkflowFileError) as failure:
        build_app(app)
    message = str(failure.value)
    assert "broken-type.json" in message
    assert "field 'stateMachine.type'" in message


def test_an_invalid_setting_fails_synthesis_naming_the_context_key() -> None:
    app = App(context={"retentionDays": "forever", "aws:cdk:bundling-stacks": []})
    with pytest.raises(ConfigError, match="context 'retentionDays'"):
        build_app(app)


def test_cdk_synth_of_a_malformed_folder_prints_one_clear_line(tmp_path: object) -> None:
    """What `cdk synth -c workflowsDir=...` shows: the CLI runs app.py with CDK_CONTEXT_JSON."""
    environment = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"workflowsDir": str(MALFORMED)}),
        "CDK_OUTDIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("snsflow:")]
    assert "broken-type.json" in line
    assert "stateMachine.type" in line
