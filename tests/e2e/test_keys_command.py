"""``snsflow keys`` as a user runs it against the local stack: the installed command, in its own
process, with nothing but the info file (no AWS configuration at all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snsflow.keys import is_well_formed
from snsflow.local.stack import LocalStack
from tests.e2e.conftest import DEADLINE_SECONDS

pytestmark = pytest.mark.e2e

SNSFLOW = Path(sys.executable).with_name("snsflow")


def _snsflow(*argv: str) -> subprocess.CompletedProcess[str]:
    # Nothing of the developer's AWS configuration or snsflow settings: the info file is all.
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SNSFLOW_"))
    }
    return subprocess.run(
        [str(SNSFLOW), *argv],
        env=environment,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS * 2,
        check=False,
    )


def test_keys_are_managed_in_the_local_stack_with_its_info_file(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    info_file = tmp_path / "local.json"
    local_stack.write_info_file(info_file)

    created = _snsflow(
        "keys", "create", "e2e-reader", "--scope", "read", "--info-file", str(info_file)
    )
    listed = _snsflow("keys", "list", "--json", "--info-file", str(info_file))

    assert created.returncode == 0, created.stderr
    assert is_well_formed(created.stdout.strip())
    assert listed.returncode == 0, listed.stderr
    keys = {key["name"]: key for key in json.loads(listed.stdout)}
    assert keys["e2e-reader"]["scope"] == "read"
    assert {"prod-sns", "local-read"} <= set(keys)  # the ones the local stack made


def test_keys_without_any_target_say_what_to_pass() -> None:
    result = _snsflow("keys", "list")

    assert result.returncode == 2
    assert result.stderr.startswith("snsflow keys: error: no keys table: pass ")
    assert result.stderr.count("\n") == 1
    for option in ("--stack NAME", "--info-file FILE", "--table NAME"):
        assert option in result.stderr
    assert "region" not in result.stderr
