"""``snsflow local serve`` and ``snsflow demo`` as a user runs them: the installed command, in
another directory, in its own process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from snsflow.cli.main import main
from snsflow.cli.stack import ReadApi
from snsflow.local.stack import LocalStack, wait_until
from snsflow.workflows import load_workflows
from tests.e2e.conftest import DEADLINE_SECONDS, http_request

pytestmark = pytest.mark.e2e

SNSFLOW = Path(sys.executable).with_name("snsflow")
EXAMPLE_WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def _run_environment() -> dict[str, str]:
    # Nothing of the developer's AWS configuration: the commands must not need any.
    hidden = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    return {name: value for name, value in os.environ.items() if name not in hidden}


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    info_file = tmp_path / "local.json"
    process = subprocess.Popen(
        [str(SNSFLOW), "local", "serve", "--info-file", str(info_file), "--log-level", "WARNING"],
        cwd=tmp_path,
        env=_run_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process, info_file
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_serve_writes_the_info_file_and_stops_cleanly_on_ctrl_c(
    serving: tuple[subprocess.Popen[str], Path],
) -> None:
    process, info_file = serving
    wait_until(
        lambda: info_file.exists() or process.poll() is not None,
        timeout=DEADLINE_SECONDS,
        what="the info file",
    )
    assert process.poll() is None, process.communicate()
    info = json.loads(info_file.read_text())
    assert stat.S_IMODE(info_file.stat().st_mode) == 0o600
    api = ReadApi(info["apiUrl"], info["keys"][info["readKeyName"]])
    assert {w.id for w in api.workflows().items} == {"audit-log", "order-events"}

    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=DEADLINE_SECONDS)

    assert process.returncode == 0, stderr
    assert "snsflow local stack is running" in stdout
    assert info["apiUrl"] in stdout
    assert not info_file.exists()


def test_info_file_names_every_address_key_and_ready_to_paste_endpoint(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    path = tmp_path / "info.json"

    local_stack.write_info_file(path)

    info = json.loads(path.read_text())
    assert info["apiUrl"] == local_stack.api_url
    assert info["snsEndpoint"] == local_stack.sns_endpoint
    assert info["keyPrefixSetArn"] == local_stack.key_prefix_set_arn
    workflows = load_workflows(EXAMPLE_WORKFLOWS)
    key_names = {w.trigger.api_key_name for w in workflows}
    assert set(info["keys"]) == key_names | {info["readKeyName"], info["operateKeyName"]}
    assert set(info["workflows"]) == {w.id for w in workflows}
    for workflow in workflows:
        entry = info["workflows"][workflow.id]
        assert entry["webhookUrl"] == f"{local_stack.api_url}/webhooks/{workflow.id}"
        assert entry["apiKeyName"] == workflow.trigger.api_key_name
        key = info["keys"][workflow.trigger.api_key_name]
        assert entry["snsEndpoint"] == f"{entry['webhookUrl']}?x-api-key={key}"


@pytest.mark.slow
def test_demo_command_checks_every_step_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SNSFLOW), "demo"],
        cwd=tmp_path,
        env=_run_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "every check passed" in result.stdout
    assert "[FAILED]" not in result.stdout
    assert "A-1004" in result.stdout
    assert "Failed in state 'OrderRejected'." in result.stdout  # its step history


def test_serve_refuses_a_bad_workflow_file_naming_the_file_and_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = Path(__file__).resolve().parents[1] / "fixtures" / "workflows-malformed"

    code = main(["local", "serve", "--workflows", str(folder)])

    assert code == 1
    error = capsys.readouterr().err
    assert "broken-type.json" in error
    assert "stateMachine.type" in error


def test_serve_listens_on_loopback_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["local", "serve", "--host", "0.0.0.0"])

    assert exit_info.value.code == 2
    assert "not a loopback address" in capsys.readouterr().err


def test_a_key_created_then_revoked_with_the_info_file_is_admitted_and_stays_for_the_authorizer(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = tmp_path / "info.json"
    local_stack.write_info_file(info)

    def answer(key: str) -> str | None:
        target = f"/webhooks/order-events?x-api-key={key}"
        return http_request(local_stack.api_url, "POST", target, b"{}").code

    created = main(["keys", "create", "extra-sns", "--info-file", str(info)])
    value = capsys.readouterr().out.strip()
    # The firewall's copy of the set catches up within its refresh; then the authorizer
    # answers (the key names no workflow of its own).
    wait_until(lambda: answer(value) == "key_not_bound", timeout=DEADLINE_SECONDS, what="admission")
    revoked = main(["keys", "revoke", "extra-sns", "--info-file", str(info)])
    # The revoked value stays in the set (there is room): the authorizer refuses it by name.
    wait_until(lambda: answer(value) == "revoked_api_key", timeout=DEADLINE_SECONDS, what="refusal")

    assert (created, revoked) == (0, 0)
    assert "admits 2 valid webhook key value(s) and 1 revoked or expired" in capsys.readouterr().err
