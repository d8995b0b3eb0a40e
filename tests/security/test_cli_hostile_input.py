"""Hostile input for every ``snsflow`` command: whatever it is given, a command exits 0 (the input
was fine), 1 (it failed) or 2 (usage), says why in one line on stderr, and never prints a
traceback — nor the last-resort "unexpected error" line of ``snsflow.cli.main``, which would
mean a failure with no message of its own: a bug this suite is here to find.

Every command found by walking ``build_parser()`` must be registered in ``COMMANDS`` with how its
hostile command lines are drawn (a test fails otherwise, so a new command joins on day one).
Values: extreme times and durations, empty and 100,000-character strings, bytes that are not
UTF-8 (as Python hands them over: escaped), control characters, paths that are missing, are
folders, hold garbage or cannot be opened, URLs to a closed loopback port and to a loopback
server that answers garbage, HTML, errors, broken HTTP, too much or too slowly.

"One line": argparse's own two-part usage output is replaced by one line in the CLI, so the
rule is the same for every failure: stderr ends with exactly one line that starts with
``snsflow`` and names the command. Lines before it are progress a command printed before it
failed (``subscribe`` says what it is about to create). ``verify`` reports an invalid message
on stdout (``invalid: <code>: <reason>``, docs/verification.md), so for it that line counts.

Nothing leaves the machine: no AWS credentials or region, botocore's endpoint and every
connection are kept on loopback (a connection elsewhere fails the case), and each case has a
deadline so that nothing can serve or wait forever. Case counts: ``tests/security/budget.py``.
"""

from __future__ import annotations

import argparse
import functools
import io
import ipaddress
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from botocore.config import Config
from hypothesis import given
from hypothesis import strategies as st

from snsflow import aws
from snsflow.actions import ExecutionHistory, RerunResult
from snsflow.cli import arguments, executions
from snsflow.cli.main import UNEXPECTED, build_parser, commands, main
from snsflow.delivery_reads import DeliveryPage
from snsflow.local.stack import LocalStack
from snsflow.query import ExecutionDetail, ExecutionPage, WorkflowList, WorkflowView
from snsflow.store.tables import ALL_TABLES
from tests.security.budget import cases

#: A case that takes longer than this is a hang (the slowest legitimate ones take a second).
CASE_DEADLINE_SECONDS = 20
#: How long the commands wait for the API here (``SNSFLOW_API_TIMEOUT_SECONDS``): the slow
#: answers below take longer.
API_TIMEOUT_SECONDS = 0.1
READ_KEY = "snsf_" + "r" * 43
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:orders"

Strategy = st.SearchStrategy[list[str]]


# -- the outcome of one command line --------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    argv: list[str]
    code: int | str | None
    out: str
    err: str


def run_cli(argv: list[str]) -> Outcome:
    """``main(argv)`` in-process, with stdout and stderr as a UTF-8 terminal has them (stdout
    refuses what UTF-8 cannot hold; stderr escapes it, as Python's own stderr does)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    with _deadline(CASE_DEADLINE_SECONDS), redirect_stdout(out), redirect_stderr(err):
        try:
            code: int | str | None = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return Outcome(argv, code, _text(out), _text(err))


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8")


class CaseTimeout(BaseException):
    """Not an Exception: the CLI's last-resort guard must not catch it."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise CaseTimeout(f"the command was still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_clean_failure(outcome: Outcome) -> None:
    """The contract: exit 0, 1 or 2; a failure ends with one line naming the command; never a
    traceback, never the last-resort line."""
    shown = (
        f"argv={outcome.argv!r:.500}\nstdout={outcome.out!r:.2000}\nstderr={outcome.err!r:.2000}"
    )
    assert "Traceback" not in outcome.out + outcome.err, shown
    assert UNEXPECTED not in outcome.err, shown
    assert outcome.code in (0, 1, 2), shown
    if outcome.code == 0:
        return
    lines = outcome.err.splitlines()
    if outcome.argv[:1] == ["verify"] and outcome.code == 1 and not lines:
        assert outcome.out.startswith("invalid: "), shown  # verify's verdict is its output
        assert outcome.out.count("\n") == 1, shown
        return
    assert outcome.err.endswith("\n"), shown
    assert lines, shown
    assert lines[-1].startswith("snsflow"), shown
    assert len(lines[-1]) > len("snsflow: "), shown
    assert [line for line in lines if line.startswith("snsflow")] == lines[-1:], shown


# -- the world the commands see -------------------------------------------------------------------


@dataclass
class Answer:
    """What the loopback API answers to every request, until told otherwise."""

    status: int = 500
    body: bytes = b"<html><body>Internal Server Error</body></html>"
    content_type: str = "text/html"
    #: ``slow``: answer after the client gave up; ``broken``: an invalid status line;
    #: ``close``: hang up without answering; ``short``: promise more bytes than sent.
    misbehaviour: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: When set, the body by route instead: ``workflows``, ``workflow``, ``executions``,
    #: ``execution``, ``history``, ``rerun``, ``deliveries`` (the shapes of the API).
    by_route: dict[str, bytes] | None = None

    def body_for(self, path: str) -> bytes:
        if self.by_route is None:
            return self.body
        route = path.split("?")[0].rstrip("/").split("/")
        if route[-1] in ("history", "rerun", "deliveries"):
            return self.by_route[route[-1]]
        if route[-1] == "executions":
            return self.by_route["executions"]
        if "executions" in route:
            return self.by_route["execution"]
        return self.by_route["workflow" if route[-2:-1] == ["workflows"] else "workflows"]


class _AnsweringHandler(BaseHTTPRequestHandler):
    server: _ApiServer

    def do_GET(self) -> None:
        answer = self.server.answer
        if answer.misbehaviour == "slow":
            time.sleep(API_TIMEOUT_SECONDS * 3)
        if answer.misbehaviour == "close":
            self.close_connection = True
            return
        if answer.misbehaviour == "broken":
            self.wfile.write(b"HTTP/1.1 OK maybe\r\n\r\n")
            return
        body = answer.body_for(self.path)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        length = len(body) + (1000 if answer.misbehaviour == "short" else 0)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (too large, too slow): nothing to tell it
            self.close_connection = True

    def do_POST(self) -> None:  # what botocore sends (DynamoDB, SNS, CloudFormation)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def log_message(self, *_args: Any) -> None:
        pass


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    answer = Answer()


class World:
    """Paths and URLs the strategies draw from; built once per test module. Not a dataclass:
    hypothesis prints every argument of a failing case, and this one would fill a page."""

    def __init__(
        self, api_url: str, closed_url: str, paths: dict[str, str], server: _ApiServer
    ) -> None:
        self.api_url = api_url
        self.closed_url = closed_url
        self.paths = paths
        self.server = server
        self.command_lines = command_lines(self)
        self.info_files = st.one_of(
            st.binary(max_size=300), _info_documents(self).map(lambda d: json.dumps(d).encode())
        )

    def __repr__(self) -> str:
        return f"World({self.api_url})"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _files(root: Path, api_url: str, closed_url: str) -> dict[str, str]:
    garbage = root / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 8)
    (root / "empty.json").write_bytes(b"")
    (root / "array.json").write_text("[1, 2, 3]")
    (root / "deep.json").write_text("[" * 100_000)
    (root / "huge.json").write_bytes(b" " * (2 * 1024 * 1024))
    (root / "a-folder").mkdir()
    loop = root / "loop.json"
    loop.symlink_to(loop)
    undecodable = root / os.fsdecode(b"caf\xe9.json")
    undecodable.write_bytes(b"\xff\xfe not json")
    sns_message = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC_ARN,
        "Message": "hello\u2028\u001b[31m",
        "Timestamp": "2026-03-01T10:00:00.000Z",
        "SignatureVersion": "2",
        "Signature": "bm90IGEgc2lnbmF0dXJl",
        "SigningCertURL": f"{closed_url}/SimpleNotificationService-0.pem",
    }
    (root / "sns-message.json").write_text(json.dumps(sns_message))
    (root / "sns-lambda-record.json").write_text(
        json.dumps(sns_message | {"SigningCertUrl": sns_message["SigningCertURL"]})
    )
    info = {"apiUrl": api_url, "keys": {"local-read": READ_KEY}, "readKeyName": "local-read"}
    tables = {schema.logical_name: f"snsflow-local-{schema.logical_name}" for schema in ALL_TABLES}
    documents = {
        "info.json": info,
        "info-closed.json": info | {"apiUrl": closed_url},
        "info-bad-url.json": info | {"apiUrl": "ftp://example.com"},
        "info-control-url.json": info | {"apiUrl": "http://127.0.0.1:1/\u0000\n"},
        "info-bad-key.json": info | {"keys": {"local-read": "snsf_\n\u00e9"}},
        "info-no-key.json": {"apiUrl": api_url},
        "info-wrong-types.json": {"apiUrl": 5, "keys": [], "workflows": "x"},
        # What `recover` reads: the local stack's AWS endpoint (garbage, or nothing) and tables.
        "info-aws.json": info | {"awsEndpoint": api_url, "region": "us-east-1", "tables": tables},
        "info-aws-closed.json": info
        | {"awsEndpoint": closed_url, "region": "us-east-1", "tables": tables},
        "info-workflow.json": info
        | {
            "snsEndpoint": closed_url,
            "workflows": {"order-events": {"webhookUrl": closed_url, "apiKeyName": "local-read"}},
        },
    }
    for name, document in documents.items():
        (root / name).write_text(json.dumps(document))
    workflows_garbage = root / "workflows-garbage"
    workflows_garbage.mkdir()
    (workflows_garbage / "bad.json").write_bytes(b"\x00{not json")
    workflows_wrong = root / "workflows-wrong"
    workflows_wrong.mkdir()
    (workflows_wrong / "w.json").write_text(json.dumps({"id": "UPPER", "trigger": 5}))
    (root / "workflows-empty").mkdir()
    paths = {
        "missing": root / "missing.json",
        "folder": root / "a-folder",
        "garbage": garbage,
        "empty": root / "empty.json",
        "array": root / "array.json",
        "deep": root / "deep.json",
        "huge": root / "huge.json",
        "under-a-file": garbage / "x.json",
        "loop": loop,
        "undecodable": undecodable,
        "workflows-garbage": workflows_garbage,
        "workflows-wrong": workflows_wrong,
        "workflows-empty": root / "workflows-empty",
        "info-in-missing-folder": root / "no-such-folder" / "local.json",
        "sns-message": root / "sns-message.json",
        "sns-lambda-record": root / "sns-lambda-record.json",
        **{name: root / name for name in documents},
    }
    return {name: str(path) for name, path in paths.items()}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = _ApiServer(("127.0.0.1", 0), _AnsweringHandler)
    thread = threading.Thread(target=server.serve_forever, name="hostile-api", daemon=True)
    thread.start()
    api_url = f"http://127.0.0.1:{server.server_address[1]}"
    closed_url = f"http://127.0.0.1:{_closed_port()}"
    root = tmp_path_factory.mktemp("cli-hostile")
    yield World(api_url, closed_url, _files(root, api_url, closed_url), server)
    server.shutdown()
    server.server_close()


_SHARED_LOADER = functools.cache(botocore.loaders.create_loader)


@dataclass
class Violations:
    """Connections the commands tried to make off loopback."""

    attempts: list[str] = field(default_factory=list)


def _is_loopback(host: object) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, world: World) -> Iterator[Violations]:
    """No AWS account, no network: credentials and region absent, botocore's endpoint on a closed
    loopback port, one attempt per call, and every connection off loopback refused and noted."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "SNSFLOW_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", world.closed_url)
    monkeypatch.setenv("SNSFLOW_API_TIMEOUT_SECONDS", str(API_TIMEOUT_SECONDS))
    monkeypatch.setattr(
        aws,
        "CLIENT_CONFIG",
        aws.CLIENT_CONFIG.merge(
            Config(
                connect_timeout=1, read_timeout=1, retries={"mode": "standard", "max_attempts": 1}
            )
        ),
    )
    # Each case builds fresh AWS clients, as a new process would; botocore's data files (the
    # service models, endpoints) are the same for all, so they are read once, not per case.
    monkeypatch.setattr(botocore.session, "create_loader", _SHARED_LOADER)
    violations = Violations()
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            violations.attempts.append(f"connect {address!r}")
            raise ConnectionRefusedError(f"test: {address!r} is off loopback")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            violations.attempts.append(f"resolve {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"test: {host!r} is off loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def never_start(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the local stack was started: the case should have been refused")

    monkeypatch.setattr(LocalStack, "_start", never_start)
    aws.configure()
    yield violations
    aws.configure()


def run_offline(argv: list[str], violations: Violations) -> Outcome:
    # Hypothesis runs many cases in one fixture: each case starts with none noted.
    violations.attempts.clear()
    outcome = run_cli(argv)
    aws.configure()  # a command points the client factory elsewhere; the next case starts clean
    assert violations.attempts == [], f"{argv!r:.500}: {violations.attempts}"
    return outcome


# -- hostile values -------------------------------------------------------------------------------

#: Any text a command line or a variable can hold: no NUL, and no lone surrogates but those
#: that stand for undecodable bytes (below).
_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
#: Bytes that are not UTF-8, as Python passes them on in ``sys.argv``.
_UNDECODABLE = st.binary(min_size=1, max_size=20).map(
    lambda b: os.fsdecode(b"\xff" + b.replace(b"\x00", b""))  # argv never holds a NUL
)
_HUGE = st.sampled_from(["x" * 100_000, "é" * 50_000, "\n" * 1000, "9" * 5000])
_SPECIAL = st.sampled_from(
    ["", " ", "-", "--", "-1", "0", "1", "nan", "inf", "-inf", "1e400", "\x1b[31mred", "a\nb"]
)
_TIMES = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T23:59:59.999999+00:00",
            "2026-02-30",
            "2026-03-01T24:00:00",
            "2026-03-01T10:00:00+24:00",
            "99999999d",
            "36500d",
            "36501d",
            "0d",
            "-1h",
            "1.5h",
            "9" * 400 + "s",
        ]
    ),
    st.tuples(st.datetimes(), st.integers(min_value=-24 * 60 + 1, max_value=24 * 60 - 1)).map(
        lambda parts: parts[0].replace(tzinfo=timezone(timedelta(minutes=parts[1]))).isoformat()
    ),
    st.integers(min_value=0, max_value=10**30).map(lambda n: f"{n}d"),
)


def _good_urls(world: World) -> st.SearchStrategy[str]:
    """URLs a command can use, to a server that answers garbage or to nothing at all."""
    return st.sampled_from(
        [
            world.api_url,
            world.api_url + "/stage/",
            world.closed_url,
            world.closed_url.replace("127.0.0.1", "localhost") + "/webhooks/order-events",
            world.api_url.replace("http:", "https:"),  # TLS to a plain-HTTP server
        ]
    )


def _urls(world: World) -> st.SearchStrategy[str]:
    return st.one_of(
        _good_urls(world),
        st.sampled_from(
            [
                "http://[::1",
                "http://127.0.0.1:99999",
                "http://127.0.0.1:port",
                "ftp://127.0.0.1/x",
                "http://",
                "127.0.0.1:8000",
                "http://exa mple.com",
                "http://ex\u00e4mple.com",
                "http://127.0.0.1:1/\x1b[2J",
                "https://203.0.113.9/?x-api-key=snsf_x#frag",
            ]
        ),
    )


def _paths(world: World) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(world.paths.values()))


def hostile_text(world: World) -> st.SearchStrategy[str]:
    return st.one_of(_TEXT, _UNDECODABLE, _HUGE, _SPECIAL, _TIMES, _urls(world), _paths(world))


def _plausible(world: World, action: argparse.Action) -> st.SearchStrategy[str]:
    """A value of the kind the argument expects (often itself a troublesome one: a file that
    holds garbage, a URL nothing answers), so that cases get past the parser."""
    if action.choices is not None:
        return st.sampled_from([str(choice) for choice in action.choices])
    if action.dest == "message":
        return st.sampled_from([world.paths["sns-message"], world.paths["sns-lambda-record"]])
    if action.type is Path:
        return _paths(world)
    if action.dest.endswith("url"):
        return _good_urls(world)
    if action.type in (executions.parse_moment, arguments.instant, arguments.duration):
        return _TIMES
    if action.type in (arguments.positive_int, arguments.positive_float):
        return st.sampled_from(["1", "2", "25", "1000", "0.5"])
    return st.sampled_from(_PLAUSIBLE.get(action.dest, ["order-events"]))


_PLAUSIBLE = {
    "api_key": [READ_KEY, "snsf_short"],
    "webhook_key": [READ_KEY, "not-a-key"],
    "region": ["us-east-1", "eu-west-1", "mars-north-9"],
    "table": ["snsflow-keys"],
    "stack": ["snsflow"],
    "key_prefix_set": [
        "arn:aws:wafv2:us-east-1:123456789012:regional/regexpatternset/k/8a3e7c52-1b3c",
        "arn:aws:wafv2:::regional/ipset/k/1",
    ],
    "topic_arn": [TOPIC_ARN, TOPIC_ARN + ".fifo", "arn:aws:sns:::"],
    "dead_letter_queue": [
        "arn:aws:sqs:us-east-1:123456789012:dlq",
        "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        "arn:aws:sqs:::",
    ],
    "dlq": ["https://sqs.us-east-1.amazonaws.com/123456789012/dlq", "arn:aws:sqs:::"],
    "operator": ["ops@example.com", "snsf_not-a-name"],
    "workflow_id": ["order-events", "Order Events"],
    "topic": [TOPIC_ARN, TOPIC_ARN + ".fifo", "arn:aws:sns:::"],
    "subject": ["Order A-1", "a\nb", "x" * 100],
    "attribute": ["tenant=acme", "AWS.x=1", "novalue="],
    "execution_id": ["order-events.m-1", "order-events.nope"],
    "name": ["prod-sns", "reader"],
    "status": ["FAILED", "RUNNING,SUCCEEDED", "BOGUS"],
    "next_token": ["eyJ0b2tlbiI6IDF9", "garbage"],
    "interval": ["0", "0.01"],
    "max_age": ["60", "1e9"],
    "host": ["127.0.0.1", "::1", "localhost"],
    "port": ["0", "1", "65535"],
    "sns_port": ["0"],
    "account_id": ["000000000000"],
    "trust_cert_url_prefix": ["http://127.0.0.1:1/", "https://example.com/"],
}


def _option_words(flag: str, value: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.one_of(
        value.map(lambda text: [flag, text]), value.map(lambda text: [f"{flag}={text}"])
    )


@dataclass(frozen=True)
class _Slot:
    """One positional or option of a command: its words when plausible, and when hostile."""

    plausible: st.SearchStrategy[list[str]]
    hostile: st.SearchStrategy[list[str]]


def _slot(world: World, action: argparse.Action) -> _Slot:
    hostile = hostile_text(world)
    if not action.option_strings:
        return _Slot(_plausible(world, action).map(lambda v: [v]), hostile.map(lambda v: [v]))
    if action.nargs == 0:  # --json, --wait / --no-wait: nothing to spoil but the repetition
        flags = st.sampled_from([[option] for option in action.option_strings])
        return _Slot(flags, flags.map(lambda words: words * 2))
    flag = action.option_strings[-1]
    return _Slot(_option_words(flag, _plausible(world, action)), _option_words(flag, hostile))


def derived(world: World, command: argparse.ArgumentParser, words: list[str]) -> Strategy:
    """Every positional and some of the options the parser declares, in any order: mostly with
    plausible values and one or two hostile ones, so that each check of the command is reached
    with trouble in every place; now and then a positional too few or a word too many."""
    actions = [a for a in command._actions if not isinstance(a, argparse._HelpAction)]
    positionals = [_slot(world, a) for a in actions if not a.option_strings]
    optionals = [_slot(world, a) for a in actions if a.option_strings]
    extra = hostile_text(world)

    @st.composite
    def command_line(draw: st.DrawFn) -> list[str]:
        chosen = positionals + (
            draw(st.lists(st.sampled_from(optionals), max_size=4)) if optionals else []
        )
        spoiled = draw(st.sets(st.integers(0, len(chosen) - 1), max_size=2)) if chosen else set()
        parts = [
            draw(slot.hostile if index in spoiled else slot.plausible)
            for index, slot in enumerate(chosen)
        ]
        if positionals and draw(st.integers(0, 9)) == 0:
            del parts[len(positionals) - 1]
        if draw(st.integers(0, 9)) == 0:
            parts.append([draw(extra)])
        return [*words, *(word for part in parts for word in part)]

    return command_line()


def reaching(
    to: Callable[[World], st.SearchStrategy[list[str]]], what: str
) -> Callable[[World, argparse.ArgumentParser, list[str]], Strategy]:
    """As :func:`derived`, and half the time followed by the options ``to`` draws, which take
    the command as far as ``what`` (and its bad answers)."""

    def strategy(world: World, command: argparse.ArgumentParser, words: list[str]) -> Strategy:
        line = derived(world, command, words)
        return st.one_of(line, st.tuples(line, to(world)).map(lambda p: [*p[0], *p[1]]))

    strategy.__doc__ = f"As derived, and half the time with what reaches {what}."
    return strategy


def _loopback_endpoints(world: World) -> st.SearchStrategy[str]:
    """An AWS endpoint that answers garbage, or nothing at all."""
    return st.sampled_from([world.api_url, world.closed_url])


api_reaching = reaching(
    lambda world: st.just(["--api-url", world.api_url, "--api-key", READ_KEY]), "the read API"
)
keys_reaching = reaching(
    lambda world: _loopback_endpoints(world).map(
        lambda url: ["--table", "snsflow-keys", "--region", "us-east-1", "--endpoint-url", url]
    ),
    "DynamoDB",
)
sns_reaching = reaching(
    lambda world: _loopback_endpoints(world).map(
        lambda url: [
            "--webhook-url",
            f"{world.closed_url}/webhooks/order-events",
            "--webhook-key",
            READ_KEY,
            "--endpoint-url",
            url,
        ]
    ),
    "SNS",
)


publish_reaching = reaching(
    lambda world: _loopback_endpoints(world).map(
        lambda url: ["--api-url", world.api_url, "--api-key", READ_KEY, "--endpoint-url", url]
    ),
    "the read API and SNS",
)


recover_reaching = reaching(
    lambda world: st.sampled_from(
        [["--info-file", world.paths[name]] for name in ("info-aws.json", "info-aws-closed.json")]
    ),
    "DynamoDB, STS and SQS",
)


def serve_refusals(world: World, command: argparse.ArgumentParser, words: list[str]) -> Strategy:
    """``local serve`` must refuse before it starts anything: hostile options, plus always one
    of the refusals it must catch (workflows it cannot load, an info file it cannot write)."""
    refusal = st.sampled_from(
        [
            ["--workflows", world.paths[name]]
            for name in (
                "missing",
                "garbage",
                "workflows-garbage",
                "workflows-wrong",
                "workflows-empty",
                "undecodable",
            )
        ]
        + [
            ["--info-file", world.paths[name]]
            for name in ("folder", "info-in-missing-folder", "under-a-file")
        ]
    )
    return st.tuples(derived(world, command, words), refusal).map(
        lambda parts: [*parts[0], *parts[1]]
    )


def demo_refusals(_world: World, _command: argparse.ArgumentParser, words: list[str]) -> Strategy:
    """``demo`` takes nothing: any argument is a usage error (run without any, it is the whole
    end-to-end demo, which ``make demo`` and the e2e tests run)."""
    extra = st.lists(st.one_of(_TEXT, _SPECIAL, _UNDECODABLE), min_size=1, max_size=3)
    return extra.map(lambda more: [*words, *more])


StrategyFor = Callable[[World, argparse.ArgumentParser, list[str]], Strategy]

#: Every command of ``snsflow`` and how its hostile command lines are drawn.
COMMANDS: dict[str, StrategyFor] = {
    "snsflow verify": derived,
    "snsflow keys create": keys_reaching,
    "snsflow keys list": keys_reaching,
    "snsflow keys revoke": keys_reaching,
    "snsflow keys rotate": keys_reaching,
    "snsflow keys sync-firewall": keys_reaching,
    "snsflow workflows list": api_reaching,
    "snsflow workflows show": api_reaching,
    "snsflow subscribe": sns_reaching,
    "snsflow publish": publish_reaching,
    "snsflow executions list": api_reaching,
    "snsflow executions show": api_reaching,
    "snsflow executions watch": api_reaching,
    "snsflow executions history": api_reaching,
    "snsflow executions redrive": api_reaching,
    "snsflow executions rerun": api_reaching,
    "snsflow deliveries": api_reaching,
    "snsflow recover": recover_reaching,
    "snsflow local serve": serve_refusals,
    "snsflow demo": demo_refusals,
}


def _every_command() -> dict[str, argparse.ArgumentParser]:
    return {command.prog: command for command in commands(build_parser())}


def _prog(words: list[str]) -> str:
    """The command ``words`` start with: ``snsflow executions list`` for ``executions list W``."""
    progs = _every_command()
    return max(
        (prog for prog in progs if f"snsflow {' '.join(words)} ".startswith(prog + " ")), key=len
    )


def test_every_command_has_a_hostile_input_strategy() -> None:
    assert sorted(_every_command()) == sorted(COMMANDS)


def command_lines(world: World) -> st.SearchStrategy[list[str]]:
    """Any command, with its hostile command line."""
    parsers = _every_command()
    return st.one_of(
        *(
            strategy(world, parsers[prog], prog.split()[1:])
            for prog, strategy in sorted(COMMANDS.items())
        )
    )


@cases("cli_arguments")
@given(data=st.data())
def test_any_command_line_fails_cleanly(
    data: st.DataObject, world: World, offline: Violations
) -> None:
    argv = data.draw(world.command_lines, label="argv")
    world.server.answer = Answer()  # what a broken gateway answers

    assert_clean_failure(run_offline(argv, offline))


# -- the command lines reported in issue 12, as given ----------------------------------------------
# (`keys rotate NAME --grace 0`: tests/integration/authorizer/test_authorizer.py and
# tests/unit/keys/test_cli.py show the old value refused within the bound the command states.)


@pytest.mark.parametrize(
    ("since", "reason"),
    [
        (
            "0001-01-01T00:00:00+14:00",
            "is out of range: in UTC it falls outside the years 0001 to 9999",
        ),
        ("99999999d", "is too long: a duration is at most 36500d (a century)"),
    ],
)
def test_a_since_that_overflows_is_a_usage_error(
    since: str, reason: str, offline: Violations
) -> None:
    outcome = run_offline(["executions", "list", "W", "--since", since], offline)

    assert_clean_failure(outcome)
    assert outcome.code == 2
    assert outcome.err == (
        f"snsflow executions list: error: argument --since: '{since}' {reason} "
        "(see 'snsflow executions list --help')\n"
    )


def test_an_empty_key_name_is_refused_like_any_invalid_name(
    offline: Violations, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNSFLOW_KEYS_TABLE_NAME", "snsflow-keys")
    monkeypatch.setenv("AWS_REGION", "us-east-1")

    empty = run_offline(["keys", "create", "", "--scope", "read"], offline)
    spaced = run_offline(["keys", "create", "a b", "--scope", "read"], offline)

    assert_clean_failure(empty)
    assert (empty.code, spaced.code) == (2, 2)
    assert "key name '' is not valid: use 1-64 letters, digits" in empty.err
    assert empty.err.replace("''", "'a b'") == spaced.err


# -- what the API answers -------------------------------------------------------------------------

_TIME = "2026-03-01T10:00:00.000Z"
_WORKFLOW: dict[str, Any] = {
    "id": "order-events",
    "name": "Order events",
    "webhookUrl": "https://api.example.com/webhooks/order-events",
    "apiKeyName": "prod-sns",
    "allowedTopicArns": [TOPIC_ARN],
    "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:order-events",
    "stateMachineType": "STANDARD",
    "subscriptions": [
        {
            "topicArn": TOPIC_ARN,
            "status": "confirmed",
            "statusSince": _TIME,
            "updatedAt": _TIME,
            "lastError": "x",
        }
    ],
    "counts": {"FAILED": 1, "SUCCEEDED": 2},
    "countsSince": _TIME,
}
_EXECUTION: dict[str, Any] = {
    "executionId": "order-events.m-1",
    "workflowId": "order-events",
    "messageId": "m-1",
    "status": "RUNNING",
    "topicArn": TOPIC_ARN,
    "subject": "Order A-1",
    "receivedAt": _TIME,
    "startedAt": _TIME,
    "stoppedAt": None,
    "deliveries": 1,
    "executionArn": "arn:aws:states:us-east-1:123456789012:execution:order-events:m-1",
}
_DETAIL: dict[str, Any] = _EXECUTION | {
    "executionName": "m-1",
    "input": {"message": {"orderId": "A-1"}},
    "output": "done",
    "error": "States.TaskFailed",
    "cause": '{"errorMessage": "boom"}',
    "lastStartError": None,
    "snsMessage": {"Type": "Notification", "Message": "hi"},
    "consoleUrl": "https://console.aws.amazon.com/states/",
    "expiresAt": _TIME,
}
_STATE: dict[str, Any] = {
    "name": "Charge",
    "type": "Task",
    "enteredAt": _TIME,
    "exitedAt": _TIME,
    "durationMs": 12,
    "status": "FAILED",
    "input": {"orderId": "A-1"},
    "inputTruncated": False,
    "output": None,
    "outputTruncated": False,
    "error": "States.TaskFailed",
    "cause": "boom",
}
#: The API's shapes, filled in: a command given these succeeds.
DOCUMENTS: dict[str, dict[str, Any]] = {
    "workflows": {"items": [_WORKFLOW]},
    "workflow": _WORKFLOW,
    "executions": {"items": [_EXECUTION], "nextToken": None},
    "execution": _DETAIL,
    "history": {
        "executionId": "order-events.m-1",
        "states": [_STATE],
        "failedState": "Charge",
        "nextToken": None,
    },
    "rerun": {
        "execution": _DETAIL
        | {"executionId": "order-events.m-1.r1", "rerunOf": "order-events.m-1"},
        "rerunOf": "order-events.m-1",
    },
    "deliveries": {
        "items": [
            {
                "at": _TIME,
                "outcome": "refused",
                "code": "revoked_api_key",
                "topicArn": TOPIC_ARN,
                "messageId": "m-1",
                "requestId": "r-1",
                "executionId": None,
                "keyName": "prod-sns",
                "count": 3,
                "sampled": True,
                "lastAt": _TIME,
                "samples": [{"at": _TIME, "requestId": "r-1", "keyName": "prod-sns"}],
            }
        ],
        "nextToken": None,
    },
}


def test_the_documents_are_the_api_s_shapes() -> None:
    for model, name in (
        (WorkflowList, "workflows"),
        (WorkflowView, "workflow"),
        (ExecutionPage, "executions"),
        (ExecutionDetail, "execution"),
        (ExecutionHistory, "history"),
        (RerunResult, "rerun"),
        (DeliveryPage, "deliveries"),
    ):
        model.model_validate(DOCUMENTS[name])


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_HOSTILE_JSON = st.one_of(
    _JSON_VALUES,
    _TIMES,
    _SPECIAL,
    _HUGE,
    st.sampled_from(["\ud800", "\x1b]0;pwned\x07", "-1", "FAILED", "snsf_" + "x" * 43]),
    st.integers(min_value=-(10**30), max_value=10**30),
)


#: Where the documents hold times: the values a command computes with, not only prints.
_TIME_FIELDS = [
    ("workflows", ("items", 0, "countsSince")),
    ("workflow", ("countsSince",)),
    ("workflow", ("subscriptions", 0, "statusSince")),
    ("workflow", ("subscriptions", 0, "updatedAt")),
    ("executions", ("items", 0, "receivedAt")),
    ("executions", ("items", 0, "startedAt")),
    ("executions", ("items", 0, "stoppedAt")),
    ("execution", ("receivedAt",)),
    ("execution", ("startedAt",)),
    ("execution", ("stoppedAt",)),
    ("execution", ("expiresAt",)),
    ("history", ("states", 0, "enteredAt")),
    ("history", ("states", 0, "exitedAt")),
    ("rerun", ("execution", "receivedAt")),
    ("deliveries", ("items", 0, "at")),
    ("deliveries", ("items", 0, "lastAt")),
]


#: The times at the edges of what datetime holds, where arithmetic and time zones overflow.
_EXTREME_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:10Z",
        "0001-01-01T00:00:00-00:01",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:50Z",
        "9999-12-31T23:59:59.999999+00:01",
    ]
)


@st.composite
def spoiled_documents(draw: st.DrawFn) -> dict[str, bytes]:
    """The read API's documents with every time replaced by one time (often at the edge of
    what datetime holds), or one value anywhere replaced by anything or taken out; a page may
    carry a ``nextToken`` that never ends."""
    documents = json.loads(json.dumps(DOCUMENTS))
    if draw(st.booleans()):
        moment = draw(st.one_of(_EXTREME_TIMES, _TIMES))
        for name, path in _TIME_FIELDS:
            target: Any = documents[name]
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = moment
    else:
        target = documents[draw(st.sampled_from(sorted(documents)))]
        while True:
            keys = list(target) if isinstance(target, dict) else list(range(len(target)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if isinstance(target[key], (dict, list)) and target[key] and draw(st.booleans()):
                target = target[key]
                continue
            if draw(st.integers(0, 9)) > 0:
                target[key] = draw(_HOSTILE_JSON)
            elif isinstance(target, dict):
                del target[key]
            break
    token = draw(st.sampled_from([None, "again", ""]))
    documents["executions"]["nextToken"] = token
    documents["history"]["nextToken"] = token
    documents["deliveries"]["nextToken"] = token
    if token is not None and draw(st.booleans()):
        documents["executions"]["items"] = []  # pages of nothing, without end
        documents["deliveries"]["items"] = []
    return {name: json.dumps(doc).encode() for name, doc in documents.items()}


_STATUSES = st.sampled_from([200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 413, 429, 500, 502])


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    """Anything the API could answer."""
    kind = draw(st.sampled_from(["documents", "documents", "error", "garbage", "misbehaving"]))
    if kind == "documents":
        return Answer(200, b"", "application/json", by_route=draw(spoiled_documents()))
    if kind == "error":
        error = draw(
            st.one_of(
                st.fixed_dictionaries({"code": _HOSTILE_JSON, "message": _HOSTILE_JSON}),
                _HOSTILE_JSON,
            )
        )
        body = json.dumps({"error": error}).encode()
        headers = draw(st.sampled_from([{}, {"Location": "https://elsewhere.example/"}]))
        return Answer(draw(_STATUSES), body, "application/json", headers=headers)
    if kind == "garbage":
        body = draw(
            st.one_of(
                st.binary(max_size=200),
                st.sampled_from(
                    [
                        b"<html><body>502 Bad Gateway</body></html>",
                        b"[" * 100_000,
                        b'{"items": [' + b"1," * 10_000 + b"1]}",
                        b"[1, 2]",
                        b"null",
                        b" " * (8 * 1024 * 1024 + 1),
                    ]
                ),
            )
        )
        return Answer(draw(_STATUSES), body, draw(st.sampled_from(["text/html", "text/plain"])))
    return Answer(misbehaviour=draw(st.sampled_from(["slow", "broken", "close", "short"])))


#: The commands that read the API, stopped after two polls for ``watch``.
_API_COMMANDS = [
    ["workflows", "list"],
    ["workflows", "show", "order-events"],
    ["executions", "list", "order-events"],
    ["executions", "show", "order-events.m-1"],
    ["executions", "watch", "order-events", "--interval", "0", "--max-polls", "2"],
    ["executions", "history", "order-events.m-1"],
    ["executions", "redrive", "order-events.m-1"],
    ["executions", "rerun", "order-events.m-1"],
    ["executions", "rerun", "--workflow", "order-events", "--yes"],
    ["publish", "order-events", "--timeout", "0.5"],
    ["deliveries", "order-events"],
    ["deliveries", "order-events", "--follow", "--interval", "0", "--max-polls", "2"],
]


def test_every_api_command_is_fed_the_api_s_answers() -> None:
    api_commands = {
        prog
        for prog, strategy in COMMANDS.items()
        if strategy in (api_reaching, publish_reaching)  # the ones whose arguments name the API
    }
    assert api_commands == {_prog(words) for words in _API_COMMANDS}


@cases("cli_api_answers")
@given(
    command=st.sampled_from(_API_COMMANDS),
    answer=answers(),
    options=st.lists(st.sampled_from([["--json"], ["--limit", "1000"], ["--status", "FAILED"]])),
)
def test_any_answer_of_the_api_fails_cleanly(
    command: list[str],
    answer: Answer,
    options: list[list[str]],
    world: World,
    offline: Violations,
) -> None:
    parser = _every_command()[_prog(command)]
    known = {flag for action in parser._actions for flag in action.option_strings}
    extra = [word for option in options if option[0] in known for word in option]
    if command[0] == "publish":  # its SNS too: the same server, answering as the API does
        extra += ["--endpoint-url", world.api_url]
    world.server.answer = answer

    outcome = run_offline(
        [*command, *extra, "--api-url", world.api_url, "--api-key", READ_KEY], offline
    )

    assert_clean_failure(outcome)


# -- what the info file holds ---------------------------------------------------------------------


def _info_documents(world: World) -> st.SearchStrategy[Any]:
    urls = st.one_of(_urls(world), _HOSTILE_JSON)
    key_names = st.one_of(
        st.just("local-read"), st.just("local-operate"), st.just("prod-sns"), _HOSTILE_JSON
    )
    keys = st.one_of(
        st.dictionaries(
            st.one_of(st.just("local-read"), st.just("local-operate"), st.just("prod-sns"), _TEXT),
            st.one_of(st.just(READ_KEY), _HOSTILE_JSON),
            max_size=3,
        ),
        _HOSTILE_JSON,
    )
    workflow = st.fixed_dictionaries({}, optional={"webhookUrl": urls, "apiKeyName": key_names})
    workflows = st.one_of(
        st.dictionaries(st.sampled_from(["order-events", "", "x\n"]), workflow, max_size=2),
        _HOSTILE_JSON,
    )
    return st.one_of(
        st.fixed_dictionaries(
            {"apiUrl": urls},
            optional={
                "keys": keys,
                "readKeyName": key_names,
                "operateKeyName": key_names,
                "snsEndpoint": urls,
                "awsEndpoint": urls,
                "region": st.one_of(st.sampled_from(["us-east-1", "moon-1"]), _HOSTILE_JSON),
                "workflows": workflows,
                # What `keys` reads: the keys table and the firewall's key-prefix set.
                "tables": st.one_of(
                    st.fixed_dictionaries({}, optional={"Keys": st.one_of(_TEXT, _HOSTILE_JSON)}),
                    _HOSTILE_JSON,
                ),
                "keyPrefixSetArn": st.one_of(
                    st.sampled_from(_PLAUSIBLE["key_prefix_set"]), _TEXT, _HOSTILE_JSON
                ),
            },
        ),
        _HOSTILE_JSON,
    )


#: The commands that read the info file.
_INFO_FILE_COMMANDS = [
    ["workflows", "list"],
    ["workflows", "show", "order-events"],
    ["executions", "list", "order-events"],
    ["executions", "redrive", "order-events.m-1"],
    ["executions", "rerun", "--workflow", "order-events", "--yes"],
    ["subscribe", "order-events", TOPIC_ARN, "--no-wait"],
    ["recover", "order-events", "--dlq", "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"],
    ["keys", "list"],
    ["keys", "create", "extra-sns"],
    ["keys", "revoke", "extra-sns"],
    ["keys", "rotate", "extra-sns", "--grace", "0"],
    ["keys", "sync-firewall"],
    ["publish", "order-events", "--timeout", "0.5"],
    ["deliveries", "order-events"],
    ["deliveries", "order-events", "--follow", "--interval", "0", "--max-polls", "2"],
]


def test_every_command_that_reads_the_info_file_is_fed_hostile_ones() -> None:
    reading = {
        prog
        for prog, command in _every_command().items()
        if any(action.dest == "info_file" for action in command._actions)
    }
    fed = {_prog(words) for words in _INFO_FILE_COMMANDS}
    # `executions show|watch|history` read it as `executions list` does
    # (stack.read_api; redrive and rerun read its operate key instead); `local serve` writes it
    # (its refusals are in test_any_command_line_fails_cleanly).
    assert reading - fed == {
        "snsflow executions show",
        "snsflow executions watch",
        "snsflow executions history",
        "snsflow local serve",
    }


@cases("cli_info_files")
@given(command=st.sampled_from(_INFO_FILE_COMMANDS), data=st.data())
def test_any_info_file_fails_cleanly(
    command: list[str], data: st.DataObject, world: World, offline: Violations, tmp_path: Path
) -> None:
    info_file = tmp_path / "local.json"
    info_file.write_bytes(data.draw(world.info_files, label="info file"))
    world.server.answer = Answer()

    outcome = run_offline([*command, "--info-file", str(info_file)], offline)

    assert_clean_failure(outcome)


# -- what the environment holds -------------------------------------------------------------------

#: The variables the commands read, with values a shell could hold (no NUL; bytes that are not
#: UTF-8 arrive escaped, as in argv).
_VARIABLES = [
    "SNSFLOW_API_URL",
    "SNSFLOW_API_KEY",
    "SNSFLOW_API_TIMEOUT_SECONDS",
    "SNSFLOW_DEBUG",
    "SNSFLOW_KEYS_TABLE_NAME",
    "SNSFLOW_WEBHOOK_KEY",
    "AWS_REGION",
]
_ENVIRONMENT_COMMANDS = [
    ["workflows", "list"],
    ["executions", "list", "order-events", "--since", "2h"],
    ["keys", "list"],
    ["subscribe", "order-events", TOPIC_ARN, "--webhook-url", "http://127.0.0.1:1/w"],
    ["publish", "order-events", "--timeout", "0.5"],
    ["deliveries", "order-events"],
    ["deliveries", "order-events", "--follow", "--interval", "0", "--max-polls", "2"],
]


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@cases("cli_environment")
@given(command=st.sampled_from(_ENVIRONMENT_COMMANDS), data=st.data())
def test_any_environment_fails_cleanly(
    command: list[str], data: st.DataObject, world: World, offline: Violations
) -> None:
    plausible = {
        "SNSFLOW_API_URL": _good_urls(world),
        "SNSFLOW_API_KEY": st.just(READ_KEY),
        "SNSFLOW_API_TIMEOUT_SECONDS": st.sampled_from(["0.1", "0", "-1", "1e9", "nan"]),
        "SNSFLOW_DEBUG": st.sampled_from(["0", "1", "true", "no", ""]),
        "SNSFLOW_KEYS_TABLE_NAME": st.just("snsflow-keys"),
        "SNSFLOW_WEBHOOK_KEY": st.just(READ_KEY),
        "AWS_REGION": st.sampled_from(["us-east-1", "", "moon-1"]),
    }
    hostile = st.one_of(_TEXT, _UNDECODABLE, _SPECIAL, _HUGE)
    values = data.draw(
        st.fixed_dictionaries(
            {}, optional={name: st.one_of(plausible[name], hostile) for name in _VARIABLES}
        ),
        label="environment",
    )
    world.server.answer = Answer()

    with _environment(values):
        outcome = run_offline(command, offline)

    assert_clean_failure(outcome)


# -- what a message to verify holds ---------------------------------------------------------------

_SNS_FIELDS = [
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "SigningCertUrl",
    "SubscribeURL",
    "Token",
    "MessageAttributes",
]


@cases("cli_message_files")
@given(data=st.data(), lambda_event=st.booleans())
def test_any_message_to_verify_gets_one_verdict(
    data: st.DataObject, lambda_event: bool, world: World, offline: Violations, tmp_path: Path
) -> None:
    """Whatever the file holds, ``verify`` says ``valid`` or ``invalid: <code>: <reason>`` on
    one line, or fails cleanly. The certificate is given, so nothing is fetched."""
    document = data.draw(
        st.one_of(
            st.fixed_dictionaries(
                {}, optional={name: st.one_of(_HOSTILE_JSON, _TIMES) for name in _SNS_FIELDS}
            ),
            _HOSTILE_JSON,
        ),
        label="message",
    )
    raw = data.draw(
        st.one_of(st.just(json.dumps(document).encode()), st.binary(max_size=300)), label="bytes"
    )
    message = tmp_path / "message.json"
    message.write_bytes(raw)
    certificate = data.draw(st.sampled_from(["garbage", "empty", "folder", "missing"]))
    argv = ["verify", str(message), "--certificate", world.paths[certificate]]

    outcome = run_offline([*argv, *(["--lambda-event"] if lambda_event else [])], offline)

    assert_clean_failure(outcome)
    if outcome.code in (0, 1) and not outcome.err:
        assert outcome.out.count("\n") == 1
