"""The contract every ``snsflow`` command keeps, enforced in ``snsflow.cli.main``: exit 0, 1, 2
or 130, a failure is one line on stderr, and never a traceback (unless ``SNSFLOW_DEBUG``)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snsflow.cli import verify
from snsflow.cli.main import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UNEXPECTED,
    build_parser,
    chosen_command,
    commands,
    main,
    one_line,
)

PROJECT_ROOT = Path(__file__).parents[2]


def _failing_with(error: BaseException) -> object:
    def handler(_args: argparse.Namespace) -> int:
        raise error

    return handler


def test_an_unexpected_error_is_one_line_naming_it_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(verify, "run", _failing_with(RuntimeError("boom\nsecond line")))

    code = main(["verify", "message.json"])

    out, err = capsys.readouterr()
    assert code == EXIT_FAILED
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"snsflow verify: {UNEXPECTED} (RuntimeError: boom\\nsecond line)")
    assert "SNSFLOW_DEBUG=1" in err


def test_snsflow_debug_lets_the_unexpected_error_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "run", _failing_with(RuntimeError("boom")))
    monkeypatch.setenv("SNSFLOW_DEBUG", "1")

    with pytest.raises(RuntimeError, match="boom"):
        main(["verify", "message.json"])


def test_a_bad_snsflow_debug_is_a_usage_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SNSFLOW_DEBUG", "perhaps")

    code = main(["verify", "message.json"])

    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.count("\n") == 1
    assert err.startswith("snsflow verify: error: SNSFLOW_DEBUG: ")


def test_ctrl_c_exits_130_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(verify, "run", _failing_with(KeyboardInterrupt()))

    code = main(["verify", "message.json"])

    assert code == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "snsflow verify: interrupted\n"


def test_a_usage_error_is_one_line_naming_the_command_and_its_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "rotate", "prod-sns", "--grace", "soon"])

    err = capsys.readouterr().err
    assert exited.value.code == EXIT_USAGE
    assert err == (
        "snsflow keys rotate: error: argument --grace: 'soon' is not a duration like 24h, 90m, "
        "2d or 0 (see 'snsflow keys rotate --help')\n"
    )


def test_a_value_that_is_not_utf8_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    name = b"prod-\xff".decode("utf-8", "surrogateescape")  # as Python passes such bytes on

    with pytest.raises(SystemExit) as exited:
        main(["workflows", "show", name, "--api-url", "http://127.0.0.1:9", "--api-key", "k"])

    err = capsys.readouterr().err
    assert exited.value.code == EXIT_USAGE
    assert err == (
        "snsflow workflows show: error: argument WORKFLOW: 'prod-\\udcff' is not UTF-8 text "
        "(see 'snsflow workflows show --help')\n"
    )


def test_a_file_name_that_is_not_utf8_is_passed_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / b"message-\xff.json".decode("utf-8", "surrogateescape"))

    code = main(["verify", missing])

    assert code == EXIT_USAGE  # verify's own "cannot read": the name reached the file system
    assert "No such file or directory" in capsys.readouterr().err


@pytest.mark.parametrize("lines", [10, 100_000])
def test_a_closed_stdout_ends_the_command_quietly(lines: int) -> None:
    # `snsflow ... | head -1`: the reader goes away before the command has written it all;
    # 10 lines wait in the buffer for the last flush, 100,000 meet the closed pipe on the way.
    program = (
        "import sys\n"
        "from snsflow.cli import verify\n"
        "from snsflow.cli.main import main\n"
        "def run(_args):\n"
        f"    for _ in range({lines}):\n"
        "        print('a line of a long listing')\n"
        "    return 0\n"
        "verify.run = run\n"
        "sys.exit(main(['verify', 'message.json']))\n"
    )
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    process = subprocess.Popen(
        [sys.executable, "-c", program],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env=buffered,
    )
    assert process.stdout is not None
    process.stdout.close()
    _, err = process.communicate(timeout=60)

    assert (process.returncode, err) == (EXIT_FAILED, b"")


def test_control_characters_are_escaped_on_one_line() -> None:
    assert one_line("a\nb\r\x1b[31mc\u2028") == "a\\nb\\r\\x1b[31mc\\u2028"
    assert one_line("Grüße, plain") == "Grüße, plain"


def test_every_command_is_found_and_chosen_by_its_arguments() -> None:
    parser = build_parser()
    progs = {command.prog for command in commands(parser)}

    assert {"snsflow verify", "snsflow keys create", "snsflow local serve"} <= progs
    args = parser.parse_args(["keys", "revoke", "prod-sns"])
    assert chosen_command(parser, args).prog == "snsflow keys revoke"


def test_a_command_started_without_stdout_refuses_to_run() -> None:
    # `snsflow keys create NAME >&-` would create a key whose value nobody ever sees.
    command = [sys.executable, "-m", "snsflow.cli.main", "keys", "create", "prod-sns"]
    process = subprocess.run(
        ["/bin/sh", "-c", 'exec "$@" >&-', "sh", *command],
        stderr=subprocess.PIPE,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )

    assert process.returncode == EXIT_USAGE
    assert process.stderr == b"snsflow keys create: error: stdout is closed: nowhere to print to\n"
